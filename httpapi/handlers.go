package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections"
)

// scope is the partner whose subtree p sees, or "" for everything.
func (p Principal) scope() string {
	switch p.Role {
	case domain.RolePlatform:
		return ""
	case domain.RoleCustomer:
		return customerScope(p)
	}
	return p.PartnerID
}

// SeesCustomer reports whether the customer is in p's subtree (a customer principal: whether it is
// that customer; a disassociated customer is seen only by global principals and itself).
func (p Principal) SeesCustomer(c projections.CustomerStatus) bool {
	if p.Role == domain.RoleCustomer {
		return c.CustomerID == p.CustomerID
	}
	s := p.scope()
	return s == "" || (c.Associated && (c.PartnerID == s || c.DistributorID == s))
}

// SeesPartner reports whether the partner is in p's subtree (itself or one of its resellers); a
// customer principal sees no partner.
func (p Principal) SeesPartner(pt projections.PartnerStatus) bool {
	if p.Role == domain.RoleCustomer {
		return false
	}
	s := p.scope()
	return s == "" || pt.PartnerID == s || pt.ParentID == s
}

var (
	headerJSON    = []string{"application/json"}
	headerNoStore = []string{"no-store"}
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, problemOf(err))
		return
	}
	h := w.Header()
	// Canonical keys and shared, never-modified value slices: no per-request header allocations.
	h["Content-Type"] = headerJSON
	h["Cache-Control"] = headerNoStore
	w.WriteHeader(status)
	b = append(b, '\n')
	_, _ = w.Write(b)
}

func pathID(r *http.Request, what string) (string, error) {
	id := routeID(r)
	if !domain.ValidID(id) {
		return "", errorf(domain.CodeInvalid, "%s ID %q is not a valid ID (1 to 64 of A-Z a-z 0-9 _ . -, starting with a letter or digit)", what, clip(id))
	}
	return id, nil
}

// routeID is the {id} variable of the request's path: set by customerFastPath, or by the router.
func routeID(r *http.Request) string {
	if ri, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok && ri.pathID != "" {
		return ri.pathID
	}
	return mux.Vars(r)["id"]
}

// meta builds a command's Meta: the actor, the request ID and the Idempotency-Key.
func meta(r *http.Request, p Principal) (domain.Meta, error) {
	m := domain.Meta{Actor: p.Actor(), RequestID: info(r).id, Admin: p.Admin && p.Role == domain.RolePartner}
	if vs, ok := r.Header["Idempotency-Key"]; ok {
		if len(vs) != 1 {
			return m, errorf(domain.CodeInvalid, "Idempotency-Key is given %d times", len(vs))
		}
		if err := checkIdempotencyKey(vs[0]); err != nil {
			return m, err
		}
		m.IdempotencyKey = vs[0]
	}
	m.Admin, m.CustomerID = p.Admin, p.CustomerID
	if ri := info(r); ri.critical != nil {
		verified, err := ri.critical(r, p)
		if err != nil {
			return m, err
		}
		ri.verified = verified
		m.Verified = verified
	}
	return m, nil
}

// waitFor waits until the read models have applied the position pos (a position string), for at
// most the server's wait timeout; past it, unavailable.
func (s *Server) waitFor(ctx context.Context, pos string) error {
	if pos == "" {
		return nil
	}
	p, err := parsePosition("position", pos)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	if err := s.reads.WaitFor(wctx, p); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if domain.ErrorCode(err) != "" {
			return err
		}
		return errorf(domain.CodeUnavailable, "the read models have not applied position %s within %s; retry later", pos, s.wait)
	}
	return nil
}

// waitMin applies a read's min_position.
func (s *Server) waitMin(ctx context.Context, q map[string]string) error {
	mp, ok := q["min_position"]
	if !ok {
		return nil
	}
	if _, err := parsePosition("min_position", mp); err != nil {
		return err
	}
	return s.waitFor(ctx, mp)
}

func notFound(what, id string) error {
	return errorf(domain.CodeNotFound, "%s %q not found", what, id)
}

