package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/internal/keystore"
)

// keysCLI runs `freezeledger keys ...` and returns its exit code and output.
func keysCLI(args ...string) (int, string) {
	var o, e bytes.Buffer
	code := run(context.Background(), append([]string{"keys"}, args...), &o, &e)
	return code, o.String() + e.String()
}

// serveCode runs serve on dir with extra flags until it fails to start; for starts that must fail.
func serveCode(dir string, extra ...string) (int, string) {
	var o, e bytes.Buffer
	code := run(context.Background(), append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}, extra...), &o, &e)
	return code, e.String()
}

// personalServer starts a server on a fresh directory with one customer with personal data, and
// stops it; it returns the directory and the tokens.
func personalServer(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	ts := startServerIn(t, dir, standardPrincipals, nil)
	ts.setupHierarchy()
	ts.must(201, "POST", "/v1/customers", "op-dist-a", map[string]any{"customer_id": "c-p", "name": "C", "partner_id": "dist-a",
		"personal": map[string]any{"mobile": "+14155550100", "email": "ann@example.com"}})
	ts.shutdown()
	return dir, ts.tokens
}

// wantPersonal starts serve on dir with flags and checks that c-p's personal data shows.
func wantPersonal(t *testing.T, dir string, tokens map[string]string, flags ...string) {
	t.Helper()
	ts := startServerFull(t, dir, nil, nil, append([]string{"--log-level", "warn"}, flags...))
	ts.tokens = tokens
	st := ts.must(200, "GET", "/v1/customers/c-p", "op-dist-a", nil).json(t)
	if p, _ := st["personal"].(map[string]any); p["mobile"] != "+14155550100" || p["email"] != "ann@example.com" {
		t.Errorf("personal after rotation = %v", st["personal"])
	}
	ts.shutdown()
}

// TestKeysRotate: `keys rotate` refuses while a server holds the data directory's lock; it rewraps
// the key store under a new master key file, after which serve starts with the new key and shows
// the personal data, and refuses with the old one, naming the key store file; the data directory's
// default key is removed then, and a rotation of the default key replaces it.
func TestKeysRotate(t *testing.T) {
	dir, tokens := personalServer(t)
	path := KeyStoreFile(dir)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	oldKey := filepath.Join(t.TempDir(), "old.key")
	b, err := os.ReadFile(MasterKeyFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(oldKey, b, 0o600); err != nil {
		t.Fatal(err)
	}
	newKey := filepath.Join(t.TempDir(), "new.key")

	// While a server runs: refused, nothing changed.
	ts := startServerIn(t, dir, nil, nil)
	if code, out := keysCLI("rotate", "--data-dir", dir, "--new-master-key-file", newKey); code == 0 || !strings.Contains(out, "locked") || !strings.Contains(out, "stop it first") {
		t.Errorf("rotate under a running server: exit %d\n%s", code, out)
	}
	ts.shutdown()
	if now, _ := os.ReadFile(path); !bytes.Equal(now, before) {
		t.Error("a refused rotation changed the key store")
	}
	if _, err := os.Stat(newKey); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused rotation created the new key: %v", err)
	}

	code, out := keysCLI("rotate", "--data-dir", dir, "--new-master-key-file", newKey)
	if code != 0 || !strings.Contains(out, "data keys") || !strings.Contains(out, "created in "+newKey) {
		t.Fatalf("rotate: exit %d\n%s", code, out)
	}
	if st, err := os.Stat(newKey); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the new key file: %v", err)
	}
	if _, err := os.Stat(MasterKeyFile(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the old default master key is still in the data directory: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("key store mode %v", st.Mode().Perm())
	}
	wantPersonal(t, dir, tokens, "--master-key-file", newKey)
	if code, out := serveCode(dir, "--master-key-file", oldKey); code == 0 || !strings.Contains(out, path) || !strings.Contains(out, "master key") {
		t.Errorf("serve with the old master key: exit %d\n%s", code, out)
	}
	if code, out := keysCLI("rotate", "--data-dir", dir, "--master-key-file", newKey, "--new-master-key-file", newKey); code == 0 || !strings.Contains(out, "is the current one") {
		t.Errorf("rotate to the same key: exit %d\n%s", code, out)
	}
	if code, out := keysCLI("rotate", "--data-dir", dir, "--master-key-file", newKey); code == 0 || !strings.Contains(out, "--new-master-key-file") {
		t.Errorf("rotate a key outside the data directory without a new one: exit %d\n%s", code, out)
	}
}

// TestKeysRotateDefaultKey: without key flags, a fresh key replaces <data-dir>/keys/master.key; a
// rotation that stopped after the key store's rewrite (the new key still in master.key.next) is
// completed by the next run.
func TestKeysRotateDefaultKey(t *testing.T) {
	dir, tokens := personalServer(t)
	oldKey := filepath.Join(t.TempDir(), "old.key")
	b, _ := os.ReadFile(MasterKeyFile(dir))
	if err := os.WriteFile(oldKey, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := keysCLI("rotate", "--data-dir", dir); code != 0 || !strings.Contains(out, "replaced "+MasterKeyFile(dir)) {
		t.Fatalf("rotate: exit %d\n%s", code, out)
	}
	if now, _ := os.ReadFile(MasterKeyFile(dir)); bytes.Equal(now, b) {
		t.Fatal("the default master key was not replaced")
	}
	if _, err := os.Stat(MasterKeyFile(dir) + ".next"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("master.key.next left behind: %v", err)
	}
	wantPersonal(t, dir, tokens)
	if code, out := serveCode(dir, "--master-key-file", oldKey); code == 0 || !strings.Contains(out, KeyStoreFile(dir)) {
		t.Errorf("serve with the old master key: exit %d\n%s", code, out)
	}

	// A run that stopped between the rewrite and the replacement of master.key.
	cur, _ := keystore.ReadMasterKey(MasterKeyFile(dir))
	next := keystore.NewMasterKey()
	if err := os.WriteFile(MasterKeyFile(dir)+".next", keystore.EncodeMasterKey(next), 0o600); err != nil {
		t.Fatal(err)
	}
	ks, _, err := keystore.Open(KeyStoreFile(dir), cur)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Rotate(next); err != nil {
		t.Fatal(err)
	}
	if code, out := keysCLI("rotate", "--data-dir", dir); code != 0 || !strings.Contains(out, next.ID()) {
		t.Fatalf("rotate after an interrupted rotation: exit %d\n%s", code, out)
	}
	if got, _ := keystore.ReadMasterKey(MasterKeyFile(dir)); got != next {
		t.Error("the interrupted rotation's key did not replace master.key")
	}
	wantPersonal(t, dir, tokens)
}
