package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/freezeledger/freezeledger/httpapi"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// demoTokens reads the NAME=token lines of a demo-tokens.txt file.
func demoTokens(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(readFile(t, path)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("demo tokens: malformed line %q", line)
		}
		out[k] = v
	}
	return out
}

// TestDemoWalkthrough walks the quickstart's path in process, with more checks than the script of
// TestQuickstart can make: demo, serve, the curl calls (as HTTP requests, each checked), then the
// offline export and verify of the same directory, and a rebuild.
func TestDemoWalkthrough(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo-data")
	var out, errs bytes.Buffer
	// ./freezeledger demo --data-dir ./demo-data
	if code := run(context.Background(), []string{"demo", "--data-dir", dir}, &out, &errs); code != 0 {
		t.Fatalf("demo exited %d: %s", code, errs.String())
	}
	if !strings.Contains(out.String(), "300 customers") {
		t.Errorf("demo output: %s", out.String())
	}
	// A second demo into the same directory refuses.
	if code := run(context.Background(), []string{"demo", "--data-dir", dir}, &out, &errs); code == 0 {
		t.Error("demo into a non-empty directory succeeded")
	}
	tokens := demoTokens(t, DemoTokensFile(dir))
	for _, p := range demoPrincipals {
		if tokens[envName(p.name)] == "" {
			t.Errorf("demo tokens lack %s", envName(p.name))
		}
	}

	// ./freezeledger serve --data-dir ./demo-data
	ts := startServerIn(t, dir, nil, nil)
	for k, v := range tokens {
		ts.tokens[k] = v
	}
	if strings.Contains(ts.stdout.String(), "token") {
		t.Errorf("serve on a demo directory created a principal: %s", ts.stdout.String())
	}
	// curl -H "Authorization: Bearer $TOKEN_READER_NORTH" localhost:8080/v1/customers/cust-rn2-001/status
	st := ts.must(200, "GET", "/v1/customers/cust-rn2-001/status", "TOKEN_READER_NORTH", nil).json(t)
	wantFields(t, "cust-rn2-001", st, "state", "FROZEN", "origin", "association", "managed_by", "dist-north")
	// The frozen reseller's customers are frozen in effect.
	st = ts.must(200, "GET", "/v1/customers/cust-rs2-001/status", "TOKEN_OPS_DIST_SOUTH", nil).json(t)
	wantFields(t, "cust-rs2-001", st, "effective_state", "FROZEN", "effective_origin", "partner")
	// The released-resources case.
	st = ts.must(200, "GET", "/v1/customers/cust-dn-045/status", "TOKEN_AUDITOR", nil).json(t)
	wantFields(t, "cust-dn-045", st, "state", "ACTIVE", "resources_released", true)
	// Other states are there: search by state.
	for _, qs := range []string{"?frozen=false", "?freeze_type=ACCOUNT_AND_RESOURCE", "?origin=manual", "?origin=association", "?auto_frozen=true", "?tag=gold&name=acme"} {
		r := ts.must(200, "GET", "/v1/customers"+qs, "TOKEN_PLATFORM_ADMIN", nil).json(t)
		if len(r["customers"].([]any)) == 0 {
			t.Errorf("GET /v1/customers%s found nothing in the demo data", qs)
		}
	}
	// curl .../v1/customers/cust-dn-001/operations?billing_mode=pay_per_use
	ts.must(200, "GET", "/v1/customers/cust-dn-001/operations?billing_mode=pay_per_use", "TOKEN_READER_NORTH", nil)
	// curl -X POST .../v1/customers/cust-dn-012/freeze -d '{"reason":"overdue invoice","freeze_type":"ACCOUNT"}'
	ts.must(200, "POST", "/v1/customers/cust-dn-012/freeze", "TOKEN_OPS_DIST_NORTH", `{"reason":"overdue invoice","freeze_type":"ACCOUNT"}`, "Idempotency-Key", "quickstart-1")
	// The reader may not write.
	wantProblem(t, ts.call("POST", "/v1/customers/cust-dn-002/freeze", "TOKEN_READER_NORTH", `{"reason":"x"}`), 403, "forbidden")
	// A reseller without delegation may not unfreeze (rule 2); the frozen reseller cannot act (rule 3).
	wantProblem(t, ts.call("POST", "/v1/customers/cust-rn2-001/unfreeze", "TOKEN_OPS_RES_NORTH_2", `{"reason":"x","unfreeze_type":"ACCOUNT"}`), 403, "forbidden")
	wantProblem(t, ts.call("POST", "/v1/customers/cust-rs2-001/unfreeze", "TOKEN_OPS_RES_SOUTH_2", `{"reason":"x","unfreeze_type":"ACCOUNT"}`), 403, "actor_frozen")
	// curl .../v1/customers/cust-dn-012/history
	h := ts.must(200, "GET", "/v1/customers/cust-dn-012/history", "TOKEN_AUDITOR", nil).json(t)
	if len(h["events"].([]any)) < 3 {
		t.Errorf("history: %v", h)
	}
	// curl .../v1/audit/export?format=jsonl > export.jsonl ; checkpoint ; public-key
	exp := ts.must(200, "GET", "/v1/audit/export?format=jsonl", "TOKEN_AUDITOR", nil)
	if n := bytes.Count(exp.body, []byte("\n")); n < 1000 {
		t.Errorf("export has %d events", n)
	}
	ts.must(200, "GET", "/v1/audit/checkpoint", "TOKEN_AUDITOR", nil)
	key := strings.TrimSpace(string(ts.must(200, "GET", "/v1/audit/public-key", "", nil).body))
	ts.shutdown()

	// freezeledger export --data-dir ./demo-data --bundle ./bundle ; freezeledger verify --bundle ./bundle --public-key KEY
	bundle := filepath.Join(t.TempDir(), "bundle")
	if code := run(context.Background(), []string{"export", "--data-dir", dir, "--bundle", bundle}, &out, &errs); code != 0 {
		t.Fatalf("export exited %d: %s", code, errs.String())
	}
	errs.Reset()
	// curl -s localhost:8080/v1/audit/public-key > public-key.txt (taken from the server, not the bundle)
	keyFile := filepath.Join(t.TempDir(), "public-key.txt")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := run(context.Background(), []string{"verify", "--bundle", bundle, "--public-key", keyFile}, &out, &errs); code != 0 {
		t.Fatalf("verify exited %d: %s", code, errs.String())
	}
	// freezeledger verify --data-dir ./demo-data: chain, tree, and read models against a rebuild.
	out.Reset()
	if code := run(context.Background(), []string{"verify", "--data-dir", dir}, &out, &errs); code != 0 {
		t.Fatalf("verify --data-dir exited %d: %s\n%s", code, out.String(), errs.String())
	}
	if !strings.Contains(out.String(), "equal to a rebuild") {
		t.Errorf("verify --data-dir did not check the read models: %s", out.String())
	}
	// freezeledger rebuild --data-dir ./demo-data
	out.Reset()
	if code := run(context.Background(), []string{"rebuild", "--data-dir", dir}, &out, &errs); code != 0 || !strings.Contains(out.String(), "rebuilt the read models") {
		t.Fatalf("rebuild exited %d: %s %s", code, out.String(), errs.String())
	}
}

