package httpapi

// The disassociation routes (rule 20): a request by an admin of the customer's partner or by the
// customer, the other side's answer, and the read of the latest request. Refusals of rule 20 are
// 409 conflict naming the cause; a customer the caller cannot see is 404.

import (
	"context"
	"net/http"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections"
)

type disassociationRequest struct {
	Reason string `json:"reason"`
}

func (q disassociationRequest) check() error { return checkReason(q.Reason) }

type disassociationResponse struct {
	Disassociation *projections.DisassociationInfo `json:"disassociation"`
	Customer       *projections.CustomerStatus     `json:"customer,omitempty"`
	Position       string                          `json:"position,omitempty"`
}

// disassociationWrite runs the common steps of a disassociation write: path ID, body, visibility
// (404), the role (403), Meta (with the verification code of a partner admin).
func (s *Server) disassociationWrite(w http.ResponseWriter, r *http.Request, p Principal) (string, disassociationRequest, domain.Meta, error) {
	var m domain.Meta
	id, err := pathID(r, "customer")
	if err != nil {
		return "", disassociationRequest{}, m, err
	}
	req, err := decodeBody[disassociationRequest](w, r)
	if err != nil {
		return "", req, m, err
	}
	if _, err := s.visibleAfterSync(r.Context(), func(ctx context.Context) error {
		_, e := s.visibleCustomer(ctx, p, id, projections.AsOf{})
		return e
	}); err != nil {
		return "", req, m, err
	}
	if err := checkAccess(r, p); err != nil {
		return "", req, m, err
	}
	m, err = meta(r, p)
	return id, req, m, err
}

// POST /v1/customers/{id}/disassociation
func (s *Server) requestDisassociation(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, req, m, err := s.disassociationWrite(w, r, p)
	if err != nil {
		return err
	}
	res, err := s.ledger.RequestDisassociation(r.Context(), domain.RequestDisassociation{Meta: m, CustomerID: id, Reason: req.Reason})
	if err != nil {
		return s.hideCustomer(r.Context(), p, id, err)
	}
	return s.respondDisassociation(w, r, id, res.Position, http.StatusCreated, false)
}

// POST /v1/customers/{id}/disassociation/accept
func (s *Server) acceptDisassociation(w http.ResponseWriter, r *http.Request, p Principal) error {
	return s.answerDisassociation(w, r, p, true)
}

// POST /v1/customers/{id}/disassociation/reject
func (s *Server) rejectDisassociation(w http.ResponseWriter, r *http.Request, p Principal) error {
	return s.answerDisassociation(w, r, p, false)
}

func (s *Server) answerDisassociation(w http.ResponseWriter, r *http.Request, p Principal, accept bool) error {
	id, req, m, err := s.disassociationWrite(w, r, p)
	if err != nil {
		return err
	}
	res, err := s.ledger.AnswerDisassociation(r.Context(), domain.AnswerDisassociation{Meta: m, CustomerID: id, Reason: req.Reason, Accept: accept})
	if err != nil {
		return s.hideCustomer(r.Context(), p, id, err)
	}
	return s.respondDisassociation(w, r, id, res.Position, http.StatusOK, true)
}

func (s *Server) respondDisassociation(w http.ResponseWriter, r *http.Request, id, pos string, status int, withCustomer bool) error {
	c, err := s.statusAfter(w, r, id, pos)
	if err != nil {
		return err
	}
	out := disassociationResponse{Disassociation: c.Disassociation, Position: pos}
	if withCustomer {
		out.Customer = &c
	}
	writeJSON(w, status, out)
	return nil
}

// GET /v1/customers/{id}/disassociation
func (s *Server) getDisassociation(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, _, err := s.customerRead(r, p)
	if err != nil {
		return err
	}
	c, _, err := s.readableCustomer(r, p, id, "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, disassociationResponse{Disassociation: c.Disassociation})
	return nil
}