// visibleCustomer reads a customer the caller may see; one it may not see is not_found.
func (s *Server) visibleCustomer(ctx context.Context, p Principal, id string, at projections.AsOf) (projections.CustomerStatus, error) {
	c, err := s.reads.Status(id, at)
	if err != nil {
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return c, notFound("customer", id)
		}
		return c, err
	}
	if !p.SeesCustomer(c) {
		return projections.CustomerStatus{}, notFound("customer", id)
	}
	return c, nil
}

func (s *Server) visiblePartner(ctx context.Context, p Principal, id string) (projections.PartnerStatus, error) {
	pt, err := s.reads.Partner(id, projections.AsOf{})
	if err != nil {
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return pt, notFound("partner", id)
		}
		return pt, err
	}
	if !p.SeesPartner(pt) {
		return projections.PartnerStatus{}, notFound("partner", id)
	}
	return pt, nil
}

// hideCustomer turns a refusal about a customer outside the caller's subtree into not_found, so that
// a refusal never tells an outsider that the customer exists. The read models are first brought up to
// the store's head, so a customer associated a moment ago is seen.
func (s *Server) hideCustomer(ctx context.Context, p Principal, id string, err error) error {
	s.syncRefusal(ctx, err)
	if p.scope() == "" || !refusal(err) {
		return err
	}
	if _, verr := s.visibleAfterSync(ctx, func(ctx context.Context) error {
		_, e := s.visibleCustomer(ctx, p, id, projections.AsOf{})
		return e
	}); verr != nil {
		return verr
	}
	return err
}

func (s *Server) hidePartner(ctx context.Context, p Principal, id string, err error) error {
	s.syncRefusal(ctx, err)
	if p.scope() == "" || !refusal(err) {
		return err
	}
	if _, verr := s.visibleAfterSync(ctx, func(ctx context.Context) error {
		_, e := s.visiblePartner(ctx, p, id)
		return e
	}); verr != nil {
		return verr
	}
	return err
}

func (s *Server) visibleAfterSync(ctx context.Context, check func(context.Context) error) (bool, error) {
	if err := check(ctx); err == nil {
		return true, nil
	}
	wctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	head, err := s.reads.Head(wctx)
	if err == nil {
		err = s.reads.WaitFor(wctx, head)
	}
	if err != nil {
		return false, errorf(domain.CodeUnavailable, "the read models are behind the store; retry later")
	}
	if err := check(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// syncRefusal, for a write refused because of the state it met (conflict, type_mismatch,
// actor_frozen, forbidden), waits (bounded) until the read models have applied the store's head. The
// domain decided on committed state that the read models may not have applied yet; without the wait
// a client could be told "not frozen" and then read FROZEN (found by TestLinearizable). On a timeout
// the refusal is answered anyway: it is true, only a following read may lag.
func (s *Server) syncRefusal(ctx context.Context, err error) {
	switch domain.ErrorCode(err) {
	case domain.CodeConflict, domain.CodeTypeMismatch, domain.CodeActorFrozen, domain.CodeForbidden:
	default:
		return
	}
	wctx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	if head, herr := s.reads.Head(wctx); herr == nil {
		_ = s.reads.WaitFor(wctx, head)
	}
}

func refusal(err error) bool {
	switch domain.ErrorCode(err) {
	case domain.CodeForbidden, domain.CodeActorFrozen, domain.CodeNotFound, domain.CodeConflict, domain.CodeTypeMismatch, domain.CodeInvalid:
		return true
	}
	return false
}

// setPosition sets X-Ledger-Position.
func setPosition(w http.ResponseWriter, pos string) {
	if pos != "" {
		w.Header().Set("X-Ledger-Position", pos)
	}
}

// readOnlyRefusal answers a write by a principal that may not write: not_found when it cannot see
// the target (check returns the visibility error), forbidden otherwise.
func readOnlyRefusal(r *http.Request, p Principal, check func() error) error {
	if err := check(); err != nil {
		return err
	}
	return checkAccess(r, p)
}
