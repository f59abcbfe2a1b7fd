package httpapi

// The billing feed's routes (rules 12 and 13): POST /v1/usage and the resource routes. Only the
// billing role writes them; resources are read by anyone who sees the customer.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections"
)

// BillingLedger is the write side of phases 2's routes; *domain.Service satisfies it. A Ledger that
// does not implement it answers those routes 503 unavailable.
type BillingLedger interface {
	RecordUsage(ctx context.Context, cmd domain.RecordUsage) (domain.UsageResult, error)
	ReportResource(ctx context.Context, cmd domain.ReportResource) (domain.Result, error)
	RemoveResource(ctx context.Context, cmd domain.RemoveResource) (domain.Result, error)
	SetBudget(ctx context.Context, cmd domain.SetBudget) (domain.Result, error)
	RemoveBudget(ctx context.Context, cmd domain.RemoveBudget) (domain.Result, error)
	SetBudgets(ctx context.Context, cmd domain.SetBudgets) (domain.BatchResult, error)
	SetQuota(ctx context.Context, cmd domain.SetQuota) (domain.Result, error)
}

// BillingReads is the read side of phase 2's routes; *projections.ReadModels satisfies it.
type BillingReads interface {
	Budget(id string, a projections.AsOf) (projections.CustomerBudget, error)
	BudgetHistory(ctx context.Context, id, cursor string, limit int) (projections.HistoryPage, error)
	Resources(id string, a projections.AsOf, cursor string, limit int) (projections.ResourcePage, error)
	ResourceOperations(id, resourceID string, a projections.AsOf) (projections.Operations, error)
	Quota(id string) (projections.QuotaInfo, error)
}

func (s *Server) billingLedger() (BillingLedger, error) {
	if l, ok := s.ledger.(BillingLedger); ok {
		return l, nil
	}
	return nil, errorf(domain.CodeUnavailable, "this server has no billing ledger")
}

func (s *Server) billingReads() (BillingReads, error) {
	if r, ok := s.reads.(BillingReads); ok {
		return r, nil
	}
	return nil, errorf(domain.CodeUnavailable, "this server has no billing read models")
}

// MaxUsageBodyBytes is POST /v1/usage's body limit (1 MiB: 1,000 records fit with room).
const MaxUsageBodyBytes = 1 << 20

type usageRecordRequest struct {
	RecordID   string `json:"record_id"`
	CustomerID string `json:"customer_id"`
	Amount     string `json:"amount"`
	Time       string `json:"time"`
}

type usageRequest struct {
	Records []usageRecordRequest `json:"records"`
}

func (q usageRequest) check() error {
	if n := len(q.Records); n == 0 || n > domain.MaxUsageBatch {
		return errorf(domain.CodeInvalid, "records must list 1 to %d usage records, not %d (rule 12)", domain.MaxUsageBatch, n)
	}
	return nil
}

type usageItem struct {
	RecordID  string   `json:"record_id"`
	OK        bool     `json:"ok"`
	Duplicate bool     `json:"duplicate,omitempty"`
	Error     *Problem `json:"error,omitempty"`
}

type usageResponse struct {
	Results  []usageItem `json:"results"`
	Position *string     `json:"position"`
}

// parseUsageRecord turns one record of the body into the domain's input; its errors name the
// record's index and field (the name is made only for an error: a batch has 1,000 records).
func parseUsageRecord(i int, r usageRecordRequest) (domain.UsageInput, error) {
	field := func(f string) string { return fmt.Sprintf("records[%d].%s", i, f) }
	in := domain.UsageInput{RecordID: r.RecordID, CustomerID: r.CustomerID}
	if !domain.ValidID(r.RecordID) {
		return in, checkID(field("record_id"), r.RecordID)
	}
	if !domain.ValidID(r.CustomerID) {
		return in, checkID(field("customer_id"), r.CustomerID)
	}
	m, err := domain.ParseMoney("amount", r.Amount)
	if err != nil {
		_, err = domain.ParseMoney(field("amount"), r.Amount)
		return in, err
	}
	in.Amount = m
	if in.Time, err = parseTime("time", r.Time); err != nil {
		_, err = parseTime(field("time"), r.Time)
		return in, err
	}
	return in, nil
}

