package httpapi

import (
	"net/http"

	"github.com/freezeledger/freezeledger/projections"
)

// settle sets X-Ledger-Position to a write's position pos and waits until the read models have
// applied it (waitFor: unavailable past the wait timeout), so that what the handler reads next for
// its answer shows the write. An empty pos (the write appended nothing) sets no header and does
// not wait.
func (s *Server) settle(w http.ResponseWriter, r *http.Request, pos string) error {
	setPosition(w, pos)
	return s.waitFor(r.Context(), pos)
}

// statusAfter settles a write on customer id at pos and returns the customer's status with it.
func (s *Server) statusAfter(w http.ResponseWriter, r *http.Request, id, pos string) (projections.CustomerStatus, error) {
	if err := s.settle(w, r, pos); err != nil {
		return projections.CustomerStatus{}, err
	}
	return s.reads.Status(id, projections.AsOf{})
}
