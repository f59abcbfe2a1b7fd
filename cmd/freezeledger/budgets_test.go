package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The phase 2 routes end to end (rules 12 to 18), every response checked against the OpenAPI
// document by the harness.

func withBilling(ps []testPrincipal) []testPrincipal {
	return append(append([]testPrincipal{}, ps...), testPrincipal{"bill", "billing", ""})
}

func startBillingServer(t *testing.T) *testServer {
	t.Helper()
	ts := startServerIn(t, t.TempDir(), withBilling(standardPrincipals), nil)
	ts.setupHierarchy()
	return ts
}

// exercisePhase2Routes calls every phase 2 route once successfully (for TestEveryRoute); ts has the
// test hierarchy and a billing principal "bill".
func exercisePhase2Routes(t *testing.T, ts *testServer) {
	t.Helper()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	ts.must(200, "PUT", "/v1/customers/c-b/budget", "op-dist-b", map[string]any{"type": "one_time", "amount": "10.5", "on_exhaustion": "alert"})
	ts.must(200, "PUT", "/v1/customers/budget", "op-dist-b", map[string]any{"customer_ids": []string{"c-b1"}, "type": "monthly", "amount": "10", "on_exhaustion": "freeze"})
	ts.must(200, "POST", "/v1/usage", "bill", map[string]any{"records": []map[string]any{{"record_id": "every-1", "customer_id": "c-b", "amount": "9", "time": now}}})
	ts.must(200, "GET", "/v1/customers/c-b/budget", "op-dist-b", nil)
	ts.must(200, "GET", "/v1/customers/c-b/budget/history", "op-dist-b", nil)
	ts.must(200, "DELETE", "/v1/customers/c-b/budget", "op-dist-b", nil)
	ts.must(200, "PUT", "/v1/partners/res-b1/quota", "op-dist-b", map[string]any{"monthly_quota": "10", "one_time_quota": "0"})
	ts.must(200, "GET", "/v1/partners/res-b1/quota", "op-dist-b", nil)
	ts.must(200, "PUT", "/v1/customers/c-b/resources/vm-1", "bill", map[string]any{"service": "ecs", "billing_mode": "pay_per_use", "product": "cloud"})
	ts.must(200, "GET", "/v1/customers/c-b/resources", "op-dist-b", nil)
	ts.must(200, "GET", "/v1/customers/c-b/resources/vm-1/operations", "op-dist-b", nil)
	ts.must(200, "DELETE", "/v1/customers/c-b/resources/vm-1", "bill", nil)
}

