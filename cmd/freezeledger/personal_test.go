package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/internal/keystore"
	"github.com/freezeledger/freezeledger/projections/auditlog"
)

// markAdmin sets "admin": true on principal name in dir's principals file.
func markAdmin(t testing.TB, dir, name string) {
	t.Helper()
	b, err := os.ReadFile(PrincipalsFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	for _, p := range list {
		if p["name"] == name {
			p["admin"] = true
		}
	}
	b, _ = json.Marshal(list)
	if err := os.WriteFile(PrincipalsFile(dir), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// rawDataKey unwraps key id from dir's key store with its master key, reading the file as
// docs/PERSONAL-DATA.md describes it (an auditor's reading: no keystore code).
func rawDataKey(t *testing.T, dir, id string) []byte {
	t.Helper()
	mk, err := os.ReadFile(MasterKeyFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	master, err := keystore.ParseMasterKey(mk)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(KeyStoreFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		var kl struct {
			KeyID   string `json:"key_id"`
			Wrapped string `json:"wrapped"`
		}
		if json.Unmarshal(line, &kl) != nil || kl.KeyID != id {
			continue
		}
		w, _ := base64.StdEncoding.DecodeString(kl.Wrapped)
		block, _ := aes.NewCipher(master[:])
		gcm, _ := cipher.NewGCM(block)
		raw, err := gcm.Open(nil, w[:12], w[12:], append([]byte("freezeledger/keystore/v1\x00"), id...))
		if err != nil {
			t.Fatalf("key %s does not unwrap as documented: %v", id, err)
		}
		return raw
	}
	t.Fatalf("key %s is not in %s", id, KeyStoreFile(dir))
	return nil
}

// TestErasureWalk is rule 21 end to end: personal data in and out through the API (never to
// readers), search through the blind index, bad input, erasure by a partner admin; then a restart,
// a walk of every file of the data directory that finds neither the clear text nor the key, and the
// offline checks (verify --data-dir, a bundle) passing on the unchanged log.
func TestErasureWalk(t *testing.T) {
	dir := t.TempDir()
	principals := append(append([]testPrincipal{}, standardPrincipals...), testPrincipal{"adm-res-a1", "partner", "res-a1"})
	ts := startServerIn(t, dir, principals, func(*Main) { markAdmin(t, dir, "adm-res-a1") })
	ts.setupHierarchy()

	clear := []string{"+4915112345678", "4915112345678", "Ann.Login.7f3", "ann.login.7f3", "ann.7f3@example.com", "Ann Seventhree", "Ann Eighty-Two"}
	c := ts.must(201, "POST", "/v1/customers", "op-res-a1", map[string]any{"customer_id": "c-p", "name": "Customer c-p", "partner_id": "res-a1",
		"personal": map[string]any{"mobile": "+49 (151) 1234-5678", "account_name": "Ann.Login.7f3", "email": "ann.7f3@Example.COM", "contact_name": "Ann Seventhree"}}).json(t)
	pers, _ := c["customer"].(map[string]any)["personal"].(map[string]any)
	if pers["mobile"] != "+4915112345678" || pers["email"] != "ann.7f3@example.com" || pers["account_name"] != "Ann.Login.7f3" {
		t.Fatalf("personal after association = %v", pers)
	}
	if st := ts.must(200, "GET", "/v1/customers/c-p/status", "rd-a", nil).json(t); st["personal"] != nil {
		t.Errorf("a reader sees personal data: %v", st["personal"])
	}
	if st := ts.must(200, "GET", "/v1/customers/c-p", "aud-a", nil).json(t); st["personal"] == nil {
		t.Error("an auditor does not see personal data")
	}
	for _, qs := range []string{q("mobile", "+49 151 12345678"), q("account_name", "ANN.LOGIN.7F3")} {
		got := ts.must(200, "GET", "/v1/customers"+qs, "op-dist-a", nil).json(t)["customers"].([]any)
		if len(got) != 1 || got[0].(map[string]any)["customer_id"] != "c-p" {
			t.Errorf("search %s = %v", qs, got)
		}
		if got := ts.must(200, "GET", "/v1/customers"+qs, "rd-a", nil).json(t)["customers"].([]any); len(got) != 1 || got[0].(map[string]any)["personal"] != nil {
			t.Errorf("a reader's search %s = %v", qs, got)
		}
	}
	p := ts.must(200, "PATCH", "/v1/customers/c-p/personal", "op-res-a1", map[string]any{"contact_name": "Ann Eighty-Two", "email": nil}).json(t)
	if pers := p["customer"].(map[string]any)["personal"].(map[string]any); pers["contact_name"] != "Ann Eighty-Two" || pers["email"] != nil || pers["mobile"] != "+4915112345678" {
		t.Errorf("personal after PATCH = %v", pers)
	}

	// Bad input: 400 naming the field, 413 for a huge body, never a 5xx.
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"mobile": "12345"}, "personal.mobile"},
		{map[string]any{"mobile": "+0123456789"}, "personal.mobile"},
		{map[string]any{"email": "not-an-address"}, "personal.email"},
		{map[string]any{"email": "a@b"}, "personal.email"},
		{map[string]any{"contact_name": strings.Repeat("x", 300)}, "personal.contact_name"},
		{map[string]any{"account_name": ""}, "personal.account_name"},
		{map[string]any{"ssn": "1"}, "ssn"},
		{map[string]any{}, "at least one"},
	} {
		r := ts.call("PATCH", "/v1/customers/c-p/personal", "op-res-a1", tc.body)
		if r.status != 400 || !strings.Contains(string(r.body), tc.field) {
			t.Errorf("PATCH %v: %d %s", tc.body, r.status, r.body)
		}
		for _, v := range tc.body {
			if s, ok := v.(string); ok && len(s) > 3 && strings.Contains(string(r.body), s) {
				t.Errorf("the refusal echoes the value: %s", r.body)
			}
		}
	}
	if r := ts.call("POST", "/v1/customers", "op-res-a1", map[string]any{"customer_id": "c-bad", "name": "x", "partner_id": "res-a1", "personal": map[string]any{"mobile": "+1 abc"}}); r.status != 400 || !strings.Contains(string(r.body), "personal.mobile") {
		t.Errorf("association with a bad mobile: %d %s", r.status, r.body)
	}
	if r := ts.call("PATCH", "/v1/customers/c-p/personal", "op-res-a1", map[string]any{"contact_name": strings.Repeat("y", 70<<10)}); r.status != 413 {
		t.Errorf("a huge value: %d %s", r.status, r.body)
	}
	if r := ts.call("GET", "/v1/customers"+q("mobile", "not a phone"), "op-dist-a", nil); r.status != 400 || !strings.Contains(string(r.body), "mobile") {
		t.Errorf("a bad mobile search: %d %s", r.status, r.body)
	}

	// The key, as the log names it.
	h := ts.must(200, "GET", "/v1/customers/c-p/history", "aud", nil).json(t)
	data := h["events"].([]any)[0].(map[string]any)["data"].(map[string]any)
	keyID := data["personal"].(map[string]any)["key_id"].(string)
	raw := rawDataKey(t, dir, keyID)
	secrets := [][]byte{raw, []byte(base64.StdEncoding.EncodeToString(raw)), []byte(hex.EncodeToString(raw))}

	// Erasure: not by a plain operator, by an admin of the customer's own partner, once.
	if r := ts.call("POST", "/v1/customers/c-p/erase", "op-res-a1", map[string]any{"reason": "erasure request #7"}); r.status != 403 {
		t.Errorf("erasure by a non-admin: %d %s", r.status, r.body)
	}
	if r := ts.call("POST", "/v1/customers/c-p/erase", "op-dist-b", map[string]any{"reason": "erasure request #7"}); r.status != 404 {
		t.Errorf("erasure by another channel: %d %s", r.status, r.body)
	}
	e := ts.must(200, "POST", "/v1/customers/c-p/erase", "adm-res-a1", map[string]any{"reason": "erasure request #7"}).json(t)
	if cu := e["customer"].(map[string]any); cu["personal"] != nil || cu["personal_data_erased"] != true {
		t.Errorf("after erasure: %v", cu)
	}
	if r := ts.call("POST", "/v1/customers/c-p/erase", "plat", map[string]any{"reason": "again"}); r.status != 409 {
		t.Errorf("erasing twice: %d %s", r.status, r.body)
	}
	if r := ts.call("PATCH", "/v1/customers/c-p/personal", "op-res-a1", map[string]any{"mobile": "+4915112345678"}); r.status != 409 {
		t.Errorf("PATCH after erasure: %d %s", r.status, r.body)
	}
	if got := ts.must(200, "GET", "/v1/customers"+q("mobile", "+4915112345678"), "plat", nil).json(t)["customers"].([]any); len(got) != 0 {
		t.Errorf("the erased mobile is still found: %v", got)
	}
	ts.must(200, "POST", "/v1/customers/c-p/unfreeze", "op-res-a1", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"})
	ts.must(200, "POST", "/v1/customers/c-p/freeze", "op-res-a1", map[string]any{"reason": "overdue", "freeze_type": "ACCOUNT"})

	// Restart: the erasure holds.
	ts.shutdown()
	tokens := ts.tokens
	ts = startServerIn(t, dir, nil, nil)
	ts.tokens = tokens
	if st := ts.must(200, "GET", "/v1/customers/c-p", "plat", nil).json(t); st["personal"] != nil || st["personal_data_erased"] != true || st["state"] != "FROZEN" {
		t.Errorf("after a restart: %v", st)
	}
	ts.shutdown()

	// Every file of the data directory: no clear text, nothing that decrypts it.
	files := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, c := range clear {
			if bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(c))) {
				t.Errorf("%s holds %q in clear text", path, c)
			}
		}
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("%s holds the erased data key", path)
			}
		}
		return nil
	})
	if err != nil || files < 8 {
		t.Fatalf("walked %d files: %v", files, err)
	}

	// The log is unchanged: the data directory and a bundle verify offline.
	ctx := context.Background()
	cli := func(f func(context.Context, []string, io.Writer, io.Writer) int, args ...string) (int, string) {
		var o, e bytes.Buffer
		code := f(ctx, args, &o, &e)
		return code, o.String() + e.String()
	}
	if code, out := cli(runVerify, "--data-dir", dir); code != 0 {
		t.Fatalf("verify --data-dir: exit %d\n%s", code, out)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	if code, out := cli(runExport, "--data-dir", dir, "--bundle", bundle); code != 0 {
		t.Fatalf("export --bundle: exit %d\n%s", code, out)
	}
	if code, out := cli(runVerify, "--bundle", bundle, "--public-key", filepath.Join(AuditDir(dir), auditlog.VerifierKeyFile)); code != 0 || !strings.Contains(out, "verified:") {
		t.Fatalf("verify --bundle: exit %d\n%s", code, out)
	}
}