// TestFirstStartAndPrincipalsAdd: a first start creates a platform principal and prints its token
// once; `principals add` prints a token and stores only its hash.
func TestFirstStartAndPrincipalsAdd(t *testing.T) {
	dir := t.TempDir()
	ts := startServerIn(t, dir, nil, nil)
	outText := ts.stdout.String()
	lines := strings.Split(strings.TrimSpace(outText), "\n")
	token := lines[len(lines)-1]
	if !strings.Contains(outText, "platform-admin") || !strings.HasPrefix(token, "fl_") {
		t.Fatalf("first start printed %q", outText)
	}
	ts.tokens["admin"] = token
	ts.must(201, "POST", "/v1/partners", "admin", map[string]any{"partner_id": "d1", "name": "D1", "type": "distributor"})
	if raw := readFile(t, PrincipalsFile(dir)); strings.Contains(raw, token) || !strings.Contains(raw, httpapi.HashToken(token)) {
		t.Error("the principals file holds the token, or not its hash")
	}
	ts.shutdown()

	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"principals", "add", "--data-dir", dir, "--name", "ops-d1", "--role", "partner", "--partner", "d1"}, &out, &errs)
	if code != 0 {
		t.Fatalf("principals add exited %d: %s", code, errs.String())
	}
	newToken := strings.TrimSpace(out.String())
	ps, err := httpapi.LoadPrincipals(PrincipalsFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := ps.Authenticate(newToken); !ok || p.Name != "ops-d1" || p.PartnerID != "d1" {
		t.Errorf("the new token authenticates as %v, %v", p, ok)
	}
	for _, bad := range [][]string{
		{"principals", "add", "--data-dir", dir, "--name", "ops-d1", "--role", "reader"}, // name taken
		{"principals", "add", "--data-dir", dir, "--name", "x", "--role", "partner"},     // partner without ID
		{"principals", "add", "--data-dir", dir, "--name", "y", "--role", "emperor"},     // unknown role
		{"principals", "add", "--data-dir", dir, "--name", "z", "--role", "platform", "--partner", "d1"},
		{"principals", "remove"},
		{"serve", "--log-format", "xml"},
		{"serve", "--retention", "-1h"},
		{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--store", "postgres://nope"},
		{"serve", "--data-dir", t.TempDir(), "--listen", "256.0.0.1:99999"},
		{"nonsense"},
	} {
		out.Reset()
		if code := run(context.Background(), bad, &out, &errs); code == 0 {
			t.Errorf("%v succeeded", bad)
		}
	}
	// A restart sees the added principal; the first-start principal is not created twice.
	ts = startServerIn(t, dir, nil, nil)
	ts.tokens["ops"] = newToken
	ts.must(200, "GET", "/v1/partners/d1", "ops", nil)
	if strings.Contains(ts.stdout.String(), "token") {
		t.Errorf("a second start printed a token: %s", ts.stdout.String())
	}
}

// TestPrincipalsReload: a principal added while serve runs is accepted without a restart.
func TestPrincipalsReload(t *testing.T) {
	dir := t.TempDir()
	ts := startServerIn(t, dir, standardPrincipals, func(m *Main) { m.PrincipalsReload = 10 * time.Millisecond })
	ts.setupHierarchy()
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"principals", "add", "--data-dir", dir, "--name", "late", "--role", "reader", "--partner", "dist-a"}, &out, &errs); code != 0 {
		t.Fatalf("principals add: %d %s", code, errs.String())
	}
	ts.tokens["late"] = strings.TrimSpace(out.String())
	deadline := time.Now().Add(10 * time.Second)
	for ts.call("GET", "/v1/customers/c-a/status", "late", nil).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the added principal was not accepted within 10 s")
		}
		time.Sleep(5 * time.Millisecond) // bounded polling of the reload, which runs on its own ticker
	}
	wantProblem(t, ts.call("GET", "/v1/customers/c-b/status", "late", nil), 404, "not_found")
}
