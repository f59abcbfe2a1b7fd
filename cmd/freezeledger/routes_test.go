package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/freezeledger/freezeledger/domain/domaintest"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// TestEveryRoute calls every route of the API successfully, validating each response against the
// OpenAPI document, and then checks that every operation of the document was exercised.
func TestEveryRoute(t *testing.T) {
	clock := domaintest.NewClock(time.Now())
	ts := startServerPhase2(t, t.TempDir(), func(m *Main) { m.Clock = clock })
	ts.setupHierarchy()
	exercisePhase2Routes(t, ts) // budgets_test.go

	// Partners.
	pr := ts.must(200, "GET", "/v1/partners/res-a1", "op-dist-a", nil).json(t)
	if d, _ := pr["delegation"].(map[string]any); d["freeze"] != true {
		t.Errorf("res-a1 delegation = %v, want freeze true", pr["delegation"])
	}
	w := ts.must(200, "POST", "/v1/partners/res-a2/freeze", "op-dist-a", map[string]any{"reason": "contract breach"})
	if w.header.Get("X-Ledger-Position") == "" || w.json(t)["position"] != w.header.Get("X-Ledger-Position") {
		t.Errorf("write without a matching position and X-Ledger-Position: %s %v", w.body, w.header)
	}
	if p := w.json(t)["partner"].(map[string]any); p["frozen"] != true || p["effective_frozen"] != true {
		t.Errorf("partner after freeze = %v", p)
	}
	ts.must(200, "POST", "/v1/partners/res-a2/unfreeze", "op-dist-a", map[string]any{"reason": "settled"})
	d := ts.must(200, "DELETE", "/v1/partners/res-a1/delegation", "op-dist-a", nil).json(t)
	if dd := d["delegation"].(map[string]any); dd["freeze"] != false || dd["budget"] != false {
		t.Errorf("delegation after DELETE = %v", dd)
	}
	ts.must(200, "PUT", "/v1/partners/res-a1/delegation", "op-dist-a", map[string]any{"freeze": true, "budget": true})
	ts.must(200, "GET", "/v1/partners?type=reseller", "op-dist-a", nil)
	ts.must(200, "GET", "/v1/partners/res-a2/history", "op-dist-a", nil)
	ts.must(200, "GET", "/v1/customers/c-a/timeline", "op-dist-a", nil)

	// Customers.
	c := ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "verified", "unfreeze_type": "ACCOUNT"}).json(t)
	if cu := c["customer"].(map[string]any); cu["state"] != "ACTIVE" {
		t.Errorf("customer after unfreeze = %v", cu)
	}
	c = ts.must(200, "POST", "/v1/customers/c-a/freeze", "op-dist-a", map[string]any{"reason": "overdue invoice", "freeze_type": "ACCOUNT_AND_RESOURCE"}).json(t)
	if cu := c["customer"].(map[string]any); cu["state"] != "FROZEN" || cu["freeze_type"] != "ACCOUNT_AND_RESOURCE" || cu["origin"] != "manual" || cu["retention_deadline"] == nil {
		t.Errorf("customer after freeze = %v", cu)
	}
	b := ts.must(200, "POST", "/v1/customers/unfreeze", "op-dist-a", map[string]any{"customer_ids": []string{"c-a2", "c-b"}, "reason": "batch", "unfreeze_type": "ACCOUNT"}).json(t)
	res := b["results"].([]any)
	if len(res) != 2 || res[0].(map[string]any)["ok"] != true || res[1].(map[string]any)["ok"] != false {
		t.Fatalf("batch results = %v", res)
	}
	if e := res[1].(map[string]any)["error"].(map[string]any); e["code"] != "not_found" {
		t.Errorf("batch item outside the subtree: %v, want not_found", e)
	}
	ts.must(200, "POST", "/v1/customers/freeze", "op-dist-a", map[string]any{"customer_ids": []string{"c-a2"}, "reason": "batch"})
	ts.must(200, "GET", "/v1/customers/c-a", "op-dist-a", nil)
	ts.must(200, "PATCH", "/v1/customers/c-a/personal", "op-dist-a", map[string]any{"mobile": "+14155550100", "email": nil}) // rule 21: TestErasureWalk
	ts.must(200, "POST", "/v1/customers/c-a/erase", "plat", map[string]any{"reason": "erasure request"})
	st := ts.must(200, "GET", "/v1/customers/c-a1/status", "rd-a", nil).json(t)
	if st["partner_id"] != "res-a1" || st["distributor_id"] != "dist-a" || st["managed_by"] != "res-a1" {
		t.Errorf("status of c-a1 = %v", st)
	}
	ops := ts.must(200, "GET", "/v1/customers/c-a/operations"+q("billing_mode", "pay_per_use"), "rd-a", nil).json(t)
	if ops["effective_state"] != "FROZEN" || len(ops["operations"].([]any)) != 9 {
		t.Errorf("operations = %v", ops)
	}
	op := ts.must(200, "GET", "/v1/customers/c-a/operations/purchase", "rd", nil).json(t)
	if op["allowed"] != false || op["reason"] == "" || op["freeze"] == nil {
		t.Errorf("purchase check = %v", op)
	}
	list := ts.must(200, "GET", "/v1/customers"+q("limit", "2"), "op-dist-a", nil).json(t)
	if n := len(list["customers"].([]any)); n != 2 || list["next_cursor"] == nil {
		t.Fatalf("first page: %d customers, next_cursor %v", n, list["next_cursor"])
	}
	ids := []string{}
	for _, x := range list["customers"].([]any) {
		ids = append(ids, x.(map[string]any)["customer_id"].(string))
	}
	next := ts.must(200, "GET", "/v1/customers"+q("limit", "2", "cursor", list["next_cursor"].(string)), "op-dist-a", nil).json(t)
	for _, x := range next["customers"].([]any) {
		ids = append(ids, x.(map[string]any)["customer_id"].(string))
	}
	sort.Strings(ids)
	if strings.Join(ids, ",") != "c-a,c-a1,c-a2" {
		t.Errorf("dist-a's customers over two pages = %v, want c-a, c-a1, c-a2", ids)
	}
	h := ts.must(200, "GET", "/v1/customers/c-a/history", "aud-a", nil).json(t)
	evs := h["events"].([]any)
	if len(evs) != 4 { // associated, frozen (association), unfrozen, frozen
		t.Errorf("history of c-a: %d events, want 4: %s", len(evs), h)
	}

	// Audit.
	ev := ts.must(200, "GET", "/v1/audit/events"+q("limit", "5"), "aud", nil).json(t)
	if n := len(ev["events"].([]any)); n != 5 || ev["next_after"] == nil {
		t.Errorf("audit events page: %d events, next_after %v", n, ev["next_after"])
	}
	nd := ts.must(200, "GET", "/v1/audit/events", "plat", nil, "Accept", "application/x-ndjson")
	lines := bytes.Count(nd.body, []byte("\n"))
	if lines < 20 {
		t.Errorf("ndjson audit events: %d lines", lines)
	}
	exp := ts.must(200, "GET", "/v1/audit/export"+q("format", "jsonl"), "aud", nil)
	if bytes.Count(exp.body, []byte("\n")) != lines {
		t.Errorf("export has %d lines, audit events %d", bytes.Count(exp.body, []byte("\n")), lines)
	}
	csv := ts.must(200, "GET", "/v1/audit/export"+q("format", "csv", "from", "1", "to", "5"), "aud", nil)
	if !strings.HasPrefix(string(csv.body), "index,position,") || bytes.Count(csv.body, []byte("\n")) != 5 {
		t.Errorf("csv export of positions [1,5): %q", csv.body)
	}
	cp := ts.must(200, "GET", "/v1/audit/checkpoint?min_position="+ts.head().String(), "rd", nil)
	if b := ts.must(200, "GET", "/v1/audit/bundle"+q("scope", "dist-a"), "aud", nil); !bytes.Contains(b.body, []byte(leaf.BundleHeads)) {
		t.Errorf("bundle of dist-a: no %s in the tar", leaf.BundleHeads) // TestAuditBundleOverHTTP verifies bundles
	}
	ts.must(200, "GET", "/v1/audit/tlog/checkpoint", "aud", nil) // TestTilesWithTorchwoodClient reads the tiles
	ts.must(200, "GET", "/v1/audit/tlog/tile/entries/000.p/1", "aud", nil)
	ts.must(404, "GET", "/v1/audit/tlog/tile/0/999", "aud", nil)
	key := ts.must(200, "GET", "/v1/audit/public-key", "", nil)
	sig, err := leaf.OpenCheckpoint(cp.body, strings.TrimSpace(string(key.body)))
	if err != nil {
		t.Fatalf("checkpoint does not verify with the served key: %v", err)
	}
	if sig.Size < uint64(lines) {
		t.Fatalf("checkpoint size %d", sig.Size)
	}
	// An inclusion proof for leaf 1 in the checkpoint's tree, checked with transparency-dev's verifier.
	var first leaf.Event
	sc := bufio.NewScanner(bytes.NewReader(exp.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &first); err != nil {
			t.Fatal(err)
		}
		if first.Index == 1 {
			break
		}
	}
	ip := ts.must(200, "GET", "/v1/audit/proof/inclusion"+q("index", "1", "tree_size", itoa(sig.Size)), "aud", nil).json(t)
	leaf, _ := base64.StdEncoding.DecodeString(first.LeafHash)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 1, sig.Size, leaf, hashes(t, ip["hashes"]), sig.Hash); err != nil {
		t.Errorf("inclusion proof does not verify: %v", err)
	}
	cpf := ts.must(200, "GET", "/v1/audit/proof/consistency"+q("first", "1", "second", itoa(sig.Size)), "plat", nil).json(t)
	if len(cpf["hashes"].([]any)) == 0 {
		t.Errorf("consistency proof = %v", cpf)
	}

	exerciseChanges(t, ts) // the change feed and webhooks (changes_test.go)

	// Operational routes.
	ts.must(200, "GET", "/healthz", "", nil)
	ts.must(200, "GET", "/readyz", "", nil)
	m := ts.must(200, "GET", "/metrics", "", nil)
	for _, name := range []string{"freezeledger_http_requests_total", "freezeledger_http_request_duration_seconds",
		"freezeledger_append_duration_seconds", "freezeledger_append_events", "freezeledger_projection_lag_events", "freezeledger_store_size_bytes"} {
		if !bytes.Contains(m.body, []byte(name)) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if !bytes.Contains(m.body, []byte(`route="/v1/customers/{id}/status"`)) {
		t.Errorf("/metrics does not label requests by route template")
	}
	ts.must(200, "GET", "/openapi.json", "", nil)

	// Rules 19 and 20: an admin's enrolment and the verification switch; a disassociation rejected
	// by the customer, another accepted by the admin.
	secret := enrolHTTP(t, ts, clock, "adm-dist-a")
	ts.must(200, "PUT", "/v1/partners/dist-a/verification", "adm-dist-a", map[string]any{"enabled": true}, "X-Verification-Code", codeNow(t, secret, clock))
	clock.Advance(30 * time.Second)
	ts.must(200, "PUT", "/v1/partners/dist-a/verification", "adm-dist-a", map[string]any{"enabled": false}, "X-Verification-Code", codeNow(t, secret, clock))
	ts.must(201, "POST", "/v1/customers/c-b/disassociation", "adm-dist-b", map[string]any{"reason": "ending"})
	ts.must(200, "POST", "/v1/customers/c-b/disassociation/reject", "cust-b", map[string]any{"reason": "staying"})
	if d := ts.must(200, "GET", "/v1/customers/c-b/disassociation", "rd", nil).json(t)["disassociation"].(map[string]any); d["state"] != "rejected" {
		t.Errorf("disassociation of c-b: %v", d)
	}
	ts.must(201, "POST", "/v1/customers/c-c/disassociation", "cust-c", map[string]any{"reason": "leaving"})
	ts.must(200, "POST", "/v1/customers/c-c/disassociation/accept", "adm-sp-c", map[string]any{"reason": "agreed"})

	// Every operation of the document was exercised (and its response validated).
	doc, _ := loadSpec()
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !ts.spec.seen[method+" "+path] {
				t.Errorf("%s %s: never called by this test", method, path)
			}
		}
	}
}

func hashes(t *testing.T, v any) [][]byte {
	t.Helper()
	var out [][]byte
	for _, s := range v.([]any) {
		b, err := base64.StdEncoding.DecodeString(s.(string))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

var _ = http.StatusOK