// POST /v1/usage
func (s *Server) postUsage(w http.ResponseWriter, r *http.Request, p Principal) error {
	l, err := s.billingLedger()
	if err != nil {
		return err
	}
	if _, err := parseQuery(r); err != nil {
		return err
	}
	if r.ContentLength > MaxUsageBodyBytes {
		return errorf(CodeTooLarge, "the request body is %d bytes; the limit of POST /v1/usage is %d", r.ContentLength, MaxUsageBodyBytes)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxUsageBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(CodeTooLarge, "the request body is over the limit of %d bytes", MaxUsageBodyBytes)
	}
	if err != nil {
		return errorf(domain.CodeInvalid, "reading the request body: %v", err)
	}
	req, ok := decodeUsageFast(b) // the billing feed's own bodies; anything else, and every refusal:
	if !ok {
		if req, err = decodeRequest[usageRequest](b); err != nil {
			return err
		}
	}
	m, err := meta(r, p)
	if err != nil {
		return err
	}
	// Records that are malformed are refused here, one result each; the rest go to the domain.
	results := make([]usageItem, len(req.Records))
	var inputs []domain.UsageInput
	var at []int
	for i, rec := range req.Records {
		results[i].RecordID = rec.RecordID
		in, err := parseUsageRecord(i, rec)
		if err != nil {
			pr := problemOf(err)
			results[i].Error = &pr
			continue
		}
		inputs = append(inputs, in)
		at = append(at, i)
	}
	var pos string
	if len(inputs) > 0 {
		res, err := l.RecordUsage(r.Context(), domain.RecordUsage{Meta: m, Records: inputs})
		if err != nil {
			return err
		}
		for k, it := range res.Items {
			i := at[k]
			if it.Err != nil {
				pr := problemOf(it.Err)
				results[i].Error = &pr
				continue
			}
			results[i].OK, results[i].Duplicate = true, it.Duplicate
		}
		pos = res.Position
	}
	setPosition(w, pos)
	if err := s.waitFor(r.Context(), pos); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, usageResponse{Results: results, Position: optString(pos)})
	return nil
}

type resourceRequest struct {
	Service     string  `json:"service"`
	BillingMode string  `json:"billing_mode"`
	Product     string  `json:"product"`
	ExpiresAt   *string `json:"expires_at"`
}

func (q resourceRequest) check() error {
	if err := checkText("service", q.Service, 64); err != nil {
		return err
	}
	switch domain.BillingMode(q.BillingMode) {
	case domain.BillingYearlyMonthly, domain.BillingPayPerUse:
	default:
		return errorf(domain.CodeInvalid, "billing_mode must be yearly_monthly or pay_per_use")
	}
	switch domain.ProductKind(q.Product) {
	case domain.ProductCloud, domain.ProductMarketplaceImage, domain.ProductMarketplacePayPerUse, domain.ProductMarketplaceSaaS, domain.ProductMarketplaceLicence:
	default:
		return errorf(domain.CodeInvalid, "product must be cloud, marketplace_image, marketplace_pay_per_use, marketplace_saas or marketplace_licence")
	}
	if q.ExpiresAt != nil {
		if _, err := parseTime("expires_at", *q.ExpiresAt); err != nil {
			return err
		}
	}
	return nil
}

type resourceResponse struct {
	Resource projections.ResourceInfo `json:"resource"`
	Position string                   `json:"position"`
}

type positionResponse struct {
	Position string `json:"position"`
}

type resourcesResponse struct {
	Resources  []projections.ResourceInfo `json:"resources"`
	NextCursor *string                    `json:"next_cursor"`
}

func resourceID(r *http.Request) (string, error) {
	id := mux.Vars(r)["resource_id"]
	if !domain.ValidID(id) {
		return "", errorf(domain.CodeInvalid, "resource ID %q is not a valid ID (1 to 64 of A-Z a-z 0-9 _ . -, starting with a letter or digit)", clip(id))
	}
	return id, nil
}

