package httpapi

import (
	"net/http"
	"strings"
	"sync"

	"github.com/gorilla/mux"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

type customerResponse struct {
	Customer projections.CustomerStatus `json:"customer"`
	Position string                     `json:"position"`
}

type batchItem struct {
	CustomerID string                      `json:"customer_id"`
	OK         bool                        `json:"ok"`
	Customer   *projections.CustomerStatus `json:"customer,omitempty"`
	Error      *Problem                    `json:"error,omitempty"`
}

type batchResponse struct {
	Results  []batchItem `json:"results"`
	Position *string     `json:"position"` // null when the batch appended nothing
}

type searchResponse struct {
	Customers  []projections.CustomerStatus `json:"customers"`
	NextCursor *string                      `json:"next_cursor"`
}

type historyResponse struct {
	Events     []leaf.Event `json:"events"`
	NextCursor *string      `json:"next_cursor"`
}

// writeHistory answers a page of a history: its events ([] when none) and next_cursor (null on the
// last page).
func writeHistory(w http.ResponseWriter, page projections.HistoryPage) {
	if page.Events == nil {
		page.Events = []leaf.Event{}
	}
	writeJSON(w, http.StatusOK, historyResponse{Events: page.Events, NextCursor: optString(page.NextCursor)})
}

type operationResponse struct {
	CustomerID  string                  `json:"customer_id"`
	Operation   string                  `json:"operation"`
	BillingMode string                  `json:"billing_mode"`
	Product     string                  `json:"product,omitempty"`
	Allowed     bool                    `json:"allowed"`
	Reason      string                  `json:"reason,omitempty"`
	Freeze      *projections.FreezeInfo `json:"freeze,omitempty"`
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// POST /v1/customers
func (s *Server) associateCustomer(w http.ResponseWriter, r *http.Request, p Principal) error {
	req, m, err := decodeWrite[associateCustomerRequest](w, r, p)
	if err != nil {
		return err
	}
	personal, err := s.sealAssociation(req.CustomerID, req.Personal)
	if err != nil {
		return err
	}
	res, err := s.ledger.AssociateCustomer(r.Context(), domain.AssociateCustomer{
		Meta: m, CustomerID: req.CustomerID, Name: req.Name, PartnerID: req.PartnerID,
		Tags: req.Tags, AccountManager: req.AccountManager, Personal: personal,
	})
	if err != nil {
		// A refusal naming a partner outside the caller's subtree does not tell it the partner exists.
		return s.hidePartner(r.Context(), p, req.PartnerID, err)
	}
	return s.respondCustomer(w, r, req.CustomerID, res.Position, http.StatusCreated)
}

func (s *Server) respondCustomer(w http.ResponseWriter, r *http.Request, id, pos string, status int) error {
	c, err := s.statusAfter(w, r, id, pos)
	if err != nil {
		return err
	}
	// {"customer": <status>, "position": pos}: the bytes json.Marshal of customerResponse writes.
	writeEncoded(w, status, func(b []byte) []byte {
		b = appendStatus(append(b, `{"customer":`...), &c)
		return append(appendJSONString(append(b, `,"position":`...), pos), '}')
	})
	return nil
}

// customerWrite runs the common steps of a write on /v1/customers/{id}: path ID, body, then
// customerWriteMeta.
func customerWrite[T checker](s *Server, w http.ResponseWriter, r *http.Request, p Principal) (string, T, domain.Meta, error) {
	var req T
	var m domain.Meta
	id, err := pathID(r, "customer")
	if err != nil {
		return "", req, m, err
	}
	if req, err = decodeBody[T](w, r); err != nil {
		return "", req, m, err
	}
	m, err = s.customerWriteMeta(r, p, id)
	return id, req, m, err
}

// customerWriteMeta refuses a principal whose role may not write (not_found when it cannot see
// customer id, forbidden otherwise) and returns the write's Meta.
func (s *Server) customerWriteMeta(r *http.Request, p Principal, id string) (domain.Meta, error) {
	if !writers.allows(p.Role) {
		return domain.Meta{}, readOnlyRefusal(r, p, func() error {
			_, err := s.visibleCustomer(r.Context(), p, id, projections.AsOf{})
			return err
		})
	}
	return meta(r, p)
}

// POST /v1/customers/{id}/freeze
func (s *Server) freezeCustomer(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, req, m, err := customerWrite[freezeRequest](s, w, r, p)
	if err != nil {
		return err
	}
	ft := domain.FreezeType(req.FreezeType)
	if ft == "" {
		ft = domain.FreezeAccount
	}
	res, err := s.ledger.FreezeCustomer(r.Context(), domain.FreezeCustomer{Meta: m, CustomerID: id, Reason: req.Reason, FreezeType: ft})
	if err != nil {
		return s.hideCustomer(r.Context(), p, id, err)
	}
	return s.respondCustomer(w, r, id, res.Position, http.StatusOK)
}

// POST /v1/customers/{id}/unfreeze
func (s *Server) unfreezeCustomer(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, req, m, err := customerWrite[unfreezeRequest](s, w, r, p)
	if err != nil {
		return err
	}
	res, err := s.ledger.UnfreezeCustomer(r.Context(), domain.UnfreezeCustomer{Meta: m, CustomerID: id, Reason: req.Reason, UnfreezeType: domain.FreezeType(req.UnfreezeType)})
	if err != nil {
		return s.hideCustomer(r.Context(), p, id, err)
	}
	return s.respondCustomer(w, r, id, res.Position, http.StatusOK)
}

// POST /v1/customers/freeze
func (s *Server) batchFreeze(w http.ResponseWriter, r *http.Request, p Principal) error {
	req, m, err := decodeWrite[batchFreezeRequest](w, r, p)
	if err != nil {
		return err
	}
	ft := domain.FreezeType(req.FreezeType)
	if ft == "" {
		ft = domain.FreezeAccount
	}
	res, err := s.ledger.FreezeCustomers(r.Context(), domain.FreezeCustomers{Meta: m, CustomerIDs: req.CustomerIDs, Reason: req.Reason, FreezeType: ft})
	if err != nil {
		return err
	}
	return s.respondBatch(w, r, p, res)
}

// POST /v1/customers/unfreeze
func (s *Server) batchUnfreeze(w http.ResponseWriter, r *http.Request, p Principal) error {
	req, m, err := decodeWrite[batchUnfreezeRequest](w, r, p)
	if err != nil {
		return err
	}
	res, err := s.ledger.UnfreezeCustomers(r.Context(), domain.UnfreezeCustomers{Meta: m, CustomerIDs: req.CustomerIDs, Reason: req.Reason, UnfreezeType: domain.FreezeType(req.UnfreezeType)})
	if err != nil {
		return err
	}
	return s.respondBatch(w, r, p, res)
}

func (s *Server) respondBatch(w http.ResponseWriter, r *http.Request, p Principal, res domain.BatchResult) error {
	out := batchResponse{Results: make([]batchItem, len(res.Items)), Position: optString(res.Position)}
	err := s.batchOutcomes(w, r, p, res, func(i int, c *projections.CustomerStatus, pr *Problem) {
		out.Results[i] = batchItem{CustomerID: res.Items[i].CustomerID, OK: c != nil, Customer: c, Error: pr}
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// batchOutcomes settles the batch res and then calls item for each of its items, with the item's
// index and either the customer's status after the batch (the item succeeded, pr nil) or the
// problem that refused it (c nil), a customer p cannot see being refused as not_found. An item
// refused by an error without a domain code (an internal one) ends it with that error.
func (s *Server) batchOutcomes(w http.ResponseWriter, r *http.Request, p Principal, res domain.BatchResult, item func(i int, c *projections.CustomerStatus, pr *Problem)) error {
	if err := s.settle(w, r, res.Position); err != nil {
		return err
	}
	for i, it := range res.Items {
		if it.Err == nil {
			c, err := s.reads.Status(it.CustomerID, projections.AsOf{})
			if err != nil {
				return err
			}
			item(i, &c, nil)
			continue
		}
		err := s.hideCustomer(r.Context(), p, it.CustomerID, it.Err)
		if domain.ErrorCode(err) == "" {
			return err
		}
		pr := problemOf(err)
		item(i, nil, &pr)
	}
	return nil
}

// GET /v1/customers
func (s *Server) searchCustomers(w http.ResponseWriter, r *http.Request, p Principal) error {
	q, err := parseQuery(r, searchParamNames()...)
	if err != nil {
		return err
	}
	cq, err := parseSearch(q)
	if err != nil {
		return err
	}
	cq.Scope = p.scope()
	if err := s.waitMin(r.Context(), q); err != nil {
		return err
	}
	list, next, err := s.reads.SearchCustomers(cq)
	if err != nil {
		return err
	}
	if list == nil {
		list = []projections.CustomerStatus{}
	}
	for i := range list {
		withoutPersonal(p, &list[i])
	}
	writeJSON(w, http.StatusOK, searchResponse{Customers: list, NextCursor: optString(next)})
	return nil
}

// customerRead runs the first steps of a read of /v1/customers/{id}: path ID, query (with
// min_position and the extra parameters allowed) and the wait for min_position; readableCustomer
// does visibility and role once the handler has checked its own parameters.
func (s *Server) customerRead(r *http.Request, p Principal, allowed ...string) (string, map[string]string, error) {
	id, err := pathID(r, "customer")
	if err != nil {
		return "", nil, err
	}
	q, err := parseQuery(r, append(allowed, "min_position")...)
	if err != nil {
		return "", nil, err
	}
	if err := s.waitMin(r.Context(), q); err != nil {
		return "", nil, err
	}
	return id, q, nil
}

// readableCustomer parses asOf (the as_of parameter, "" for now) and returns it with customer id's
// status then: not_found if p cannot see it, forbidden if p's role may not call the route.
func (s *Server) readableCustomer(r *http.Request, p Principal, id, asOf string) (projections.CustomerStatus, projections.AsOf, error) {
	at, err := projections.ParseAsOf(asOf)
	if err != nil {
		return projections.CustomerStatus{}, at, err
	}
	c, err := s.visibleCustomer(r.Context(), p, id, at)
	if err != nil {
		return c, at, err
	}
	return c, at, checkAccess(r, p)
}

func (s *Server) statusRead(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, q, err := s.customerRead(r, p, "as_of")
	if err != nil {
		return err
	}
	c, _, err := s.readableCustomer(r, p, id, q["as_of"])
	if err != nil {
		return err
	}
	withoutPersonal(p, &c)
	if s.statusETags {
		writeStatusETag(w, r, &c)
	} else {
		writeStatus(w, &c)
	}
	return nil
}

// writeStatusETag answers a customer status with its ETag, or 304 when If-None-Match names it.
func writeStatusETag(w http.ResponseWriter, r *http.Request, c *projections.CustomerStatus) {
	bp := statusBufs.Get().(*[]byte)
	b := append(appendStatus((*bp)[:0], c), '\n')
	n := len(b)
	b = etagOf(b, b[:n])
	etag := string(b[n:])
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && noneMatch(inm, etag) {
		writeNotModified(w, etag)
	} else {
		h := w.Header()
		h["Content-Type"] = headerJSON
		h["Cache-Control"] = headerNoStore
		h["Etag"] = []string{etag}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b[:n])
	}
	if cap(b) <= 64<<10 {
		*bp = b
		statusBufs.Put(bp)
	}
}

var statusBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeStatus answers a customer status, encoded by appendStatus.
func writeStatus(w http.ResponseWriter, c *projections.CustomerStatus) {
	writeEncoded(w, http.StatusOK, func(b []byte) []byte { return appendStatus(b, c) })
}

// writeEncoded answers the JSON that enc appends, in a pooled buffer.
func writeEncoded(w http.ResponseWriter, status int, enc func([]byte) []byte) {
	bp := statusBufs.Get().(*[]byte)
	b := append(enc((*bp)[:0]), '\n')
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["Cache-Control"] = headerNoStore
	w.WriteHeader(status)
	_, _ = w.Write(b)
	if cap(b) <= 64<<10 {
		*bp = b
		statusBufs.Put(bp)
	}
}

// GET /v1/customers/{id}
func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request, p Principal) error {
	return s.statusRead(w, r, p)
}

// GET /v1/customers/{id}/status
func (s *Server) getStatus(w http.ResponseWriter, r *http.Request, p Principal) error {
	return s.statusRead(w, r, p)
}

// operationsQuery reads the operations routes' query: billing_mode, product, as_of (the read
// models validate the values), after the customer was found visible and the role allowed.
func (s *Server) operationsQuery(r *http.Request, p Principal) (string, projections.OperationsQuery, error) {
	id, q, err := s.customerRead(r, p, "billing_mode", "product", "as_of")
	if err != nil {
		return "", projections.OperationsQuery{}, err
	}
	_, at, err := s.readableCustomer(r, p, id, q["as_of"])
	if err != nil {
		return "", projections.OperationsQuery{}, err
	}
	return id, projections.OperationsQuery{BillingMode: q["billing_mode"], Product: q["product"], AsOf: at}, nil
}

// GET /v1/customers/{id}/operations
func (s *Server) getOperations(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, oq, err := s.operationsQuery(r, p)
	if err != nil {
		return err
	}
	ops, err := s.reads.Operations(id, oq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ops)
	return nil
}

// GET /v1/customers/{id}/operations/{operation}
func (s *Server) getOperation(w http.ResponseWriter, r *http.Request, p Principal) error {
	name := mux.Vars(r)["operation"]
	known := false
	for _, n := range projections.OperationNames {
		known = known || n == name
	}
	if !known {
		return errorf(domain.CodeNotFound, "no operation %q; the operations are %s", clip(name), strings.Join(projections.OperationNames, ", "))
	}
	id, oq, err := s.operationsQuery(r, p)
	if err != nil {
		return err
	}
	c, err := s.reads.CheckOperation(id, name, oq)
	if err != nil {
		return err
	}
	mode := oq.BillingMode
	if mode == "" {
		mode = projections.BillingYearlyMonthly
	}
	writeJSON(w, http.StatusOK, operationResponse{CustomerID: id, Operation: name, BillingMode: mode, Product: oq.Product,
		Allowed: c.Allowed, Reason: c.Reason, Freeze: c.Freeze})
	return nil
}

// customerHistoryRead runs the steps of a read of a customer's history before the page is read:
// customerRead with limit and cursor, the limit checked, then readableCustomer. The cursor is the
// history's to check.
func (s *Server) customerHistoryRead(r *http.Request, p Principal) (id, cursor string, limit int, err error) {
	id, q, err := s.customerRead(r, p, "limit", "cursor")
	if err != nil {
		return "", "", 0, err
	}
	if limit, err = parseLimit(q["limit"]); err != nil {
		return "", "", 0, err
	}
	if _, _, err := s.readableCustomer(r, p, id, ""); err != nil {
		return "", "", 0, err
	}
	return id, q["cursor"], limit, nil
}

// GET /v1/customers/{id}/history
func (s *Server) getHistory(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, cursor, limit, err := s.customerHistoryRead(r, p)
	if err != nil {
		return err
	}
	page, err := s.reads.History(r.Context(), projections.HistoryQuery{Kind: projections.HistoryCustomer, ID: id,
		Viewer: p.historyViewer(), Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	writeHistory(w, page)
	return nil
}

// GET /v1/customers/{id}/timeline
func (s *Server) getTimeline(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, _, err := s.customerRead(r, p)
	if err != nil {
		return err
	}
	if _, _, err := s.readableCustomer(r, p, id, ""); err != nil {
		return err
	}
	tl, err := s.reads.Timeline(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tl)
	return nil
}
