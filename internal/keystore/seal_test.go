package keystore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"
)

// TestHMACSHA256 holds the pooled HMAC of the nonces equal to crypto/hmac, for keys up to one
// block and messages of every length around the block size.
func TestHMACSHA256(t *testing.T) {
	for _, kl := range []int{0, 1, 32, 63, 64} {
		key := make([]byte, kl)
		_, _ = rand.Read(key)
		for ml := range 200 {
			msg := make([]byte, ml)
			_, _ = rand.Read(msg)
			cut := ml / 3
			m := hmac.New(sha256.New, key)
			m.Write(msg)
			want := m.Sum(nil)
			if got := hmacSHA256(key, msg[:cut], msg[cut:]); !bytes.Equal(got[:], want) {
				t.Fatalf("key %d bytes, message %d bytes: %x, want %x", kl, ml, got, want)
			}
		}
	}
}

// TestSealMatchesTheDocumentedConstruction seals with the store and again with the construction of
// docs/PERSONAL-DATA.md ("Sealing") written out with the standard library: the bytes must agree,
// for values of every length around the padding block.
func TestSealMatchesTheDocumentedConstruction(t *testing.T) {
	s, _, _ := newTestStore(t)
	id, err := s.KeyFor("c-1", "")
	if err != nil {
		t.Fatal(err)
	}
	raw := s.keys[id].dk.raw
	enc, _ := hkdf.Key(sha256.New, raw[:], nil, "freezeledger personal v1 enc", 32)
	nk, _ := hkdf.Key(sha256.New, raw[:], nil, "freezeledger personal v1 nonce", 32)
	block, _ := aes.NewCipher(enc)
	gcm, _ := cipher.NewGCM(block)
	for n := range 100 {
		value := strings.Repeat("é", n/2) + strings.Repeat("x", n%2)
		aad := []byte("freezeledger/personal/v1\x00c-1\x00contact_name\x00" + id)
		padded := make([]byte, (len(value)/32+1)*32)
		copy(padded, value)
		padded[len(value)] = 0x80
		m := hmac.New(sha256.New, nk)
		m.Write(aad)
		m.Write(padded)
		nonce := m.Sum(nil)[:12]
		want := gcm.Seal(nil, nonce, padded, aad)
		got, err := s.Seal(id, "c-1", "contact_name", value)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Nonce, nonce) || !bytes.Equal(got.Ciphertext, want) {
			t.Fatalf("value of %d bytes: sealed %x / %x, want %x / %x", len(value), got.Nonce, got.Ciphertext, nonce, want)
		}
		if back, err := s.Unseal(id, "c-1", "contact_name", got); err != nil || back != value {
			t.Fatalf("value of %d bytes: Unseal = %q, %v", len(value), back, err)
		}
	}
}

// TestBlindIndexIsTheDocumentedHMAC: the index hash is HMAC-SHA256(index key, field NUL value), also
// when its pooled state served a longer value before.
func TestBlindIndexIsTheDocumentedHMAC(t *testing.T) {
	s, _, _ := newTestStore(t)
	ik, err := s.unwrapKey("index", s.header.IndexKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ field, value string }{
		{"account_name", strings.Repeat("long.login.", 10)}, {"mobile", "+14155550100"}, {"mobile", "+1415"}, {"account_name", ""},
	} {
		m := hmac.New(sha256.New, ik)
		m.Write([]byte(tc.field + "\x00" + tc.value))
		if got := s.BlindIndex(tc.field, tc.value); !bytes.Equal(got[:], m.Sum(nil)) {
			t.Errorf("BlindIndex(%q, %q) is not the documented HMAC", tc.field, tc.value)
		}
	}
}
