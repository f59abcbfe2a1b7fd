package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyWithoutArgumentsSaysWhatItNeeds: verify with nothing to verify names its modes rather
// than asking for a key.
func TestVerifyWithoutArgumentsSaysWhatItNeeds(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"verify"}, &stdout, &stderr); code != 2 {
		t.Errorf("verify with no arguments exited %d, want 2", code)
	}
	msg := stderr.String()
	for _, want := range []string{"--bundle", "--export", "--public-key", "--data-dir"} {
		if !strings.Contains(msg, want) {
			t.Errorf("verify's message lacks %s: %s", want, msg)
		}
	}
	if strings.Contains(msg, "--public-key is required") {
		t.Errorf("verify with no arguments asks for a key first: %s", msg)
	}
}

// TestPrincipalsAddNamesFlagsAndChecksThePartner: refusals name the flags, and a --partner the
// ledger has not registered is added with a warning (the platform may add it before the partner).
func TestPrincipalsAddNamesFlagsAndChecksThePartner(t *testing.T) {
	dir := t.TempDir()
	ts := startServerIn(t, dir, standardPrincipals, nil)
	ts.setupHierarchy()
	// A position that is not one: no EventStoreDB wording for an embedded store.
	r := ts.call("GET", "/v1/customers/c-a/status?as_of=position:abc", "plat", nil)
	if r.status != 400 || strings.Contains(string(r.body), "commit/prepare") || !strings.Contains(string(r.body), "position") {
		t.Errorf("as_of=position:abc: %d %s", r.status, r.body)
	}
	add := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"principals", "add", "--data-dir", dir}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	// While serve runs, the ledger cannot be read: the check says so and the principal is added.
	code, out, msg := add("--name", "early", "--role", "partner", "--partner", "dist-z")
	if code != 0 || !strings.HasPrefix(out, "fl_") || !strings.Contains(msg, "not checked") {
		t.Errorf("principals add while serving: %d %q %s", code, out, msg)
	}
	ts.shutdown()

	code, _, msg = add("--name", "x", "--role", "partner")
	if code == 0 || !strings.Contains(msg, "--partner") || strings.Contains(msg, "partner_id") {
		t.Errorf("partner without --partner: exit %d: %s", code, msg)
	}
	code, _, msg = add("--name", "x", "--role", "partner", "--partner", "no/t an id")
	if code == 0 || !strings.Contains(msg, "--partner") || strings.Contains(msg, "partner_id") {
		t.Errorf("partner with a bad --partner: exit %d: %s", code, msg)
	}
	code, _, msg = add("--name", "x", "--role", "platform", "--partner", "dist-a")
	if code == 0 || !strings.Contains(msg, "--partner") || strings.Contains(msg, "partner_id") {
		t.Errorf("platform with --partner: exit %d: %s", code, msg)
	}
	code, out, msg = add("--name", "ops-nowhere", "--role", "partner", "--partner", "dist-nowhere")
	if code != 0 || !strings.HasPrefix(out, "fl_") || !strings.Contains(msg, "warning: partner dist-nowhere is not registered") {
		t.Errorf("an unregistered partner: exit %d, out %q: %s", code, out, msg)
	}
	code, _, msg = add("--name", "ops-a-2", "--role", "partner", "--partner", "dist-a")
	if code != 0 || strings.Contains(msg, "warning") || strings.Contains(msg, "note") {
		t.Errorf("a registered partner: exit %d: %s", code, msg)
	}
	code, _, msg = add("--name", "aud-res", "--role", "auditor", "--partner", "res-a1")
	if code != 0 || strings.Contains(msg, "warning") {
		t.Errorf("an auditor scoped to a registered reseller: exit %d: %s", code, msg)
	}
	fresh := filepath.Join(t.TempDir(), "fresh")
	var stdout, stderr bytes.Buffer
	code = run(context.Background(), []string{"principals", "add", "--data-dir", fresh, "--name", "r", "--role", "reader", "--partner", "dist-a"}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stderr.String(), "holds no ledger yet") {
		t.Errorf("a data directory without a ledger: exit %d: %s", code, stderr.String())
	}
}

// TestDemoAfterServe: the README's order, serve on ./data and then the quickstart's demo with its
// defaults, works; the demo refuses a directory serve filled and says what to do instead.
func TestDemoAfterServe(t *testing.T) {
	t.Chdir(t.TempDir())
	ts := startServerInWithFlags(t, "./data", []string{"--log-level", "warn"})
	ts.shutdown()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--data-dir", "./data"}, &stdout, &stderr); code == 0 {
		t.Fatal("demo filled a data directory serve had created")
	} else if !strings.Contains(stderr.String(), "remove ./data") || !strings.Contains(stderr.String(), "--data-dir") {
		t.Errorf("demo's refusal does not say what to do: %s", stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"demo"}, &stdout, &stderr); code != 0 {
		t.Fatalf("demo with its defaults after serve exited %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(DemoTokensFile("./demo-data")); err != nil {
		t.Fatalf("demo's default directory: %v", err)
	}
	ts = startServerInWithFlags(t, "./demo-data", []string{"--log-level", "warn"})
	if strings.Contains(ts.stdout.String(), "token") {
		t.Errorf("serve on the demo directory created a principal: %s", ts.stdout.String())
	}
}
