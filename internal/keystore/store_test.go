package keystore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func newTestStore(t *testing.T) (*Store, MasterKey, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys", "personal.keys")
	m := NewMasterKey()
	s, err := Create(path, m)
	if err != nil {
		t.Fatal(err)
	}
	return s, m, path
}

func TestSealOpensOnlyInItsPlace(t *testing.T) {
	s, _, _ := newTestStore(t)
	id, err := s.KeyFor("c-1", "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Seal(id, "c-1", "mobile", "+4915112345678")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(v.Ciphertext, []byte("4915112345678")) || len(v.Nonce) != 12 || (len(v.Ciphertext)-16)%32 != 0 {
		t.Fatalf("sealed value %x / %x", v.Nonce, v.Ciphertext)
	}
	again, _ := s.Seal(id, "c-1", "mobile", "+4915112345678")
	if !bytes.Equal(again.Ciphertext, v.Ciphertext) || !bytes.Equal(again.Nonce, v.Nonce) {
		t.Error("the same value sealed twice differs (retries would not be exact)")
	}
	other, _ := s.Seal(id, "c-1", "mobile", "+4915112345679")
	if bytes.Equal(other.Nonce, v.Nonce) {
		t.Error("two values share a nonce")
	}
	if got, err := s.Unseal(id, "c-1", "mobile", v); err != nil || got != "+4915112345678" {
		t.Fatalf("Unseal = %q, %v", got, err)
	}
	for _, tc := range []struct{ customer, field string }{{"c-2", "mobile"}, {"c-1", "email"}} {
		if _, err := s.Unseal(id, tc.customer, tc.field, v); !errors.Is(err, ErrOpen) {
			t.Errorf("a value moved to %s/%s opens: %v", tc.customer, tc.field, err)
		}
	}
	v.Ciphertext[0] ^= 1
	if _, err := s.Unseal(id, "c-1", "mobile", v); !errors.Is(err, ErrOpen) {
		t.Errorf("an altered value opens: %v", err)
	}
}

func TestKeysAreDurableAndNotHandedOutTwice(t *testing.T) {
	s, m, path := newTestStore(t)
	seen := map[string]bool{}
	var first string
	for i := range PoolSize + 3 {
		id, err := s.KeyFor(string(rune('a'+i%26))+strings.Repeat("x", i), "")
		if err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatalf("key %s handed out twice", id)
		}
		seen[id] = true
		if i == 0 {
			first = id
		}
	}
	if id, _ := s.KeyFor("a", ""); id != first {
		t.Errorf("a retry for the same customer gets %s, not %s", id, first)
	}
	r, repaired, err := Open(path, m)
	if err != nil || repaired {
		t.Fatalf("reopen: %v (repaired %v)", err, repaired)
	}
	for id := range seen {
		if !r.Known(id) {
			t.Errorf("key %s handed out but not on disk", id)
		}
	}
	fresh, _ := r.KeyFor("new", "")
	if seen[fresh] {
		t.Errorf("after a reopen, key %s (possibly in use) is handed out again", fresh)
	}
	if _, err := r.KeyFor("a", first); err != nil {
		t.Errorf("the key the log records is refused: %v", err)
	}
}