func TestBillingAndBudgetRoutes(t *testing.T) {
	ts := startBillingServer(t)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "ok", "unfreeze_type": "ACCOUNT"})

	// A budget with a freeze policy; the billing feed exhausts it; the system freezes (rule 17).
	r := ts.must(200, "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "1000", "on_exhaustion": "freeze"})
	if b := r.json(t)["budget"].(map[string]any); b["amount"] != "1000.00" || b["counted_spend"] != "0.00" {
		t.Errorf("budget %v", b)
	}
	r = ts.must(200, "POST", "/v1/usage", "bill", map[string]any{"records": []map[string]any{
		{"record_id": "u-1", "customer_id": "c-a", "amount": "1020", "time": now},
		{"record_id": "u-2", "customer_id": "c-nobody", "amount": "1", "time": now},
		{"record_id": "u-3", "customer_id": "c-b", "amount": "1.234", "time": now},
	}})
	res := r.json(t)["results"].([]any)
	if res[0].(map[string]any)["ok"] != true || res[1].(map[string]any)["ok"] != false || res[2].(map[string]any)["ok"] != false {
		t.Errorf("usage results %v", res)
	}
	if e := res[2].(map[string]any)["error"].(map[string]any); !strings.Contains(e["detail"].(string), "records[2].amount") {
		t.Errorf("a 3-decimal amount's error does not name the field: %v", e)
	}
	pos := r.json(t)["position"].(string)
	st := ts.must(200, "GET", "/v1/customers/c-a/status?min_position="+pos, "rd-a", nil).json(t)
	if st["mtd_spend"] != "1020.00" || st["currency"] != "USD" || st["origin"] != "budget" || st["reason"] != "budget exhausted: 1,020.00 of 1,000.00" {
		t.Errorf("status after the budget freeze: %v", st)
	}
	// A retry is a duplicate.
	r = ts.must(200, "POST", "/v1/usage", "bill", map[string]any{"records": []map[string]any{{"record_id": "u-1", "customer_id": "c-a", "amount": "1020", "time": now}}})
	if it := r.json(t)["results"].([]any)[0].(map[string]any); it["duplicate"] != true || r.json(t)["position"] != nil {
		t.Errorf("retry: %s", r.body)
	}
	b := ts.must(200, "GET", "/v1/customers/c-a/budget", "aud-a", nil).json(t)
	if bb := b["budget"].(map[string]any); bb["usage_percent"] != "102.00" || bb["exhausted"] != true || fmt.Sprint(bb["thresholds_reached"]) != "[75 90 100]" {
		t.Errorf("GET budget %v", b)
	}
	h := ts.must(200, "GET", "/v1/customers/c-a/budget/history", "aud-a", nil).json(t)
	if n := len(h["events"].([]any)); n != 5 {
		t.Errorf("budget history has %d events, want 5 (set, 75, 90, 100, the freeze)", n)
	}
	// Setting a budget that is not exhausted may unfreeze in the same command.
	r = ts.must(200, "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "5000", "on_exhaustion": "freeze", "unfreeze": true, "reason": "raised"})
	if c := r.json(t)["customer"].(map[string]any); c["state"] != "ACTIVE" {
		t.Errorf("after set+unfreeze: %v", c)
	}
	// Batches, quotas and the reseller's budget permission.
	ts.must(200, "PUT", "/v1/partners/res-a2/delegation", "op-dist-a", map[string]any{"freeze": false, "budget": true})
	ts.must(200, "PUT", "/v1/partners/res-a2/quota", "op-dist-a", map[string]any{"monthly_quota": "100", "one_time_quota": "0"})
	r = ts.must(200, "PUT", "/v1/customers/budget", "op-res-a2", map[string]any{"customer_ids": []string{"c-a2", "c-a"}, "type": "monthly", "amount": "60", "on_exhaustion": "alert"})
	items := r.json(t)["results"].([]any)
	if items[0].(map[string]any)["ok"] != true || items[1].(map[string]any)["ok"] != false {
		t.Errorf("batch budget: %s", r.body)
	}
	q := ts.must(200, "GET", "/v1/partners/res-a2/quota", "op-res-a2", nil).json(t)
	if q["monthly_allocated"] != "60.00" || q["monthly_quota"] != "100.00" {
		t.Errorf("quota %v", q)
	}
	ts.must(409, "PUT", "/v1/customers/c-a2/budget", "op-res-a2", map[string]any{"type": "monthly", "amount": "101", "on_exhaustion": "alert"})
	ts.must(409, "PUT", "/v1/partners/res-a2/quota", "op-dist-a", map[string]any{"monthly_quota": "59", "one_time_quota": "0"})
	ts.must(200, "DELETE", "/v1/customers/c-a2/budget", "op-res-a2", nil)

	// Resources.
	exp := time.Now().UTC().Add(48 * time.Hour).Format(time.RFC3339)
	r = ts.must(200, "PUT", "/v1/customers/c-a/resources/vm-1", "bill", map[string]any{"service": "ecs", "billing_mode": "yearly_monthly", "product": "cloud", "expires_at": exp})
	ts.must(200, "PUT", "/v1/customers/c-a/resources/saas-1", "bill", map[string]any{"service": "crm", "billing_mode": "pay_per_use", "product": "marketplace_saas"})
	pos = r.json(t)["position"].(string)
	rs := ts.must(200, "GET", "/v1/customers/c-a/resources?limit=1&min_position="+pos, "rd-a", nil).json(t)
	if rs["next_cursor"] != "saas-1" || len(rs["resources"].([]any)) != 1 {
		t.Errorf("resources page: %v", rs)
	}
	ts.must(200, "GET", "/v1/customers/c-a/resources/vm-1/operations", "rd-a", nil)
	ts.must(404, "GET", "/v1/customers/c-a/resources/vm-9/operations", "rd-a", nil)
	st = ts.must(200, "GET", "/v1/customers/c-a", "op-dist-a", nil).json(t)
	if st["resources"] != float64(2) || st["earliest_expiry"] == nil {
		t.Errorf("status resources %v, earliest expiry %v", st["resources"], st["earliest_expiry"])
	}
	ts.must(200, "DELETE", "/v1/customers/c-a/resources/saas-1", "bill", nil)
	ts.must(404, "DELETE", "/v1/customers/c-a/resources/saas-1", "bill", nil)
}

// TestBadInputBilling gives every phase 2 route garbage: a clear 4xx, never a 5xx, nothing appended.
func TestBadInputBilling(t *testing.T) {
	ts := startBillingServer(t)
	now := time.Now().UTC()
	rec := func(amount, at string) map[string]any {
		return map[string]any{"records": []map[string]any{{"record_id": "x-1", "customer_id": "c-a", "amount": amount, "time": at}}}
	}
	big := make([]map[string]any, 1001)
	for i := range big {
		big[i] = map[string]any{"record_id": fmt.Sprintf("b-%d", i), "customer_id": "c-a", "amount": "1", "time": now.Format(time.RFC3339)}
	}
	cases := []struct {
		name, method, path, who string
		body                    any
		want                    int
	}{
		{"usage: no records", "POST", "/v1/usage", "bill", `{"records":[]}`, 400},
		{"usage: 1001 records", "POST", "/v1/usage", "bill", map[string]any{"records": big}, 400},
		{"usage: a partner", "POST", "/v1/usage", "op-dist-a", rec("1", now.Format(time.RFC3339)), 403},
		{"usage: a reader", "POST", "/v1/usage", "rd", rec("1", now.Format(time.RFC3339)), 403},
		{"usage: an amount as a number", "POST", "/v1/usage", "bill", `{"records":[{"record_id":"x","customer_id":"c-a","amount":12.5,"time":"2026-01-01T00:00:00Z"}]}`, 400},
		{"usage: unknown field", "POST", "/v1/usage", "bill", `{"records":[],"extra":1}`, 400},
		{"usage: over 1 MiB", "POST", "/v1/usage", "bill", `{"records":[{"record_id":"` + strings.Repeat("x", 1<<20) + `"}]}`, 413},
		{"budget: NaN", "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "NaN", "on_exhaustion": "freeze"}, 400},
		{"budget: negative", "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "-1", "on_exhaustion": "freeze"}, 400},
		{"budget: 3 decimals", "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "1.001", "on_exhaustion": "freeze"}, 400},
		{"budget: huge", "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "1e400", "on_exhaustion": "freeze"}, 400},
		{"budget: over the maximum", "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "1000000000000.01", "on_exhaustion": "freeze"}, 400},
		{"budget: zero", "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "0", "on_exhaustion": "freeze"}, 400},
		{"budget: wrong type", "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "weekly", "amount": "1", "on_exhaustion": "freeze"}, 400},
		{"budget: amount a number", "PUT", "/v1/customers/c-a/budget", "op-dist-a", `{"type":"monthly","amount":5,"on_exhaustion":"freeze"}`, 400},
		{"budget: unfreeze without reason", "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "1", "on_exhaustion": "freeze", "unfreeze": true}, 400},
		{"budget: a foreign customer", "PUT", "/v1/customers/c-b/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "1", "on_exhaustion": "freeze"}, 404},
		{"budget: an unknown customer", "PUT", "/v1/customers/c-zzz/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "1", "on_exhaustion": "freeze"}, 404},
		{"budget: a reseller without permission", "PUT", "/v1/customers/c-a1/budget", "op-res-a1", map[string]any{"type": "monthly", "amount": "1", "on_exhaustion": "freeze"}, 403},
		{"budget: a reader", "PUT", "/v1/customers/c-a/budget", "rd-a", map[string]any{"type": "monthly", "amount": "1", "on_exhaustion": "freeze"}, 403},
		{"budget: billing", "PUT", "/v1/customers/c-a/budget", "bill", map[string]any{"type": "monthly", "amount": "1", "on_exhaustion": "freeze"}, 403},
		{"budget delete: none", "DELETE", "/v1/customers/c-a/budget", "op-dist-a", nil, 404},
		{"budget batch: 11", "PUT", "/v1/customers/budget", "op-dist-a", map[string]any{"customer_ids": strings.Split("a,b,c,d,e,f,g,h,i,j,k", ","), "type": "monthly", "amount": "1", "on_exhaustion": "alert"}, 400},
		{"budget get: foreign", "GET", "/v1/customers/c-b/budget", "rd-a", nil, 404},
		{"budget get: bad as_of", "GET", "/v1/customers/c-a/budget?as_of=yesterday", "rd-a", nil, 400},
		{"budget history: a reader", "GET", "/v1/customers/c-a/budget/history", "rd-a", nil, 403},
		{"budget history: bad cursor", "GET", "/v1/customers/c-a/budget/history?cursor=zz", "aud-a", nil, 400},
		{"quota: a reseller", "PUT", "/v1/partners/res-a1/quota", "op-res-a1", map[string]any{"monthly_quota": "1", "one_time_quota": "1"}, 403},
		{"quota: foreign", "PUT", "/v1/partners/res-b1/quota", "op-dist-a", map[string]any{"monthly_quota": "1", "one_time_quota": "1"}, 404},
		{"quota: missing", "PUT", "/v1/partners/res-a1/quota", "op-dist-a", map[string]any{"monthly_quota": "1"}, 400},
		{"quota: negative", "PUT", "/v1/partners/res-a1/quota", "op-dist-a", map[string]any{"monthly_quota": "-5", "one_time_quota": "1"}, 400},
		{"quota get: a distributor has none", "GET", "/v1/partners/dist-a/quota", "op-dist-a", nil, 404},
		{"resource: a partner", "PUT", "/v1/customers/c-a/resources/vm-1", "op-dist-a", map[string]any{"service": "ecs", "billing_mode": "pay_per_use", "product": "cloud"}, 403},
		{"resource: bad product", "PUT", "/v1/customers/c-a/resources/vm-1", "bill", map[string]any{"service": "ecs", "billing_mode": "pay_per_use", "product": "hardware"}, 400},
		{"resource: bad expiry", "PUT", "/v1/customers/c-a/resources/vm-1", "bill", map[string]any{"service": "ecs", "billing_mode": "pay_per_use", "product": "cloud", "expires_at": "soon"}, 400},
		{"resource: bad id", "PUT", "/v1/customers/c-a/resources/-vm", "bill", map[string]any{"service": "ecs", "billing_mode": "pay_per_use", "product": "cloud"}, 400},
		{"resource: unknown customer", "PUT", "/v1/customers/c-zzz/resources/vm-1", "bill", map[string]any{"service": "ecs", "billing_mode": "pay_per_use", "product": "cloud"}, 404},
		{"resources: foreign", "GET", "/v1/customers/c-b/resources", "rd-a", nil, 404},
		{"resources: bad limit", "GET", "/v1/customers/c-a/resources?limit=0", "rd-a", nil, 400},
		{"billing reads no status", "GET", "/v1/customers/c-a/status", "bill", nil, 403},
	}
	for _, c := range cases {
		before := ts.head()
		r := ts.call(c.method, c.path, c.who, c.body)
		if r.status != c.want {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.status, c.want, r.body)
		}
		if after := ts.head(); after != before {
			t.Errorf("%s: appended events (head %s -> %s)", c.name, before, after)
		}
	}
	// Per-record refusals in a 200: future times, before the previous month, unknown customers.
	r := ts.must(200, "POST", "/v1/usage", "bill", map[string]any{"records": []map[string]any{
		{"record_id": "f-1", "customer_id": "c-a", "amount": "1", "time": now.Add(10 * time.Minute).Format(time.RFC3339)},
		{"record_id": "f-2", "customer_id": "c-a", "amount": "1", "time": now.AddDate(0, -3, 0).Format(time.RFC3339)},
		{"record_id": "f-3", "customer_id": "c-b", "amount": "-1", "time": now.Format(time.RFC3339)},
		{"record_id": "f-4", "customer_id": "c-a", "amount": "1", "time": "not a time"},
	}})
	for _, it := range r.json(t)["results"].([]any) {
		if it.(map[string]any)["ok"] != false {
			t.Errorf("a bad record accepted: %v", it)
		}
	}
	if r.json(t)["position"] != nil || r.header.Get("X-Ledger-Position") != "" {
		t.Errorf("nothing was appended, yet position %v", r.json(t)["position"])
	}
	_ = http.StatusOK
}
