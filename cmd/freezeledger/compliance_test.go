package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// ids lists the values of field in the objects of r[list].
func listIDs(t *testing.T, r response, list, field string) []string {
	t.Helper()
	out := []string{}
	for _, x := range r.json(t)[list].([]any) {
		out = append(out, x.(map[string]any)[field].(string))
	}
	return out
}

// TestComplianceQueries drives issue 17's routes through the real server (every response checked
// against the OpenAPI document): the search's new filters, partners, histories, timelines, filtered
// audit events, and a 400 naming the parameter for every bad value.
func TestComplianceQueries(t *testing.T) {
	ts := startServer(t)
	ts.setupHierarchy()
	before := ts.head().String()
	ts.must(200, "POST", "/v1/partners/res-a2/freeze", "op-dist-a", map[string]any{"reason": "overdue"})
	ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"})

	search := func(who string, kv ...string) []string {
		t.Helper()
		return listIDs(t, ts.must(200, "GET", "/v1/customers"+q(kv...), who, nil), "customers", "customer_id")
	}
	for _, c := range []struct {
		who  string
		kv   []string
		want []string
	}{
		{"plat", []string{"distributor_id", "dist-a"}, []string{"c-a", "c-a1", "c-a2"}},
		{"plat", []string{"distributor_id", "dist-a", "association_type", "reseller"}, []string{"c-a1", "c-a2"}},
		{"plat", []string{"association_type", "direct"}, []string{"c-a", "c-b", "c-c"}},
		{"plat", []string{"managed_by", "dist-a"}, []string{"c-a", "c-a2"}},
		{"plat", []string{"managed_by", "res-a1"}, []string{"c-a1"}},
		{"plat", []string{"customer_id", "c-b"}, []string{"c-b", "c-b1"}},
		{"plat", []string{"associated", "true", "distributor_id", "dist-b"}, []string{"c-b", "c-b1"}},
		{"plat", []string{"associated", "false"}, []string{}},
		{"plat", []string{"frozen", "false"}, []string{"c-a"}},
		{"plat", []string{"frozen", "false", "as_of", "position:" + before}, []string{}},
		{"plat", []string{"origin", "partner"}, []string{"c-a2"}},
		{"rd-a", []string{"tag", "gold", "frozen", "true"}, []string{"c-a1", "c-a2"}},
		{"rd-res-a1", []string{}, []string{"c-a1"}},
		{"op-dist-b", []string{"distributor_id", "dist-a"}, []string{}},
	} {
		if got := search(c.who, c.kv...); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("GET /v1/customers%s as %s = %v, want %v", q(c.kv...), c.who, got, c.want)
		}
	}

	// Partners: the list, a past state, the history with what its principals did.
	if got := listIDs(t, ts.must(200, "GET", "/v1/partners?frozen=true", "aud-a", nil), "partners", "partner_id"); fmt.Sprint(got) != "[res-a2]" {
		t.Errorf("frozen partners seen by aud-a = %v", got)
	}
	if got := listIDs(t, ts.must(200, "GET", "/v1/partners?parent_id=dist-a&type=reseller", "plat", nil), "partners", "partner_id"); fmt.Sprint(got) != "[res-a1 res-a2]" {
		t.Errorf("dist-a's resellers = %v", got)
	}
	if p := ts.must(200, "GET", "/v1/partners/res-a2?as_of=position:"+before, "op-dist-a", nil).json(t); p["frozen"] != false {
		t.Errorf("res-a2 before its freeze: %v", p)
	}
	h := ts.must(200, "GET", "/v1/partners/dist-a/history?limit=1000", "aud-a", nil)
	types := map[string]int{}
	for _, e := range h.json(t)["events"].([]any) {
		types[e.(map[string]any)["type"].(string)]++
	}
	if types["partner.registered"] != 3 || types["customer.associated"] != 3 || types["partner.frozen"] != 1 || types["customer.unfrozen"] != 1 {
		t.Errorf("dist-a's history by type: %v", types)
	}

	// The timeline of a customer under a reseller frozen after its association.
	tl := ts.must(200, "GET", "/v1/customers/c-a2/timeline", "op-dist-a", nil).json(t)
	ivs := tl["intervals"].([]any)
	last := ivs[len(ivs)-1].(map[string]any)
	cause := last["cause"].(map[string]any)
	if last["to"] != nil || last["effective_origin"] != "partner" || cause["kind"] != "partner" || cause["partner_id"] != "res-a2" || cause["event_type"] != "partner.frozen" {
		t.Errorf("c-a2's current interval = %v", last)
	}

	// Audit events by actor and type, scoped auditors filtered on top.
	ev := ts.must(200, "GET", "/v1/audit/events"+q("actor", "op-dist-a", "type", "customer.associated"), "aud", nil).json(t)
	for _, e := range ev["events"].([]any) {
		m := e.(map[string]any)
		if m["type"] != "customer.associated" || m["actor"].(map[string]any)["name"] != "op-dist-a" {
			t.Errorf("filtered event %v", m)
		}
	}
	if n := len(ev["events"].([]any)); n != 2 { // c-a and c-a2
		t.Errorf("op-dist-a's associations: %d events", n)
	}
	if evs := ts.must(200, "GET", "/v1/audit/events"+q("actor_partner_id", "dist-b"), "aud-a", nil).json(t)["events"].([]any); len(evs) != 0 {
		t.Errorf("aud-a sees %d events of dist-b's principals", len(evs))
	}
	nd := ts.must(200, "GET", "/v1/audit/events"+q("partner_id", "res-a2", "from", before), "aud", nil, "Accept", "application/x-ndjson")
	if n := strings.Count(string(nd.body), "\n"); n != 1 { // the reseller's freeze
		t.Errorf("res-a2's events from %s: %d lines: %s", before, n, nd.body)
	}

	// Bad input: a 400 that names the parameter.
	for _, c := range []struct{ path, param string }{
		{"/v1/customers?distributor_id=a%20b", "distributor_id"},
		{"/v1/customers?association_type=indirect", "association_type"},
		{"/v1/customers?managed_by=-x", "managed_by"},
		{"/v1/customers?customer_id=%2A", "customer_id"},
		{"/v1/customers?associated=maybe", "associated"},
		{"/v1/customers?as_of=yesterday", "as_of"},
		{"/v1/customers?as_of=position:x", "as_of"},
		{"/v1/customers?associated_after=2026-13-01T00:00:00Z", "associated_after"},
		{"/v1/customers?frozen=1x", "frozen"},
		{"/v1/customers?limit=0", "limit"},
		{"/v1/customers?mtd_spend_min=-1", "mtd_spend_min"},
		{"/v1/customers?mtd_spend_min=10.001", "mtd_spend_min"},
		{"/v1/customers?mtd_spend_max=abc", "mtd_spend_max"},
		{"/v1/customers?mtd_spend_max=1000000000000.01", "mtd_spend_max"},
		{"/v1/customers?budget_usage_min=NaN", "budget_usage_min"},
		{"/v1/customers?budget_usage_min=75%25", "budget_usage_min"},
		{"/v1/customers?budget_usage_max=1e2", "budget_usage_max"},
		{"/v1/customers?budget_type=weekly", "budget_type"},
		{"/v1/customers?resource_expires_before=2026-12-01", "resource_expires_before"},
		{"/v1/customers?resource_expires_after=soon", "resource_expires_after"},
		{"/v1/customers?account_name=" + strings.Repeat("a", 129), "account_name"}, // rule 21: a bad value (the filter exists)
		{"/v1/customers?mobile=8613800000000", "mobile"},
		{"/v1/partners?type=customer", "type"},
		{"/v1/partners?parent_id=a%20b", "parent_id"},
		{"/v1/partners?frozen=perhaps", "frozen"},
		{"/v1/partners?limit=1001", "limit"},
		{"/v1/partners/res-a1?as_of=2026-02-30T00:00:00Z", "as_of"},
		{"/v1/partners/res-a1/history?limit=-1", "limit"},
		{"/v1/audit/events?type=customer.melted", "type"},
		{"/v1/audit/events?type=customer.frozen,", "type"},
		{"/v1/audit/events?customer_id=a%2Fb", "customer_id"},
		{"/v1/audit/events?partner_id=%20", "partner_id"},
		{"/v1/audit/events?actor_partner_id=a%20b", "actor_partner_id"},
		{"/v1/audit/events?actor=a%0Ab", "actor"},
		{"/v1/audit/events?from=tomorrow", "from"},
		{"/v1/audit/events?to=12x", "to"},
	} {
		r := ts.call("GET", c.path, "plat", nil)
		var pr struct{ Code, Detail string }
		_ = json.Unmarshal(r.body, &pr)
		if r.status != 400 || pr.Code != "invalid" || !strings.Contains(pr.Detail, c.param) {
			u, _ := url.PathUnescape(c.path)
			t.Errorf("GET %s: %d %s, want 400 invalid naming %s", u, r.status, r.body, c.param)
		}
	}
}

