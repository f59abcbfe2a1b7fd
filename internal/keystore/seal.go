package keystore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"hash"
	"sync"

	"github.com/freezeledger/freezeledger/domain"
)

// Sealing one personal field with a customer's data key (docs/PERSONAL-DATA.md, "Sealing"): the
// value is padded to a multiple of padBlock bytes, sealed with AES-256-GCM under a key derived from
// the data key, with additional data naming the customer, the field and the key ID, and a nonce
// derived from the value (a synthetic IV: the same value gives the same bytes, two values never
// share a nonce).

const padBlock = 32

// ErrOpen is returned when a sealed value does not open with its key (altered, moved to another
// customer or field, or sealed with another key).
var ErrOpen = errors.New("keystore: sealed value does not open")

// dataKey is a customer's data key with its derived keys.
type dataKey struct {
	raw      [32]byte
	aead     cipher.AEAD
	nonceKey []byte
}

func newDataKey(raw [32]byte) (*dataKey, error) {
	// hkdf.Key(sha256.New, raw, nil, info, 32) for both infos, with the extraction done once.
	prk, err := hkdf.Extract(sha256.New, raw[:], nil)
	if err != nil {
		return nil, err
	}
	enc, err := hkdf.Expand(sha256.New, prk, "freezeledger personal v1 enc", 32)
	if err != nil {
		return nil, err
	}
	nk, err := hkdf.Expand(sha256.New, prk, "freezeledger personal v1 nonce", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &dataKey{raw: raw, aead: aead, nonceKey: nk}, nil
}

func fieldAAD(keyID, customerID, field string) []byte {
	b := make([]byte, 0, len("freezeledger/personal/v1\x00")+len(customerID)+1+len(field)+1+len(keyID))
	b = append(b, "freezeledger/personal/v1\x00"...)
	b = append(b, customerID...)
	b = append(b, 0)
	b = append(b, field...)
	b = append(b, 0)
	return append(b, keyID...)
}

func unpad(b []byte) ([]byte, bool) {
	i := len(b) - 1
	for i >= 0 && b[i] == 0 {
		i--
	}
	if i < 0 || b[i] != 0x80 {
		return nil, false
	}
	return b[:i], true
}

// seal makes one allocation for the nonce, the ciphertext and its tag: the padded value is written
// where its ciphertext goes, its synthetic nonce computed, and it is encrypted in place.
func (k *dataKey) seal(keyID, customerID, field, value string) domain.SealedValue {
	aad := fieldAAD(keyID, customerID, field)
	ns := k.aead.NonceSize()
	n := (len(value)/padBlock + 1) * padBlock
	buf := make([]byte, ns+n, ns+n+k.aead.Overhead())
	p := buf[ns:]
	copy(p, value)
	p[len(value)] = 0x80
	sum := hmacSHA256(k.nonceKey, aad, p)
	nonce := buf[:ns:ns]
	copy(nonce, sum[:ns])
	return domain.SealedValue{Nonce: nonce, Ciphertext: k.aead.Seal(p[:0], nonce, p, aad)}
}

// macState is hmacSHA256's digest and scratch space, pooled: nothing of it escapes per call.
type macState struct {
	h          hash.Hash
	pad        [sha256.BlockSize]byte
	inner, out [sha256.Size]byte
}

var macPool = sync.Pool{New: func() any { return &macState{h: sha256.New()} }}

// hmacSHA256 is HMAC-SHA256 (RFC 2104) of a ‖ b under a key of at most one block (64 bytes), with
// pooled digests instead of crypto/hmac's per-key state: a data key's nonce key is used for a few
// seals only, so keeping an hmac.Hash per key would cost more memory than it saves.
// TestHMACSHA256 holds it equal to crypto/hmac.
func hmacSHA256(key, a, b []byte) [32]byte {
	m := macPool.Get().(*macState)
	m.pad = [sha256.BlockSize]byte{}
	copy(m.pad[:], key)
	for i := range m.pad {
		m.pad[i] ^= 0x36
	}
	m.h.Reset()
	m.h.Write(m.pad[:])
	m.h.Write(a)
	m.h.Write(b)
	m.h.Sum(m.inner[:0])
	for i := range m.pad {
		m.pad[i] ^= 0x36 ^ 0x5c
	}
	m.h.Reset()
	m.h.Write(m.pad[:])
	m.h.Write(m.inner[:])
	m.h.Sum(m.out[:0])
	out := m.out
	macPool.Put(m)
	return out
}

func (k *dataKey) open(keyID, customerID, field string, v domain.SealedValue) (string, error) {
	if len(v.Nonce) != k.aead.NonceSize() {
		return "", ErrOpen
	}
	p, err := k.aead.Open(nil, v.Nonce, v.Ciphertext, fieldAAD(keyID, customerID, field))
	if err != nil {
		return "", ErrOpen
	}
	u, ok := unpad(p)
	if !ok {
		return "", ErrOpen
	}
	return string(u), nil
}
