package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// TestAuditBundleOverHTTP: the running server's GET /v1/audit/bundle is a tar that
// freezeledger verify checks offline: a scoped auditor's bundle of its channel (complete up to the
// signed head), a reseller's (its siblings' events redacted, their content absent), a global
// auditor's whole-log bundle (rules replayed); a dropped event fails, naming the gap; a partner
// outside the auditor's subtree is not found.
func TestAuditBundleOverHTTP(t *testing.T) {
	ts := startServer(t)
	ts.setupHierarchy()
	key := ts.must(200, "GET", "/v1/audit/public-key", "", nil).body
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, key, 0o644)
	ctx := context.Background()
	verifyTar := func(tarBody []byte) (int, string, string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "bundle.tar")
		if err := os.WriteFile(f, tarBody, 0o644); err != nil {
			t.Fatal(err)
		}
		var o, e bytes.Buffer
		code := runVerify(ctx, []string{"--bundle", f, "--public-key", keyFile}, &o, &e)
		return code, o.String(), e.String()
	}
	ts.must(200, "GET", "/v1/audit/checkpoint?min_position="+ts.head().String(), "aud", nil)

	r := ts.must(200, "GET", "/v1/audit/bundle", "aud-a", nil)
	if ct := r.header.Get("Content-Type"); ct != "application/x-tar" {
		t.Fatalf("Content-Type %q", ct)
	}
	code, o, e := verifyTar(r.body)
	if code != 0 || !strings.Contains(o, `scoped bundle of "dist-a"`) || !strings.Contains(o, "channel-dist-a: ") || !strings.Contains(o, "(0 redacted)") {
		t.Fatalf("aud-a's bundle: exit %d\n%s\n%s", code, o, e)
	}
	for _, foreign := range []string{`"c-b"`, `"dist-b"`, `"sp-c"`} {
		if bytes.Contains(r.body, []byte(foreign)) {
			t.Errorf("aud-a's bundle holds %s", foreign)
		}
	}

	// Drop one event of the scope: the verifier names the missing revision.
	dir := t.TempDir()
	if err := leaf.ExtractBundleTar(bytes.NewReader(r.body), dir); err != nil {
		t.Fatal(err)
	}
	events, _ := os.ReadFile(filepath.Join(dir, leaf.BundleEvents))
	lines := bytes.SplitAfter(events, []byte("\n"))
	os.WriteFile(filepath.Join(dir, leaf.BundleEvents), bytes.Join(append(lines[:2:2], lines[3:]...), nil), 0o644)
	var ob, eb bytes.Buffer
	if code := runVerify(ctx, []string{"--bundle", dir, "--public-key", keyFile}, &ob, &eb); code != 1 || !strings.Contains(eb.String(), "channel-dist-a: revision 2 is missing") {
		t.Fatalf("dropped event: exit %d\n%s\n%s", code, ob.String(), eb.String())
	}

	// A reseller's scope: its own events shown, the channel's others redacted.
	r = ts.must(200, "GET", "/v1/audit/bundle?scope=res-a1", "aud-a", nil)
	code, o, e = verifyTar(r.body)
	if code != 0 || !strings.Contains(o, `scoped bundle of "res-a1"`) || strings.Contains(o, "(0 redacted)") {
		t.Fatalf("res-a1's bundle: exit %d\n%s\n%s", code, o, e)
	}
	if !bytes.Contains(r.body, []byte(`"c-a1"`)) || bytes.Contains(r.body, []byte(`"c-a2"`)) {
		t.Errorf("res-a1's bundle: c-a1 shown %v, c-a2 (res-a2's customer) shown %v", bytes.Contains(r.body, []byte(`"c-a1"`)), bytes.Contains(r.body, []byte(`"c-a2"`)))
	}

	// Outside the auditor's subtree: not found. A global auditor's default: the whole log.
	ts.must(404, "GET", "/v1/audit/bundle?scope=dist-b", "aud-a", nil)
	ts.must(403, "GET", "/v1/audit/bundle", "op-dist-a", nil)
	ts.must(400, "GET", "/v1/audit/bundle?from=yesterday", "aud", nil)
	r = ts.must(200, "GET", "/v1/audit/bundle", "aud", nil)
	if code, o, e := verifyTar(r.body); code != 0 || !strings.Contains(o, "domain rules replayed") {
		t.Fatalf("aud's whole-log bundle: exit %d\n%s\n%s", code, o, e)
	}
	r = ts.must(200, "GET", "/v1/audit/bundle?scope=sp-c", "aud", nil)
	if code, o, e := verifyTar(r.body); code != 0 || !strings.Contains(o, "channel-sp-c: ") {
		t.Fatalf("aud's bundle of sp-c: exit %d\n%s\n%s", code, o, e)
	}
}
