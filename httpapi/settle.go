package httpapi

import "net/http"

// settle sets X-Ledger-Position to a write's position pos and waits until the read models have
// applied it (waitFor: unavailable past the wait timeout), so that what the handler reads next for
// its answer shows the write. An empty pos (the write appended nothing) sets no header and does
// not wait.
func (s *Server) settle(w http.ResponseWriter, r *http.Request, pos string) error {
	setPosition(w, pos)
	return s.waitFor(r.Context(), pos)
}
