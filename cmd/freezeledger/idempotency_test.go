package main

import "testing"

// TestIdempotencyKeys: every kind of write retried with the same key and body returns the first
// result and appends nothing; the same key with another body is a 409; keys are per principal.
func TestIdempotencyKeys(t *testing.T) {
	ts := startServer(t)
	ts.setupHierarchy()
	writes := []struct {
		method, path, who string
		body, other       map[string]any
		status            int
	}{
		{"POST", "/v1/partners", "plat", map[string]any{"partner_id": "dist-z", "name": "Z", "type": "distributor"},
			map[string]any{"partner_id": "dist-y", "name": "Y", "type": "distributor"}, 201},
		{"POST", "/v1/customers", "op-dist-a", map[string]any{"customer_id": "c-new", "name": "New", "partner_id": "dist-a"},
			map[string]any{"customer_id": "c-new2", "name": "New", "partner_id": "dist-a"}, 201},
		{"POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "ok", "unfreeze_type": "ACCOUNT"},
			map[string]any{"reason": "other", "unfreeze_type": "ACCOUNT"}, 200},
		{"POST", "/v1/customers/freeze", "op-dist-a", map[string]any{"customer_ids": []string{"c-a", "c-a2"}, "reason": "b"},
			map[string]any{"customer_ids": []string{"c-a"}, "reason": "b"}, 200},
		{"POST", "/v1/partners/res-a2/freeze", "op-dist-a", map[string]any{"reason": "x"}, map[string]any{"reason": "y"}, 200},
		{"PUT", "/v1/partners/res-a2/delegation", "op-dist-a", map[string]any{"freeze": true, "budget": true},
			map[string]any{"freeze": false, "budget": true}, 200},
	}
	for i, w := range writes {
		key := "idem-" + itoa(uint64(i))
		first := ts.must(w.status, w.method, w.path, w.who, w.body, "Idempotency-Key", key)
		before := ts.head()
		again := ts.must(w.status, w.method, w.path, w.who, w.body, "Idempotency-Key", key)
		if ts.head() != before {
			t.Errorf("%s %s: the retry appended (head %s -> %s)", w.method, w.path, before, ts.head())
		}
		if a, b := first.json(t)["position"], again.json(t)["position"]; a != b {
			t.Errorf("%s %s: retry position %v, first %v", w.method, w.path, b, a)
		}
		if first.header.Get("X-Ledger-Position") != again.header.Get("X-Ledger-Position") {
			t.Errorf("%s %s: X-Ledger-Position differs on the retry", w.method, w.path)
		}
		wantProblem(t, ts.call(w.method, w.path, w.who, w.other, "Idempotency-Key", key), 409, "conflict")
		if ts.head() != before {
			t.Errorf("%s %s: the conflicting reuse appended", w.method, w.path)
		}
	}
	// Keys are per principal: another principal's identical key is a new command.
	ts.must(200, "POST", "/v1/customers/c-b/unfreeze", "op-dist-b", map[string]any{"reason": "ok", "unfreeze_type": "ACCOUNT"}, "Idempotency-Key", "idem-2")
}
