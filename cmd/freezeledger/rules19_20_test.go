package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
	"github.com/freezeledger/freezeledger/httpapi/verification"
)

// codeNow is principal's current TOTP code for secret on clock.
func codeNow(t *testing.T, secret string, clock *domaintest.Clock) string {
	t.Helper()
	c, err := verification.Code(secret, verification.Step(clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolHTTP enrols and confirms who over the API, returning its secret.
func enrolHTTP(t *testing.T, ts *testServer, clock *domaintest.Clock, who string) string {
	t.Helper()
	e := ts.must(200, "POST", "/v1/principals/self/totp", who, nil).json(t)
	secret, _ := e["secret"].(string)
	if uri, _ := e["otpauth_uri"].(string); secret == "" || !strings.HasPrefix(uri, "otpauth://totp/") {
		t.Fatalf("enrolment %v", e)
	}
	ts.must(403, "POST", "/v1/principals/self/totp/confirm", who, map[string]any{"code": "000000"})
	ts.must(200, "POST", "/v1/principals/self/totp/confirm", who, map[string]any{"code": codeNow(t, secret, clock)})
	clock.Advance(verification.Period)
	return secret
}

func problemCode(t *testing.T, r response) string {
	t.Helper()
	var p struct{ Code string }
	_ = json.Unmarshal(r.body, &p)
	return p.Code
}

// TestRule19_VerificationCodesEndToEnd: enrolment, the admin's switch, critical operations with
// and without codes (403 verification_required), the event's metadata, replays, 50 concurrent
// requests with one code (exactly one succeeds), the lockout (429 with Retry-After) and that used
// codes and the lockout survive a restart; the verifier accepts the log.
func TestRule19_VerificationCodesEndToEnd(t *testing.T) {
	clock := domaintest.NewClock(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	tweak := func(m *Main) { m.Clock = clock }
	ts := startServerPhase2(t, dir, tweak)
	ts.setupHierarchy()
	secret := enrolHTTP(t, ts, clock, "adm-dist-a")

	// Replacing an active enrolment needs its code.
	ts.must(403, "POST", "/v1/principals/self/totp", "adm-dist-a", nil)
	// A non-admin cannot switch; the admin needs a code to.
	ts.must(403, "PUT", "/v1/partners/dist-a/verification", "op-dist-a", map[string]any{"enabled": true})
	if r := ts.must(403, "PUT", "/v1/partners/dist-a/verification", "adm-dist-a", map[string]any{"enabled": true}); problemCode(t, r) != "verification_required" {
		t.Fatalf("switch without a code: %s", r.body)
	}
	ts.must(200, "PUT", "/v1/partners/dist-a/verification", "adm-dist-a", map[string]any{"enabled": true}, "X-Verification-Code", codeNow(t, secret, clock))
	if p := ts.must(200, "GET", "/v1/partners/dist-a", "op-dist-a", nil).json(t); p["verification_required"] != true {
		t.Fatalf("partner %v", p)
	}
	if p := ts.must(200, "GET", "/v1/partners/dist-b", "op-dist-b", nil).json(t); p["verification_required"] != false {
		t.Fatalf("partner %v", p)
	}

	// dist-a's principals need codes for critical operations; dist-b's do not.
	unfreeze := map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"}
	if r := ts.must(403, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", unfreeze); problemCode(t, r) != "verification_required" {
		t.Fatalf("no code: %s", r.body)
	}
	ts.must(403, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", unfreeze, "X-Verification-Code", "123456") // not enrolled
	ts.must(403, "POST", "/v1/customers/freeze", "op-dist-a", map[string]any{"customer_ids": []string{"c-a"}, "reason": "x"})
	ts.must(200, "POST", "/v1/customers/c-b/unfreeze", "op-dist-b", unfreeze)
	clock.Advance(verification.Period)
	code := codeNow(t, secret, clock)
	ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "adm-dist-a", unfreeze, "X-Verification-Code", code)
	ts.must(403, "POST", "/v1/customers/c-a2/unfreeze", "adm-dist-a", unfreeze, "X-Verification-Code", code) // replayed
	hist := ts.must(200, "GET", "/v1/customers/c-a/history", "aud", nil).json(t)
	evs := hist["events"].([]any)
	last := evs[len(evs)-1].(map[string]any)
	if md := last["metadata"].(map[string]any); md["verification"] != "totp" || last["type"] != domain.EventCustomerUnfrozen {
		t.Fatalf("the verified event: %v", last)
	}
	if strings.Contains(string(ts.must(200, "GET", "/v1/audit/export", "aud", nil).body), secret) {
		t.Fatal("the export holds the TOTP secret")
	}

	// 50 concurrent requests with one code: exactly one is verified.
	clock.Advance(verification.Period)
	code = codeNow(t, secret, clock)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := ts.call("POST", "/v1/customers/c-a/freeze", "adm-dist-a", map[string]any{"reason": "hold", "freeze_type": "ACCOUNT"}, "X-Verification-Code", code)
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[200] != 1 || statuses[403] != 49 {
		t.Fatalf("50 requests with one code: %v, want one 200 and 49 403", statuses)
	}

	// Five wrong codes within 5 minutes: 429 with Retry-After, also for a correct code, across a
	// restart; after 15 minutes a fresh code works. (The wrong confirmation code of the enrolment
	// falls out of the window first.)
	clock.Advance(verification.FailureWindow)
	for i := range 5 {
		r := ts.call("POST", "/v1/customers/c-a2/unfreeze", "adm-dist-a", unfreeze, "X-Verification-Code", "000000")
		want := 403
		if i == 4 {
			want = 429
		}
		if r.status != want {
			t.Fatalf("wrong code %d: %d, want %d: %s", i+1, r.status, want, r.body)
		}
	}
	ts.shutdown()
	ts = startServerPhase2Restart(t, dir, ts, tweak)
	r := ts.must(429, "POST", "/v1/customers/c-a2/unfreeze", "adm-dist-a", unfreeze, "X-Verification-Code", codeNow(t, secret, clock))
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 1 || ra > 15*60 || problemCode(t, r) != "rate_limited" {
		t.Fatalf("locked: Retry-After %q, %s", r.header.Get("Retry-After"), r.body)
	}
	ts.must(429, "POST", "/v1/customers/c-a2/unfreeze", "adm-dist-a", unfreeze) // no code: still locked
	clock.Advance(15 * time.Minute)
	ts.must(403, "POST", "/v1/customers/c-a2/unfreeze", "adm-dist-a", unfreeze, "X-Verification-Code", code) // used before the restart
	clock.Advance(verification.Period)
	ts.must(200, "POST", "/v1/customers/c-a2/unfreeze", "adm-dist-a", unfreeze, "X-Verification-Code", codeNow(t, secret, clock))
}

// startServerPhase2Restart starts serve again on dir with the tokens of ts.
func startServerPhase2Restart(t *testing.T, dir string, old *testServer, tweak func(*Main)) *testServer {
	t.Helper()
	ts := startServerIn(t, dir, nil, tweak)
	for n, tok := range old.tokens {
		ts.tokens[n] = tok
	}
	return ts
}

// TestRule20_DisassociationEndToEnd: an admin's request, the customer's view of it, the customer's
// acceptance (associated false, the old partner's 404), re-association by another partner (frozen
// by default), a lapse after 7 days and the 90-day refusal; the verifier accepts the log.
func TestRule20_DisassociationEndToEnd(t *testing.T) {
	clock := domaintest.NewClock(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	ts := startServerPhase2(t, t.TempDir(), func(m *Main) { m.Clock = clock })
	ts.setupHierarchy()
	reason := map[string]any{"reason": "moving to another partner"}

	ts.must(403, "POST", "/v1/customers/c-a/disassociation", "op-dist-a", reason) // not an admin
	ts.must(404, "POST", "/v1/customers/c-b/disassociation", "cust-a", reason)    // not itself
	ts.must(400, "POST", "/v1/customers/c-a/disassociation", "cust-a", map[string]any{"reason": " "})
	w := ts.must(201, "POST", "/v1/customers/c-a/disassociation", "adm-dist-a", reason).json(t)
	d := w["disassociation"].(map[string]any)
	if d["state"] != "pending" || d["expires_at"] != "2026-12-03T10:00:00.000Z" {
		t.Fatalf("request %v", d)
	}
	if r := ts.must(409, "POST", "/v1/customers/c-a/disassociation", "cust-a", reason); !strings.Contains(string(r.body), "pending") {
		t.Fatalf("a second request: %s", r.body)
	}
	ts.must(403, "POST", "/v1/customers/c-a/disassociation/accept", "adm-dist-a", reason) // the requester's side
	got := ts.must(200, "GET", "/v1/customers/c-a/disassociation", "cust-a", nil).json(t)
	if got["disassociation"].(map[string]any)["state"] != "pending" {
		t.Fatalf("the customer sees %v", got)
	}
	ts.must(200, "GET", "/v1/customers/c-a/operations/purchase", "cust-a", nil)
	ts.must(404, "GET", "/v1/customers/c-b/status", "cust-a", nil)
	ts.must(403, "GET", "/v1/customers", "cust-a", nil)

	acc := ts.must(200, "POST", "/v1/customers/c-a/disassociation/accept", "cust-a", map[string]any{"reason": "agreed"}).json(t)
	if c := acc["customer"].(map[string]any); c["associated"] != false || c["state"] != "ACTIVE" || acc["disassociation"].(map[string]any)["state"] != "accepted" {
		t.Fatalf("accepted %v", acc)
	}
	pos := acc["position"].(string)
	ts.must(404, "GET", "/v1/customers/c-a/status?min_position="+pos, "op-dist-a", nil)
	ts.must(404, "GET", "/v1/customers/c-a/status", "aud-a", nil)
	if s := ts.must(200, "GET", "/v1/customers/c-a/status", "plat", nil).json(t); s["associated"] != false {
		t.Fatalf("the platform sees %v", s)
	}
	if s := ts.must(200, "GET", "/v1/customers/c-a/status", "cust-a", nil).json(t); s["associated"] != false {
		t.Fatalf("the customer sees %v", s)
	}
	// The platform's search: associated=false finds it, associated=true does not.
	for q, want := range map[string]bool{"false": true, "true": false} {
		page := ts.must(200, "GET", "/v1/customers?associated="+q+"&customer_id=c-a", "plat", nil).json(t)
		found := false
		for _, c := range page["customers"].([]any) {
			found = found || c.(map[string]any)["customer_id"] == "c-a"
		}
		if found != want {
			t.Errorf("search associated=%s: c-a found %v, want %v", q, found, want)
		}
	}
	ts.must(404, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "x", "unfreeze_type": "ACCOUNT"})
	re := ts.must(201, "POST", "/v1/customers", "op-dist-b", map[string]any{"customer_id": "c-a", "name": "Customer c-a", "partner_id": "dist-b"}).json(t)
	if c := re["customer"].(map[string]any); c["state"] != "FROZEN" || c["origin"] != "association" || c["associated"] != true || c["partner_id"] != "dist-b" {
		t.Fatalf("re-associated %v", c)
	}

	// A request by dist-b's admin lapses after 7 days (the system sweep); then 90 days must pass.
	ts.must(200, "POST", "/v1/customers/c-b/unfreeze", "op-dist-b", map[string]any{"reason": "x", "unfreeze_type": "ACCOUNT"})
	ts.must(201, "POST", "/v1/customers/c-b/disassociation", "adm-dist-b", reason)
	clock.Advance(7 * 24 * time.Hour)
	ts.m.mu.Lock()
	svc := ts.m.led.svc
	ts.m.mu.Unlock()
	if n, err := svc.LapseDisassociations(context.Background()); err != nil || n != 1 {
		t.Fatalf("lapse: %d, %v", n, err)
	}
	head := ts.head().String()
	st := ts.must(200, "GET", "/v1/customers/c-b/disassociation?min_position="+head, "op-dist-b", nil).json(t)
	if st["disassociation"].(map[string]any)["state"] != "lapsed" {
		t.Fatalf("after 7 days %v", st)
	}
	if r := ts.must(409, "POST", "/v1/customers/c-b/disassociation", "adm-dist-b", reason); !strings.Contains(string(r.body), "90 days") {
		t.Fatalf("within 90 days: %s", r.body)
	}
	ts.shutdown()
	var out, errs syncBuffer
	if code := run(context.Background(), []string{"verify", "--data-dir", ts.dir}, &out, &errs); code != 0 {
		t.Fatalf("verify --data-dir: exit %d\n%s%s", code, out.String(), errs.String())
	}
}

// TestRule20_BudgetEndsWithTheAssociationEndToEnd: after an accepted disassociation the customer's
// budget is null in its status and budget reads, its budget history ends with the acceptance, the
// billing feed's records and resources for it are refused not_found (it is no partner's customer),
// the old partner sets no budget on it, and the verifier accepts the log.
func TestRule20_BudgetEndsWithTheAssociationEndToEnd(t *testing.T) {
	clock := domaintest.NewClock(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	ts := startServerPhase2(t, t.TempDir(), func(m *Main) { m.Clock = clock })
	ts.setupHierarchy()
	ts.must(200, "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "100", "on_exhaustion": "freeze"})
	rec := func(id string) map[string]any {
		return map[string]any{"records": []map[string]any{{"record_id": id, "customer_id": "c-a", "amount": "5", "time": "2026-11-26T09:00:00Z"}}}
	}
	if r := ts.must(200, "POST", "/v1/usage", "bill", rec("u-1")).json(t); r["results"].([]any)[0].(map[string]any)["ok"] != true {
		t.Fatalf("usage before: %v", r)
	}
	ts.must(201, "POST", "/v1/customers/c-a/disassociation", "cust-a", map[string]any{"reason": "leaving"})
	acc := ts.must(200, "POST", "/v1/customers/c-a/disassociation/accept", "adm-dist-a", map[string]any{"reason": "agreed"}).json(t)
	if c := acc["customer"].(map[string]any); c["budget"] != nil || c["associated"] != false {
		t.Fatalf("accepted: budget %v, associated %v", c["budget"], c["associated"])
	}
	pos := acc["position"].(string)
	if b := ts.must(200, "GET", "/v1/customers/c-a/budget?min_position="+pos, "plat", nil).json(t); b["budget"] != nil {
		t.Errorf("budget after acceptance: %v", b)
	}
	h := ts.must(200, "GET", "/v1/customers/c-a/budget/history", "cust-a", nil).json(t)["events"].([]any)
	if last := h[len(h)-1].(map[string]any); last["type"] != "customer.disassociation_accepted" {
		t.Errorf("the budget history ends with %v", last["type"])
	}
	r := ts.must(200, "POST", "/v1/usage", "bill", rec("u-2")).json(t)
	if it := r["results"].([]any)[0].(map[string]any); it["ok"] != false || it["error"].(map[string]any)["code"] != "not_found" {
		t.Errorf("a usage record after disassociation: %v, want not_found", it)
	}
	ts.must(404, "PUT", "/v1/customers/c-a/resources/vm-1", "bill", map[string]any{"service": "ecs", "billing_mode": "pay_per_use", "product": "cloud"})
	ts.must(404, "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "100", "on_exhaustion": "alert"})
	ts.shutdown()
	var out, errs syncBuffer
	if code := run(context.Background(), []string{"verify", "--data-dir", ts.dir}, &out, &errs); code != 0 {
		t.Fatalf("verify --data-dir: exit %d\n%s%s", code, out.String(), errs.String())
	}
}