// TestRule21_KeyStoreMissingOrDamagedRefusesToStart: serve does not serve sealed data without its
// keys: a missing key store (when the log holds personal data), a damaged one, or another master key
// refuse the start, naming the file.
func TestRule21_KeyStoreMissingOrDamagedRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	ts := startServerIn(t, dir, standardPrincipals, nil)
	ts.setupHierarchy()
	ts.must(201, "POST", "/v1/customers", "op-dist-a", map[string]any{"customer_id": "c-p", "name": "C", "partner_id": "dist-a",
		"personal": map[string]any{"mobile": "+14155550100"}})
	ts.shutdown()
	good, err := os.ReadFile(KeyStoreFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	serve := func(extra ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}, extra...), &stdout, &stderr)
		return code, stderr.String()
	}
	other := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(other, keystore.EncodeMasterKey(keystore.NewMasterKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		setup func()
		flags []string
		want  string
	}{
		{"missing", func() { os.Remove(KeyStoreFile(dir)) }, nil, "is missing"},
		{"damaged", func() { os.WriteFile(KeyStoreFile(dir), append(append([]byte{}, good...), "{not json\n"...), 0o600) }, nil, "not a key line"},
		{"another master key", func() { os.WriteFile(KeyStoreFile(dir), good, 0o600) }, []string{"--master-key-file", other}, "master key"},
	} {
		tc.setup()
		code, out := serve(tc.flags...)
		if code == 0 || !strings.Contains(out, KeyStoreFile(dir)) || !strings.Contains(out, tc.want) {
			t.Errorf("%s key store: exit %d\n%s", tc.name, code, out)
		}
	}
	if err := os.WriteFile(KeyStoreFile(dir), good, 0o600); err != nil {
		t.Fatal(err)
	}
	tokens := ts.tokens
	ts = startServerIn(t, dir, nil, nil)
	ts.tokens = tokens
	if st := ts.must(200, "GET", "/v1/customers/c-p", "op-dist-a", nil).json(t); st["personal"].(map[string]any)["mobile"] != "+14155550100" {
		t.Errorf("with the key store restored: %v", st["personal"])
	}
}
