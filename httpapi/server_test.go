package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections"
)

// failingLedger panics or fails on every command: the server must answer problems, never crash.
type failingLedger struct{ panicking bool }

func (l failingLedger) fail() error {
	if l.panicking {
		panic("boom: secret internal state")
	}
	return errors.New("disk on fire at /secret/path")
}

func (l failingLedger) RegisterPartner(context.Context, domain.RegisterPartner) (domain.Result, error) {
	return domain.Result{}, l.fail()
}
func (l failingLedger) AssociateCustomer(context.Context, domain.AssociateCustomer) (domain.Result, error) {
	return domain.Result{}, l.fail()
}
func (l failingLedger) FreezeCustomer(context.Context, domain.FreezeCustomer) (domain.Result, error) {
	return domain.Result{}, l.fail()
}
func (l failingLedger) UnfreezeCustomer(context.Context, domain.UnfreezeCustomer) (domain.Result, error) {
	return domain.Result{}, l.fail()
}
func (l failingLedger) FreezeCustomers(context.Context, domain.FreezeCustomers) (domain.BatchResult, error) {
	return domain.BatchResult{}, l.fail()
}
func (l failingLedger) UnfreezeCustomers(context.Context, domain.UnfreezeCustomers) (domain.BatchResult, error) {
	return domain.BatchResult{}, l.fail()
}
func (l failingLedger) FreezePartner(context.Context, domain.FreezePartner) (domain.Result, error) {
	return domain.Result{}, l.fail()
}
func (l failingLedger) UnfreezePartner(context.Context, domain.UnfreezePartner) (domain.Result, error) {
	return domain.Result{}, l.fail()
}
func (l failingLedger) SetDelegation(context.Context, domain.SetDelegation) (domain.Result, error) {
	return domain.Result{}, l.fail()
}

// emptyReads is read models with nothing in them.
type emptyReads struct{}

func (emptyReads) WaitFor(context.Context, eventstore.Position) error { return nil }
func (emptyReads) Events() uint64                                     { return 0 }
func (emptyReads) Head(context.Context) (eventstore.Position, error)  { return eventstore.Start, nil }
func (emptyReads) Ready(context.Context) error                        { return nil }
func (emptyReads) SearchCustomers(projections.SearchFilter) ([]projections.CustomerStatus, string, error) {
	return nil, "", nil
}
func (emptyReads) Status(id string, _ projections.AsOf) (projections.CustomerStatus, error) {
	return projections.CustomerStatus{}, domain.Errorf(domain.CodeNotFound, "customer %q not found", id)
}
func (emptyReads) Operations(id string, _ projections.OperationsQuery) (projections.Operations, error) {
	return projections.Operations{}, domain.Errorf(domain.CodeNotFound, "customer %q not found", id)
}
func (emptyReads) CheckOperation(id, _ string, _ projections.OperationsQuery) (projections.OperationCheck, error) {
	return projections.OperationCheck{}, domain.Errorf(domain.CodeNotFound, "customer %q not found", id)
}
func (emptyReads) Partner(id string, _ projections.AsOf) (projections.PartnerStatus, error) {
	return projections.PartnerStatus{}, domain.Errorf(domain.CodeNotFound, "partner %q not found", id)
}
func (emptyReads) History(context.Context, projections.HistoryQuery) (projections.HistoryPage, error) {
	return projections.HistoryPage{}, nil
}
func (emptyReads) ListPartners(projections.PartnerFilter) ([]projections.PartnerStatus, string, error) {
	return nil, "", nil
}
func (emptyReads) Timeline(id string) (projections.Timeline, error) {
	return projections.Timeline{}, domain.Errorf(domain.CodeNotFound, "customer %q not found", id)
}
func (emptyReads) AuditEvents(context.Context, projections.AuditQuery) (projections.AuditPage, error) {
	return projections.AuditPage{}, nil
}

// TestFailuresAreProblems: a panicking or failing ledger gives 500 problems that reveal nothing,
// the panic is logged with the request ID, and the server keeps serving.
func TestFailuresAreProblems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	tok, err := CreatePrincipal(path, "plat", domain.RolePlatform, "")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := LoadPrincipals(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, panicking := range []bool{true, false} {
		var logs strings.Builder
		srv, err := New(Options{Ledger: failingLedger{panicking}, Reads: emptyReads{}, Principals: ps,
			Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			req := httptest.NewRequest("POST", "/v1/partners", strings.NewReader(`{"partner_id":"d","name":"D","type":"distributor"}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("panicking=%v: %d %s", panicking, rec.Code, body)
			}
			if strings.Contains(string(body), "secret") || !strings.Contains(string(body), `"code":"internal"`) {
				t.Errorf("panicking=%v: body %s", panicking, body)
			}
			if !strings.Contains(logs.String(), rec.Header().Get("X-Request-Id")) {
				t.Errorf("panicking=%v: the log lacks the request ID %s", panicking, rec.Header().Get("X-Request-Id"))
			}
		}
		// The audit routes without an audit log are 503, not a crash.
		req := httptest.NewRequest("GET", "/v1/audit/public-key", nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("public key without an audit log: %d", rec.Code)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without a ledger succeeded")
	}
}