// TestComplianceBillingFilters: the search's billing filters through the real server (month-to-date
// spend, budget usage and type, earliest resource expiry, also past 2262), combined with the others,
// as of a past position, and within the caller's tenancy.
func TestComplianceBillingFilters(t *testing.T) {
	ts := startBillingServer(t)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	ts.must(200, "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "1000", "on_exhaustion": "alert"})
	ts.must(200, "PUT", "/v1/customers/c-b/budget", "op-dist-b", map[string]any{"type": "one_time", "amount": "100", "on_exhaustion": "alert"})
	before := ts.head().String()
	ts.must(200, "POST", "/v1/usage", "bill", map[string]any{"records": []map[string]any{
		{"record_id": "s-1", "customer_id": "c-a", "amount": "812", "time": now},
		{"record_id": "s-2", "customer_id": "c-b", "amount": "10", "time": now},
		{"record_id": "s-3", "customer_id": "c-b1", "amount": "0.01", "time": now},
	}})
	ts.must(200, "PUT", "/v1/customers/c-a1/resources/vm-1", "bill", map[string]any{"service": "ecs", "billing_mode": "yearly_monthly", "product": "cloud", "expires_at": "2030-01-01T00:00:00Z"})
	ts.must(200, "PUT", "/v1/customers/c-b/resources/vm-2", "bill", map[string]any{"service": "ecs", "billing_mode": "yearly_monthly", "product": "cloud", "expires_at": "2300-01-01T00:00:00Z"})
	ts.must(200, "PUT", "/v1/customers/c-b/resources/vm-3", "bill", map[string]any{"service": "ecs", "billing_mode": "pay_per_use", "product": "cloud"})
	head := ts.head().String()

	for _, c := range []struct {
		who  string
		kv   []string
		want []string
	}{
		{"plat", []string{"mtd_spend_min", "812"}, []string{"c-a"}},
		{"plat", []string{"mtd_spend_min", "0.01", "mtd_spend_max", "811.99"}, []string{"c-b", "c-b1"}},
		{"plat", []string{"mtd_spend_max", "0"}, []string{"c-a1", "c-a2", "c-c"}},
		{"plat", []string{"budget_usage_min", "81.2"}, []string{"c-a"}},
		{"plat", []string{"budget_usage_min", "81.21"}, []string{}},
		{"plat", []string{"budget_usage_max", "81.19"}, []string{"c-b"}},
		{"plat", []string{"budget_type", "monthly"}, []string{"c-a"}},
		{"plat", []string{"budget_type", "one_time"}, []string{"c-b"}},
		{"plat", []string{"budget_type", "none", "distributor_id", "dist-a"}, []string{"c-a1", "c-a2"}},
		{"plat", []string{"resource_expires_before", "2100-01-01T00:00:00Z"}, []string{"c-a1"}},
		{"plat", []string{"resource_expires_after", "2299-12-31T00:00:00Z"}, []string{"c-b"}},
		{"plat", []string{"resource_expires_after", "2030-01-01T00:00:00Z", "resource_expires_before", "2300-01-01T00:00:00Z"}, []string{}},
		{"plat", []string{"mtd_spend_min", "1", "as_of", "position:" + before}, []string{}},
		{"plat", []string{"budget_type", "one_time", "as_of", "position:" + before}, []string{"c-b"}},
		{"plat", []string{"mtd_spend_min", "1", "frozen", "true", "min_position", head}, []string{"c-a", "c-b"}},
		{"op-dist-b", []string{"mtd_spend_min", "0.01"}, []string{"c-b", "c-b1"}},
		{"rd-res-a1", []string{"resource_expires_before", "2100-01-01T00:00:00Z"}, []string{"c-a1"}},
		{"rd-res-a1", []string{"budget_type", "monthly"}, []string{}},
	} {
		got := listIDs(t, ts.must(200, "GET", "/v1/customers"+q(c.kv...), c.who, nil), "customers", "customer_id")
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("GET /v1/customers%s as %s = %v, want %v", q(c.kv...), c.who, got, c.want)
		}
	}
}
