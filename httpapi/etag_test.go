package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/freezeledger/freezeledger/projections"
)

// oneCustomer is read models holding the customer c-1 with the given state.
type oneCustomer struct {
	emptyReads
	state *string
}

func (o oneCustomer) Status(id string, _ projections.AsOf) (projections.CustomerStatus, error) {
	if id != "c-1" {
		return o.emptyReads.Status(id, projections.AsOf{})
	}
	ft, reason := "ACCOUNT", "overdue invoice"
	return projections.CustomerStatus{CustomerID: "c-1", Name: "Customer 1", PartnerID: "d-1", DistributorID: "d-1",
		ManagedBy: "d-1", State: *o.state, FreezeType: &ft, Reason: &reason, EffectiveState: *o.state,
		Tags: []string{"gold"}, AssociatedAt: "2026-11-26T10:00:00.000Z", Position: "42"}, nil
}

// TestStatusETag: a status read carries an ETag; If-None-Match with it (strong or weak, or in a
// list) is 304 without a body; a changed status has another ETag.
func TestStatusETag(t *testing.T) {
	state := "FROZEN"
	srv, toks := hostileServer(t, Options{Reads: oneCustomer{state: &state}})
	get := func(srv *Server, path string, inm ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+toks["plat"])
		if len(inm) > 0 {
			req.Header["If-None-Match"] = inm
		}
		return serve(srv, req)
	}
	first := get(srv, "/v1/customers/c-1/status")
	etag := first.Header().Get("ETag")
	if first.Code != 200 || len(etag) != 18 || etag[0] != '"' {
		t.Fatalf("first read: %d, ETag %q", first.Code, etag)
	}
	if again := get(srv, "/v1/customers/c-1").Header().Get("ETag"); again != etag {
		t.Errorf("the same status under /v1/customers/c-1 has ETag %q, not %q", again, etag)
	}
	for _, inm := range [][]string{{etag}, {"W/" + etag}, {`"other", ` + etag}, {`"other"`, etag}, {"*"}} {
		rec := get(srv, "/v1/customers/c-1/status", inm...)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag {
			t.Errorf("If-None-Match %q: %d %q ETag %q, want 304 without a body", inm, rec.Code, rec.Body, rec.Header().Get("ETag"))
		}
	}
	if rec := get(srv, "/v1/customers/c-1/status", `"0000000000000000"`); rec.Code != 200 || rec.Body.Len() == 0 {
		t.Errorf("a stale ETag: %d", rec.Code)
	}
	state = "ACTIVE"
	if rec := get(srv, "/v1/customers/c-1/status", etag); rec.Code != 200 || rec.Header().Get("ETag") == etag {
		t.Errorf("a changed status: %d, ETag %q (was %q)", rec.Code, rec.Header().Get("ETag"), etag)
	}
}

// BenchmarkStatusRead is the status handler, with its ETag (etag) and without (plain).
func BenchmarkStatusRead(b *testing.B) {
	for _, tc := range []struct {
		name  string
		etags bool
	}{{"etag", true}, {"plain", false}} {
		b.Run(tc.name, func(b *testing.B) {
			state := "FROZEN"
			srv, toks := hostileServer(b, Options{Reads: oneCustomer{state: &state}})
			srv.statusETags = tc.etags
			req := httptest.NewRequest("GET", "/v1/customers/c-1/status", nil)
			req.Header.Set("Authorization", "Bearer "+toks["plat"])
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
