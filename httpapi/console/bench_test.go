package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi"
)

// benchAPI answers a search with 100 customers and a history with 1,000 events in pages of 1,000:
// the benchmarks measure what the console adds (decoding, the timeline, the template), not the API.
type benchAPI struct{ search, status, history, ops []byte }

func newBenchAPI() *benchAPI {
	var b strings.Builder
	b.WriteString(`{"customers":[`)
	for i := 0; i < pageSize; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"customer_id":"c-%d","name":"Customer %d","partner_id":"dist-1","distributor_id":"dist-1","managed_by":"dist-1",
			"state":"FROZEN","freeze_type":"ACCOUNT","origin":"manual","reason":"overdue invoice","frozen_by":"ops","frozen_at":"2026-11-26T10:00:00Z",
			"effective_state":"FROZEN","effective_freeze_type":"ACCOUNT","effective_origin":"manual","tags":["gold","eu"],"position":"%d",
			"currency":"USD","mtd_spend":"812.00","budget":{"type":"monthly","amount":"1000.00","on_exhaustion":"freeze","usage_percent":"81.20"},
			"resources":2,"earliest_expiry":"2026-12-24T00:00:00Z"}`, i, i, i+1)
	}
	b.WriteString(`],"next_cursor":"abc"}`)
	a := &benchAPI{search: []byte(b.String())}
	a.status = []byte(`{"customer_id":"c-1","name":"Customer 1","partner_id":"dist-1","distributor_id":"dist-1","managed_by":"dist-1","state":"ACTIVE","effective_state":"ACTIVE","position":"1000"}`)
	b.Reset()
	b.WriteString(`{"events":[`)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 1000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		typ, data := "customer.frozen", `{"customer_id":"c-1","freeze_type":"ACCOUNT","origin":"manual","reason":"overdue invoice"}`
		if i%2 == 1 {
			typ, data = "customer.unfrozen", `{"customer_id":"c-1","unfreeze_type":"ACCOUNT","reason":"paid"}`
		}
		fmt.Fprintf(&b, `{"index":%d,"position":"%d","type":%q,"time":%q,"actor":{"name":"ops","role":"partner","partner_id":"dist-1"},"data":%s}`,
			i, i+1, typ, t0.Add(time.Duration(i)*time.Minute).Format(time.RFC3339Nano), data)
	}
	b.WriteString(`],"next_cursor":null}`)
	a.history = []byte(b.String())
	b.Reset()
	b.WriteString(`{"effective_state":"ACTIVE","operations":[`)
	for i, op := range []string{"view", "rename", "unsubscribe", "purchase", "modify_spec", "renew", "change_billing_mode", "operate", "delete"} {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"operation":%q,"allowed":true}`, op)
	}
	b.WriteString(`]}`)
	a.ops = []byte(b.String())
	return a
}

func (a *benchAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/openapi.json":
		_, _ = w.Write(httpapi.OpenAPIDocument) // every feature on, as served
	case r.URL.Path == "/v1/customers":
		_, _ = w.Write(a.search)
	case strings.HasSuffix(r.URL.Path, "/status"):
		_, _ = w.Write(a.status)
	case strings.HasSuffix(r.URL.Path, "/history"):
		_, _ = w.Write(a.history)
	case strings.HasSuffix(r.URL.Path, "/operations"):
		_, _ = w.Write(a.ops)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func benchConsole(b *testing.B) (*Console, *http.Cookie) {
	b.Helper()
	api := newBenchAPI()
	con, err := New(Options{API: api, Identify: func(string) (httpapi.Principal, bool) {
		return httpapi.Principal{Name: "ops", Role: domain.RolePartner, PartnerID: "dist-1"}, true
	}})
	if err != nil {
		b.Fatal(err)
	}
	s := con.sessions.create("tok", httpapi.Principal{Name: "ops", Role: domain.RolePartner, PartnerID: "dist-1"})
	return con, &http.Cookie{Name: sessionCookie, Value: s.id}
}

func benchPage(b *testing.B, path string) {
	con, ck := benchConsole(b)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", path, nil)
		r.AddCookie(ck)
		w := httptest.NewRecorder()
		con.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d", path, w.Code)
		}
	}
}

// BenchmarkCustomersPage renders Customer Management with 100 customers (the console's part).
func BenchmarkCustomersPage(b *testing.B) { benchPage(b, "/console/customers") }

// BenchmarkCustomerPage1000Events renders a customer page with 1,000 history events and timeline
// intervals (the console's part).
func BenchmarkCustomerPage1000Events(b *testing.B) { benchPage(b, "/console/customers/c-1") }