// billingWrite runs the common steps of a resource write: the IDs, the role, and a customer the
// caller may see (a billing principal sees every customer).
func (s *Server) billingWrite(r *http.Request, p Principal) (BillingLedger, string, string, domain.Meta, error) {
	var m domain.Meta
	id, err := pathID(r, "customer")
	if err != nil {
		return nil, "", "", m, err
	}
	rid, err := resourceID(r)
	if err != nil {
		return nil, "", "", m, err
	}
	if _, err := s.visibleCustomer(r.Context(), p, id, projections.AsOf{}); err != nil && p.Role != domain.RoleBilling {
		return nil, "", "", m, err
	}
	if err := checkAccess(r, p); err != nil {
		return nil, "", "", m, err
	}
	l, err := s.billingLedger()
	if err != nil {
		return nil, "", "", m, err
	}
	m, err = meta(r, p)
	return l, id, rid, m, err
}

// PUT /v1/customers/{id}/resources/{resource_id}
func (s *Server) putResource(w http.ResponseWriter, r *http.Request, p Principal) error {
	req, err := decodeBody[resourceRequest](w, r)
	if err != nil {
		return err
	}
	l, id, rid, m, err := s.billingWrite(r, p)
	if err != nil {
		return err
	}
	rep := domain.ResourceReported{CustomerID: id, ResourceID: rid, Service: req.Service, BillingMode: domain.BillingMode(req.BillingMode), Product: domain.ProductKind(req.Product)}
	if req.ExpiresAt != nil {
		t, _ := parseTime("expires_at", *req.ExpiresAt)
		rep.ExpiresAt = &t
	}
	res, err := l.ReportResource(r.Context(), domain.ReportResource{Meta: m, Resource: rep})
	if err != nil {
		return err
	}
	if err := s.settle(w, r, res.Position); err != nil {
		return err
	}
	br, err := s.billingReads()
	if err != nil {
		return err
	}
	page, err := br.Resources(id, projections.AsOf{}, prevID(rid), 1)
	if err != nil {
		return err
	}
	if len(page.Resources) != 1 || page.Resources[0].ResourceID != rid {
		return fmt.Errorf("resource %q of %q is not in the read models after its report", rid, id)
	}
	writeJSON(w, http.StatusOK, resourceResponse{Resource: page.Resources[0], Position: res.Position})
	return nil
}

// prevID is a cursor just before id in resource order (resources are listed after the cursor).
func prevID(id string) string {
	b := []byte(id)
	if b[len(b)-1] > 0 {
		b[len(b)-1]--
		return string(b) + "\xff"
	}
	return string(b[:len(b)-1])
}

// DELETE /v1/customers/{id}/resources/{resource_id}
func (s *Server) deleteResource(w http.ResponseWriter, r *http.Request, p Principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	l, id, rid, m, err := s.billingWrite(r, p)
	if err != nil {
		return err
	}
	res, err := l.RemoveResource(r.Context(), domain.RemoveResource{Meta: m, CustomerID: id, ResourceID: rid})
	if err != nil {
		return err
	}
	if err := s.settle(w, r, res.Position); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, positionResponse{Position: res.Position})
	return nil
}

// GET /v1/customers/{id}/resources
func (s *Server) getResources(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, q, err := s.customerRead(r, p, "limit", "cursor", "as_of")
	if err != nil {
		return err
	}
	limit, err := parseLimit(q["limit"])
	if err != nil {
		return err
	}
	_, at, err := s.readableCustomer(r, p, id, q["as_of"])
	if err != nil {
		return err
	}
	cursor := q["cursor"]
	if cursor != "" && !domain.ValidID(cursor) {
		return errorf(domain.CodeInvalid, "cursor %q is not a cursor of this list", clip(cursor))
	}
	br, err := s.billingReads()
	if err != nil {
		return err
	}
	page, err := br.Resources(id, at, cursor, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resourcesResponse{Resources: page.Resources, NextCursor: optString(page.NextCursor)})
	return nil
}

// GET /v1/customers/{id}/resources/{resource_id}/operations
func (s *Server) getResourceOperations(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, q, err := s.customerRead(r, p, "as_of")
	if err != nil {
		return err
	}
	rid, err := resourceID(r)
	if err != nil {
		return err
	}
	_, at, err := s.readableCustomer(r, p, id, q["as_of"])
	if err != nil {
		return err
	}
	br, err := s.billingReads()
	if err != nil {
		return err
	}
	ops, err := br.ResourceOperations(id, rid, at)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ops)
	return nil
}
