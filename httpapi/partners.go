package httpapi

import (
	"net/http"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections"
)

type partnerResponse struct {
	Partner  projections.PartnerStatus `json:"partner"`
	Position string                    `json:"position"`
}

type delegationResponse struct {
	Delegation projections.Delegation `json:"delegation"`
	Position   string                 `json:"position"`
}

// POST /v1/partners
func (s *Server) registerPartner(w http.ResponseWriter, r *http.Request, p Principal) error {
	req, m, err := decodeWrite[registerPartnerRequest](w, r, p)
	if err != nil {
		return err
	}
	res, err := s.ledger.RegisterPartner(r.Context(), domain.RegisterPartner{
		Meta: m, PartnerID: req.PartnerID, Name: req.Name, Type: domain.PartnerType(req.Type), ParentID: req.ParentID,
	})
	if err != nil {
		if req.ParentID != "" && domain.ErrorCode(err) != domain.CodeConflict {
			// A refusal naming a parent outside the caller's subtree does not tell it the parent exists.
			return s.hidePartner(r.Context(), p, req.ParentID, err)
		}
		return err
	}
	return s.respondPartner(w, r, p, req.PartnerID, res.Position, http.StatusCreated)
}

func (s *Server) respondPartner(w http.ResponseWriter, r *http.Request, p Principal, id, pos string, status int) error {
	if err := s.settle(w, r, pos); err != nil {
		return err
	}
	pt, err := s.reads.Partner(id, projections.AsOf{})
	if err != nil {
		return err
	}
	writeJSON(w, status, partnerResponse{Partner: pt, Position: pos})
	return nil
}

// readablePartner returns partner id's status: not_found if p cannot see it, forbidden if p's role
// may not call the route.
func (s *Server) readablePartner(r *http.Request, p Principal, id string) (projections.PartnerStatus, error) {
	pt, err := s.visiblePartner(r.Context(), p, id)
	if err != nil {
		return pt, err
	}
	return pt, checkAccess(r, p)
}

// GET /v1/partners/{id}
func (s *Server) getPartner(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, err := pathID(r, "partner")
	if err != nil {
		return err
	}
	q, err := parseQuery(r, "min_position", "as_of")
	if err != nil {
		return err
	}
	at, err := projections.ParseAsOf(q["as_of"])
	if err != nil {
		return err
	}
	if err := s.waitMin(r.Context(), q); err != nil {
		return err
	}
	pt, err := s.readablePartner(r, p, id)
	if err != nil {
		return err
	}
	if !at.IsNow() {
		// The hierarchy never changes, so what is visible now was visible then.
		if pt, err = s.reads.Partner(id, at); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, pt)
	return nil
}

type partnersResponse struct {
	Partners   []projections.PartnerStatus `json:"partners"`
	NextCursor *string                     `json:"next_cursor"`
}

// GET /v1/partners
func (s *Server) listPartners(w http.ResponseWriter, r *http.Request, p Principal) error {
	q, err := parseQuery(r, "type", "parent_id", "frozen", "limit", "cursor", "min_position")
	if err != nil {
		return err
	}
	f := projections.PartnerFilter{Scope: p.scope(), Cursor: q["cursor"]}
	switch t := domain.PartnerType(q["type"]); t {
	case "":
	case domain.PartnerDistributor, domain.PartnerReseller, domain.PartnerSolutionProvider:
		f.Type = string(t)
	default:
		return errorf(domain.CodeInvalid, "type must be distributor, reseller or solution_provider")
	}
	if v := q["parent_id"]; v != "" {
		if !domain.ValidID(v) {
			return errorf(domain.CodeInvalid, "parent_id is not a valid ID")
		}
		f.ParentID = v
	}
	if f.Frozen, err = parseBool("frozen", q["frozen"]); err != nil {
		return err
	}
	if f.Limit, err = parseLimit(q["limit"]); err != nil {
		return err
	}
	if len(f.Cursor) > 1024 {
		return errorf(domain.CodeInvalid, "cursor is not one this server issued")
	}
	if err := s.waitMin(r.Context(), q); err != nil {
		return err
	}
	list, next, err := s.reads.ListPartners(f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []projections.PartnerStatus{}
	}
	writeJSON(w, http.StatusOK, partnersResponse{Partners: list, NextCursor: optString(next)})
	return nil
}