func TestDestroyRemovesTheKeyFromTheFile(t *testing.T) {
	s, m, path := newTestStore(t)
	id, _ := s.KeyFor("c-1", "")
	keep, _ := s.KeyFor("c-2", "")
	v, _ := s.Seal(id, "c-1", "email", "ann@example.com")
	raw := s.keys[id].dk.raw
	wrapped := s.keys[id].wrapped
	if err := s.Destroy(id); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, raw[:]) || bytes.Contains(b, []byte(wrapped)) {
		t.Fatal("the destroyed key is still in the file")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	if _, err := s.Unseal(id, "c-1", "email", v); !errors.Is(err, ErrDestroyed) {
		t.Errorf("Unseal after Destroy: %v", err)
	}
	r, _, err := Open(path, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Unseal(id, "c-1", "email", v); !errors.Is(err, ErrDestroyed) {
		t.Errorf("Unseal after Destroy and reopen: %v", err)
	}
	if _, err := r.KeyFor("c-2", keep); err != nil {
		t.Errorf("another customer's key went too: %v", err)
	}
	if _, err := r.KeyFor("c-1", id); !errors.Is(err, ErrDestroyed) {
		t.Errorf("KeyFor a destroyed key: %v", err)
	}
}

func TestOpenRefusesNamingTheFile(t *testing.T) {
	s, m, path := newTestStore(t)
	if _, err := s.KeyFor("c-1", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(path, NewMasterKey()); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "master key") {
		t.Errorf("another master key: %v", err)
	}
	if _, _, err := Open(filepath.Join(filepath.Dir(path), "absent"), m); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	b, _ := os.ReadFile(path)
	lines := bytes.SplitAfter(b, []byte("\n"))
	bad := bytes.Replace(lines[1], []byte(`"wrapped":"`), []byte(`"wrapped":"AAAA`), 1)
	if err := os.WriteFile(path, append(append([]byte{}, lines[0]...), bad...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(path, m); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path+", line 2") {
		t.Errorf("a damaged key line: %v", err)
	}
}

func TestTornTailIsDropped(t *testing.T) {
	s, m, path := newTestStore(t)
	id, _ := s.KeyFor("c-1", "")
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	_, _ = f.WriteString(`{"key_id":"pk_00`)
	_ = f.Close()
	r, repaired, err := Open(path, m)
	if err != nil || !repaired {
		t.Fatalf("Open = %v, repaired %v", err, repaired)
	}
	if !r.Known(id) {
		t.Error("a durable key was lost with the torn tail")
	}
	if b, _ := os.ReadFile(path); b[len(b)-1] != '\n' {
		t.Error("the torn tail is still there")
	}
}

func TestRotate(t *testing.T) {
	s, m, path := newTestStore(t)
	id, _ := s.KeyFor("c-1", "")
	v, _ := s.Seal(id, "c-1", "mobile", "+14155550100")
	h := s.BlindIndex("mobile", "+14155550100")
	next := NewMasterKey()
	if err := s.Rotate(next); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(path, m); !errors.Is(err, ErrDamaged) {
		t.Errorf("the old master key still opens the rotated store: %v", err)
	}
	r, _, err := Open(path, next)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Unseal(id, "c-1", "mobile", v); err != nil || got != "+14155550100" {
		t.Errorf("after rotation: %q, %v", got, err)
	}
	if r.BlindIndex("mobile", "+14155550100") != h {
		t.Error("rotation changed the blind index")
	}
}

// TestConcurrentKeyForAcrossRefills: keys handed out concurrently, across batch appends (made
// without the store's lock) and with erasures rewriting the file meanwhile, are each handed out
// once, and on disk, live or destroyed as they should be, after a reopen.
func TestConcurrentKeyForAcrossRefills(t *testing.T) {
	s, m, path := newTestStore(t)
	const workers, each = 4, PoolSize/2 + 7
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				c := fmt.Sprintf("c-%d-%d", w, i)
				id, err := s.KeyFor(c, "")
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Seal(id, c, "mobile", "+14155550100"); err != nil {
					t.Error(err)
					return
				}
				if i%100 == 0 {
					if err := s.Destroy(id); err != nil {
						t.Error(err)
						return
					}
				}
				ids[w] = append(ids[w], id)
			}
		}()
	}
	wg.Wait()
	r, _, err := Open(path, m)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for w := range workers {
		for i, id := range ids[w] {
			if seen[id] {
				t.Fatalf("key %s handed out twice", id)
			}
			seen[id] = true
			_, err := r.KeyFor("x", id)
			if destroyed := i%100 == 0; destroyed != errors.Is(err, ErrDestroyed) || (!destroyed && err != nil) {
				t.Errorf("key %d of worker %d after reopen: %v", i, w, err)
			}
		}
	}
	if len(seen) != workers*each {
		t.Errorf("%d keys handed out, want %d", len(seen), workers*each)
	}
}
