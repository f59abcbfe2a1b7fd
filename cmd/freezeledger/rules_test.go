package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// testClock is a clock a test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func status(t *testing.T, ts *testServer, who, id string) map[string]any {
	t.Helper()
	return ts.must(200, "GET", "/v1/customers/"+id+"/status", who, nil).json(t)
}

func wantFields(t *testing.T, what string, got map[string]any, kv ...any) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if got[k] != kv[i+1] {
			t.Errorf("%s: %s = %v, want %v (in %v)", what, k, got[k], kv[i+1], got)
		}
	}
}

func wantProblem(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.code() != code {
		t.Errorf("got %d %s, want %d %s: %s", r.status, r.code(), status, code, r.body)
	}
}

// TestRulesThroughAPI checks every rule of docs/RULES.md through the HTTP API.
func TestRulesThroughAPI(t *testing.T) {
	clock := &testClock{t: time.Now().UTC()}
	ts := startServerIn(t, t.TempDir(), standardPrincipals, func(m *Main) {
		m.Clock = clock
		m.ReleaseInterval = time.Hour // the test releases explicitly
		m.WaitTimeout = 300 * time.Millisecond
	})
	ts.setupHierarchy()
	freeze := func(id, typ, reason string) map[string]any {
		return map[string]any{"reason": reason, "freeze_type": typ}
	}
	unfreeze := func(typ, reason string) map[string]any {
		return map[string]any{"reason": reason, "unfreeze_type": typ}
	}

	t.Run("rule 1: a new customer starts frozen by association", func(t *testing.T) {
		wantFields(t, "c-a", status(t, ts, "op-dist-a", "c-a"), "state", "FROZEN", "freeze_type", "ACCOUNT", "origin", "association")
	})

	t.Run("rule 2: only the manager freezes and unfreezes", func(t *testing.T) {
		// res-a1 has the freeze permission: it manages c-a1, its distributor no longer does.
		wantProblem(t, ts.call("POST", "/v1/customers/c-a1/unfreeze", "op-dist-a", unfreeze("ACCOUNT", "x")), 403, "forbidden")
		ts.must(200, "POST", "/v1/customers/c-a1/unfreeze", "op-res-a1", unfreeze("ACCOUNT", "verified"))
		// res-a2 has no delegation: its distributor manages c-a2.
		wantProblem(t, ts.call("POST", "/v1/customers/c-a2/unfreeze", "op-res-a2", unfreeze("ACCOUNT", "x")), 403, "forbidden")
		ts.must(200, "POST", "/v1/customers/c-a2/unfreeze", "op-dist-a", unfreeze("ACCOUNT", "verified"))
		// The platform manages partners, not customers; another distributor does not even see it.
		wantProblem(t, ts.call("POST", "/v1/customers/c-a/unfreeze", "plat", unfreeze("ACCOUNT", "x")), 403, "forbidden")
		wantProblem(t, ts.call("POST", "/v1/customers/c-a/unfreeze", "op-dist-b", unfreeze("ACCOUNT", "x")), 404, "not_found")
		ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", unfreeze("ACCOUNT", "verified"))
	})

	t.Run("rule 3: a frozen partner cannot act", func(t *testing.T) {
		ts.must(200, "POST", "/v1/partners/res-a1/freeze", "op-dist-a", map[string]any{"reason": "breach"})
		before := ts.head()
		wantProblem(t, ts.call("POST", "/v1/customers/c-a1/freeze", "op-res-a1", freeze("c-a1", "ACCOUNT", "x")), 403, "actor_frozen")
		wantProblem(t, ts.call("POST", "/v1/customers", "op-res-a1", map[string]any{"customer_id": "c-new", "name": "n", "partner_id": "res-a1"}), 403, "actor_frozen")
		if ts.head() != before {
			t.Error("a frozen partner's refused command appended events")
		}
		ts.must(200, "POST", "/v1/partners/res-a1/unfreeze", "op-dist-a", map[string]any{"reason": "settled"})
		ts.must(200, "POST", "/v1/customers/c-a1/freeze", "op-res-a1", freeze("c-a1", "ACCOUNT", "overdue"))
		// A frozen distributor cannot register resellers.
		ts.must(200, "POST", "/v1/partners/dist-b/freeze", "plat", map[string]any{"reason": "audit"})
		wantProblem(t, ts.call("POST", "/v1/partners", "op-dist-b", map[string]any{"partner_id": "res-b9", "name": "n", "type": "reseller", "parent_id": "dist-b"}), 403, "actor_frozen")
		ts.must(200, "POST", "/v1/partners/dist-b/unfreeze", "plat", map[string]any{"reason": "done"})
	})

	t.Run("rule 4: every freeze and unfreeze carries a reason of 1 to 256 characters", func(t *testing.T) {
		for _, reason := range []string{"", "   ", strings.Repeat("r", 257)} {
			wantProblem(t, ts.call("POST", "/v1/customers/c-a/freeze", "op-dist-a", freeze("c-a", "ACCOUNT", reason)), 400, "invalid")
			wantProblem(t, ts.call("POST", "/v1/partners/res-a2/freeze", "op-dist-a", map[string]any{"reason": reason}), 400, "invalid")
		}
		ts.must(200, "POST", "/v1/customers/c-a/freeze", "op-dist-a", freeze("c-a", "ACCOUNT", strings.Repeat("r", 256)))
	})

	t.Run("rule 5: freeze types, upgrades, conflicts and idempotent retries", func(t *testing.T) {
		// c-a is frozen ACCOUNT (rule 4's last step).
		wantProblem(t, ts.call("POST", "/v1/customers/c-a/freeze", "op-dist-a", freeze("c-a", "ACCOUNT", "again")), 409, "conflict")
		wantProblem(t, ts.call("POST", "/v1/customers/c-a/unfreeze", "op-dist-a", unfreeze("ACCOUNT_AND_RESOURCE", "x")), 409, "type_mismatch")
		up := ts.must(200, "POST", "/v1/customers/c-a/freeze", "op-dist-a", freeze("c-a", "ACCOUNT_AND_RESOURCE", "upgrade"), "Idempotency-Key", "k-upgrade").json(t)
		wantFields(t, "upgraded", up["customer"].(map[string]any), "freeze_type", "ACCOUNT_AND_RESOURCE")
		before := ts.head()
		retry := ts.must(200, "POST", "/v1/customers/c-a/freeze", "op-dist-a", freeze("c-a", "ACCOUNT_AND_RESOURCE", "upgrade"), "Idempotency-Key", "k-upgrade").json(t)
		if retry["position"] != up["position"] || ts.head() != before {
			t.Errorf("an idempotent retry appended or changed position: %v vs %v, head %s -> %s", retry["position"], up["position"], before, ts.head())
		}
		wantProblem(t, ts.call("POST", "/v1/customers/c-a/freeze", "op-dist-a", freeze("c-a", "ACCOUNT_AND_RESOURCE", "other reason"), "Idempotency-Key", "k-upgrade"), 409, "conflict")
		wantProblem(t, ts.call("POST", "/v1/customers/c-a/unfreeze", "op-dist-a", unfreeze("ACCOUNT", "x")), 409, "type_mismatch")
	})

	t.Run("rule 6: delegation is granted by the reseller's own distributor and changes no state", func(t *testing.T) {
		wantProblem(t, ts.call("PUT", "/v1/partners/res-a2/delegation", "op-dist-b", map[string]any{"freeze": true, "budget": false}), 404, "not_found")
		wantProblem(t, ts.call("PUT", "/v1/partners/res-a2/delegation", "plat", map[string]any{"freeze": true, "budget": false}), 403, "forbidden")
		wantProblem(t, ts.call("PUT", "/v1/partners/res-a2/delegation", "op-res-a2", map[string]any{"freeze": true, "budget": false}), 403, "forbidden")
		st := status(t, ts, "op-dist-a", "c-a2")
		d := ts.must(200, "PUT", "/v1/partners/res-a2/delegation", "op-dist-a", map[string]any{"freeze": true, "budget": false}).json(t)
		wantFields(t, "delegation", d["delegation"].(map[string]any), "freeze", true, "budget", false)
		after := status(t, ts, "op-dist-a", "c-a2")
		wantFields(t, "c-a2 after the grant", after, "state", st["state"], "freeze_type", st["freeze_type"], "managed_by", "res-a2")
		ts.must(200, "POST", "/v1/customers/c-a2/freeze", "op-res-a2", freeze("c-a2", "ACCOUNT", "now mine"))
		ts.must(200, "DELETE", "/v1/partners/res-a2/delegation", "op-dist-a", nil)
		wantProblem(t, ts.call("POST", "/v1/customers/c-a2/unfreeze", "op-res-a2", unfreeze("ACCOUNT", "x")), 403, "forbidden")
		wantFields(t, "c-a2 after the revoke", status(t, ts, "op-dist-a", "c-a2"), "managed_by", "dist-a")
	})

	t.Run("rule 7: a partner freeze cascades in effect only", func(t *testing.T) {
		own := status(t, ts, "op-dist-a", "c-a2")
		w := ts.must(200, "POST", "/v1/partners/res-a2/freeze", "op-dist-a", map[string]any{"reason": "breach"})
		got := ts.must(200, "GET", "/v1/customers/c-a2/status?min_position="+w.json(t)["position"].(string), "rd-a", nil).json(t)
		wantFields(t, "c-a2 under a frozen reseller", got, "effective_state", "FROZEN", "effective_freeze_type", "ACCOUNT_AND_RESOURCE",
			"effective_origin", "partner", "state", own["state"], "freeze_type", own["freeze_type"])
		ts.must(200, "POST", "/v1/partners/res-a2/unfreeze", "op-dist-a", map[string]any{"reason": "settled"})
		wantFields(t, "c-a2 after the reseller's unfreeze", status(t, ts, "op-dist-a", "c-a2"), "effective_origin", own["effective_origin"], "effective_freeze_type", own["effective_freeze_type"])
		// A frozen distributor freezes its resellers in effect.
		ts.must(200, "POST", "/v1/partners/dist-b/freeze", "plat", map[string]any{"reason": "audit"})
		wantFields(t, "res-b1 under a frozen distributor", ts.must(200, "GET", "/v1/partners/res-b1", "plat", nil).json(t), "frozen", false, "effective_frozen", true)
		wantFields(t, "c-b1", status(t, ts, "plat", "c-b1"), "effective_origin", "partner")
		ts.must(200, "POST", "/v1/partners/dist-b/unfreeze", "plat", map[string]any{"reason": "done"})
	})

	t.Run("rule 8: resources are released when retention runs out, once", func(t *testing.T) {
		ts.must(200, "POST", "/v1/customers/c-b/freeze", "op-dist-b", freeze("c-b", "ACCOUNT_AND_RESOURCE", "fraud"))
		clock.advance(14 * 24 * time.Hour)
		ts.m.mu.Lock()
		svc := ts.m.led.svc
		ts.m.mu.Unlock()
		if n, err := svc.ReleaseExpiredResources(context.Background()); err != nil || n != 0 {
			t.Fatalf("after 14 days: released %d (%v), want 0", n, err)
		}
		clock.advance(2 * 24 * time.Hour)
		n, err := svc.ReleaseExpiredResources(context.Background())
		if err != nil || n != 2 { // c-a (upgraded in rule 5) and c-b
			t.Fatalf("released %d (%v), want 2", n, err)
		}
		if n, _ := svc.ReleaseExpiredResources(context.Background()); n != 0 {
			t.Errorf("a second release released %d more", n)
		}
		st := ts.must(200, "GET", "/v1/customers/c-b/status?min_position="+ts.head().String(), "op-dist-b", nil).json(t)
		wantFields(t, "c-b after retention", st, "resources_released", true, "state", "FROZEN")
		un := ts.must(200, "POST", "/v1/customers/c-b/unfreeze", "op-dist-b", unfreeze("ACCOUNT_AND_RESOURCE", "settled")).json(t)
		wantFields(t, "c-b unfrozen after release", un["customer"].(map[string]any), "state", "ACTIVE", "resources_released", true)
	})

	t.Run("rule 9: marketplace SaaS keeps account-level restrictions only", func(t *testing.T) {
		// c-a is ACCOUNT_AND_RESOURCE frozen: a cloud resource may only be viewed; a SaaS product is
		// restricted like an ACCOUNT freeze (unsubscribe stays allowed for yearly/monthly).
		cloud := ts.must(200, "GET", "/v1/customers/c-a/operations/unsubscribe", "rd-a", nil).json(t)
		saas := ts.must(200, "GET", "/v1/customers/c-a/operations/unsubscribe?product=marketplace_saas", "rd-a", nil).json(t)
		if cloud["allowed"] != false || saas["allowed"] != true {
			t.Errorf("unsubscribe under ACCOUNT_AND_RESOURCE: cloud %v, saas %v; want false, true", cloud, saas)
		}
	})

	t.Run("associating under a partner outside the subtree does not leak it", func(t *testing.T) {
		wantProblem(t, ts.call("POST", "/v1/customers", "op-dist-b", map[string]any{"customer_id": "c-x", "name": "x", "partner_id": "res-a1"}), 404, "not_found")
		wantProblem(t, ts.call("POST", "/v1/customers", "op-dist-b", map[string]any{"customer_id": "c-x", "name": "x", "partner_id": "res-nope"}), 404, "not_found")
		wantProblem(t, ts.call("POST", "/v1/partners", "op-dist-b", map[string]any{"partner_id": "res-x", "name": "x", "type": "reseller", "parent_id": "dist-a"}), 404, "not_found")
	})

	t.Run("rule 10: a customer has at most one partner", func(t *testing.T) {
		wantProblem(t, ts.call("POST", "/v1/customers", "op-dist-b", map[string]any{"customer_id": "c-a", "name": "steal", "partner_id": "dist-b"}), 409, "conflict")
		wantFields(t, "c-a", status(t, ts, "plat", "c-a"), "partner_id", "dist-a")
	})

	t.Run("rule 11: batches of at most 10, a result each", func(t *testing.T) {
		ids := []string{"c-a", "c-a1", "c-a2", "c-zz"}
		b := ts.must(200, "POST", "/v1/customers/unfreeze", "op-dist-a", map[string]any{"customer_ids": ids, "reason": "batch", "unfreeze_type": "ACCOUNT"}).json(t)
		res := b["results"].([]any)
		if len(res) != 4 {
			t.Fatalf("results: %v", res)
		}
		codes := []string{}
		for _, r := range res {
			r := r.(map[string]any)
			if r["ok"] == true {
				codes = append(codes, "ok")
			} else {
				codes = append(codes, r["error"].(map[string]any)["code"].(string))
			}
		}
		// c-a is ACCOUNT_AND_RESOURCE (type_mismatch), c-a1 is res-a1's (forbidden), c-a2 ok, c-zz unknown.
		if strings.Join(codes, ",") != "type_mismatch,forbidden,ok,not_found" {
			t.Errorf("batch results = %v", codes)
		}
		wantFields(t, "c-a2 after the batch", status(t, ts, "op-dist-a", "c-a2"), "state", "ACTIVE")
		many := make([]string, 11)
		for i := range many {
			many[i] = "c-a"
		}
		wantProblem(t, ts.call("POST", "/v1/customers/freeze", "op-dist-a", map[string]any{"customer_ids": many, "reason": "x"}), 400, "invalid")
	})

	t.Run("time travel and read-your-writes", func(t *testing.T) {
		w := ts.must(200, "POST", "/v1/customers/c-a2/freeze", "op-dist-a", freeze("c-a2", "ACCOUNT", "again")).json(t)
		pos := w["position"].(string)
		now := ts.must(200, "GET", "/v1/customers/c-a2/status?min_position="+pos, "rd-a", nil).json(t)
		wantFields(t, "now", now, "state", "FROZEN", "origin", "manual")
		// Just before the freeze the customer was active.
		prev := ts.must(200, "GET", "/v1/customers/c-a2/status?as_of=position:"+decr(pos), "rd-a", nil).json(t)
		wantFields(t, "as of the position before", prev, "state", "ACTIVE")
		// Before its association it did not exist.
		wantProblem(t, ts.call("GET", "/v1/customers/c-a2/status?as_of=2000-01-01T00:00:00Z", "rd-a", nil), 404, "not_found")
		// A position the store has not reached: 503 after the wait.
		wantProblem(t, ts.call("GET", "/v1/customers/c-a2/status?min_position=99999999", "rd-a", nil), 503, "unavailable")
	})
}

func decr(s string) string {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return itoa(uint64(n - 1))
}