// GET /v1/partners/{id}/history
func (s *Server) getPartnerHistory(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, err := pathID(r, "partner")
	if err != nil {
		return err
	}
	q, err := parseQuery(r, "limit", "cursor", "min_position")
	if err != nil {
		return err
	}
	limit, err := parseLimit(q["limit"])
	if err != nil {
		return err
	}
	if err := s.waitMin(r.Context(), q); err != nil {
		return err
	}
	if _, err := s.readablePartner(r, p, id); err != nil {
		return err
	}
	// Every event of the partner's history is about its subtree, which whoever sees the partner
	// sees: no viewer filter (projections.HistoryPartnerActivity).
	page, err := s.reads.History(r.Context(), projections.HistoryQuery{Kind: projections.HistoryPartnerActivity, ID: id,
		Limit: limit, Cursor: q["cursor"]})
	if err != nil {
		return err
	}
	writeHistory(w, page)
	return nil
}

// partnerWrite runs the common steps of a write on /v1/partners/{id}: path ID, query, body, the
// refusal of read-only roles (404 outside their subtree, 403 inside) and Meta.
func partnerWrite[T checker](s *Server, w http.ResponseWriter, r *http.Request, p Principal, body bool) (string, T, domain.Meta, error) {
	var req T
	var m domain.Meta
	id, err := pathID(r, "partner")
	if err != nil {
		return "", req, m, err
	}
	if body {
		req, err = decodeBody[T](w, r)
	} else {
		_, err = parseQuery(r)
	}
	if err != nil {
		return "", req, m, err
	}
	if !writers.allows(p.Role) {
		return "", req, m, readOnlyRefusal(r, p, func() error {
			_, err := s.visiblePartner(r.Context(), p, id)
			return err
		})
	}
	m, err = meta(r, p)
	return id, req, m, err
}

// POST /v1/partners/{id}/freeze
func (s *Server) freezePartner(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, req, m, err := partnerWrite[partnerFreezeRequest](s, w, r, p, true)
	if err != nil {
		return err
	}
	res, err := s.ledger.FreezePartner(r.Context(), domain.FreezePartner{Meta: m, PartnerID: id, Reason: req.Reason})
	if err != nil {
		return s.hidePartner(r.Context(), p, id, err)
	}
	return s.respondPartner(w, r, p, id, res.Position, http.StatusOK)
}

// POST /v1/partners/{id}/unfreeze
func (s *Server) unfreezePartner(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, req, m, err := partnerWrite[partnerFreezeRequest](s, w, r, p, true)
	if err != nil {
		return err
	}
	res, err := s.ledger.UnfreezePartner(r.Context(), domain.UnfreezePartner{Meta: m, PartnerID: id, Reason: req.Reason})
	if err != nil {
		return s.hidePartner(r.Context(), p, id, err)
	}
	return s.respondPartner(w, r, p, id, res.Position, http.StatusOK)
}

// PUT /v1/partners/{id}/delegation
func (s *Server) putDelegation(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, req, m, err := partnerWrite[delegationRequest](s, w, r, p, true)
	if err != nil {
		return err
	}
	return s.setDelegation(w, r, p, domain.SetDelegation{Meta: m, ResellerID: id, Freeze: *req.Freeze, Budget: *req.Budget})
}

// DELETE /v1/partners/{id}/delegation
func (s *Server) deleteDelegation(w http.ResponseWriter, r *http.Request, p Principal) error {
	if r.ContentLength > 0 {
		return errorf(domain.CodeInvalid, "DELETE takes no body")
	}
	id, _, m, err := partnerWrite[partnerFreezeRequest](s, w, r, p, false)
	if err != nil {
		return err
	}
	return s.setDelegation(w, r, p, domain.SetDelegation{Meta: m, ResellerID: id})
}

func (s *Server) setDelegation(w http.ResponseWriter, r *http.Request, p Principal, cmd domain.SetDelegation) error {
	res, err := s.ledger.SetDelegation(r.Context(), cmd)
	if err != nil {
		return s.hidePartner(r.Context(), p, cmd.ResellerID, err)
	}
	if err := s.settle(w, r, res.Position); err != nil {
		return err
	}
	pt, err := s.reads.Partner(cmd.ResellerID, projections.AsOf{})
	if err != nil {
		return err
	}
	d := projections.Delegation{Freeze: cmd.Freeze, Budget: cmd.Budget}
	if pt.Delegation != nil {
		d = *pt.Delegation
	}
	writeJSON(w, http.StatusOK, delegationResponse{Delegation: d, Position: res.Position})
	return nil
}
