package main

import (
	"context"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain/domaintest"
	"github.com/freezeledger/freezeledger/httpapi/verification"
)

// TestRule19_BudgetsQuotasAndErasureEndToEnd: with dist-a's verification on, setting a budget
// (single, with its unfreeze, and batch), removing one, setting a quota and erasing personal data
// need a real, unused code (403 verification_required without one), and each is recorded as
// verified; dist-b's principals are not asked; the verifier accepts the log.
func TestRule19_BudgetsQuotasAndErasureEndToEnd(t *testing.T) {
	clock := domaintest.NewClock(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	ts := startServerPhase2(t, t.TempDir(), func(m *Main) { m.Clock = clock })
	ts.setupHierarchy()
	ts.must(201, "POST", "/v1/customers", "op-dist-a", map[string]any{"customer_id": "c-p", "name": "Customer c-p", "partner_id": "dist-a",
		"personal": map[string]any{"mobile": "+4915112345678"}})
	secret := enrolHTTP(t, ts, clock, "adm-dist-a")
	code := func() string {
		t.Helper()
		clock.Advance(verification.Period) // each code is accepted once: a fresh step each time
		return codeNow(t, secret, clock)
	}
	ts.must(200, "PUT", "/v1/partners/dist-a/verification", "adm-dist-a", map[string]any{"enabled": true}, "X-Verification-Code", code())

	budget := map[string]any{"type": "monthly", "amount": "100", "on_exhaustion": "freeze"}
	withUnfreeze := map[string]any{"type": "monthly", "amount": "100", "on_exhaustion": "freeze", "unfreeze": true, "reason": "budget set"}
	batch := map[string]any{"customer_ids": []string{"c-a", "c-a2"}, "type": "monthly", "amount": "50", "on_exhaustion": "alert"}
	quota := map[string]any{"monthly_quota": "500", "one_time_quota": "0"}
	erase := map[string]any{"reason": "erasure request #7"}
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/v1/customers/c-a/budget", budget},
		{"PUT", "/v1/customers/c-a2/budget", withUnfreeze},
		{"PUT", "/v1/customers/budget", batch},
		{"DELETE", "/v1/customers/c-a/budget", nil},
		{"PUT", "/v1/partners/res-a1/quota", quota},
		{"POST", "/v1/customers/c-p/erase", erase},
	} {
		if r := ts.must(403, tc.method, tc.path, "adm-dist-a", tc.body); problemCode(t, r) != "verification_required" {
			t.Fatalf("%s %s without a code: %s", tc.method, tc.path, r.body)
		}
		if r := ts.must(403, tc.method, tc.path, "adm-dist-a", tc.body, "X-Verification-Code", "000000"); problemCode(t, r) != "verification_required" {
			t.Fatalf("%s %s with a wrong code: %s", tc.method, tc.path, r.body)
		}
		clock.Advance(verification.FailureWindow) // the wrong codes do not add up to a lockout
		r := ts.must(200, tc.method, tc.path, "adm-dist-a", tc.body, "X-Verification-Code", code())
		if res := r.json(t); tc.path == "/v1/customers/budget" {
			for _, it := range res["results"].([]any) {
				if it.(map[string]any)["ok"] != true {
					t.Fatalf("batch with a code: %s", r.body)
				}
			}
		}
	}
	// Every event of dist-a's principals since the switch records its verification.
	ev := ts.must(200, "GET", "/v1/audit/events?actor_partner_id=dist-a&limit=1000", "aud", nil).json(t)["events"].([]any)
	seen := map[string]int{}
	after := false
	for _, e := range ev {
		e := e.(map[string]any)
		if e["type"] == "partner.verification_set" {
			after = true
			continue
		}
		if !after {
			continue
		}
		seen[e["type"].(string)]++
		if md := e["metadata"].(map[string]any); md["verification"] != "totp" {
			t.Errorf("%s after the switch without verification: %v", e["type"], md)
		}
	}
	for typ, n := range map[string]int{"budget.set": 4, "budget.removed": 1, "customer.unfrozen": 1, "partner.quota_set": 1, "customer.personal_data_erased": 1} {
		if seen[typ] != n {
			t.Errorf("%d %s events after the switch, want %d (all: %v)", seen[typ], typ, n, seen)
		}
	}
	// Another partner's principals are not asked.
	ts.must(200, "PUT", "/v1/customers/c-b/budget", "op-dist-b", budget)
	ts.must(200, "PUT", "/v1/partners/res-b1/quota", "op-dist-b", quota)
	ts.shutdown()
	var out, errs syncBuffer
	if code := run(context.Background(), []string{"verify", "--data-dir", ts.dir}, &out, &errs); code != 0 {
		t.Fatalf("verify --data-dir: exit %d\n%s%s", code, out.String(), errs.String())
	}
}
