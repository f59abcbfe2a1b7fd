package keystore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"

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
	enc, err := hkdf.Key(sha256.New, raw[:], nil, "freezeledger personal v1 enc", 32)
	if err != nil {
		return nil, err
	}
	nk, err := hkdf.Key(sha256.New, raw[:], nil, "freezeledger personal v1 nonce", 32)
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
	b := make([]byte, 0, 64+len(customerID))
	b = append(b, "freezeledger/personal/v1\x00"...)
	b = append(b, customerID...)
	b = append(b, 0)
	b = append(b, field...)
	b = append(b, 0)
	return append(b, keyID...)
}

func pad(v string) []byte {
	n := (len(v)/padBlock + 1) * padBlock
	b := make([]byte, n)
	copy(b, v)
	b[len(v)] = 0x80
	return b
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

func (k *dataKey) seal(keyID, customerID, field, value string) domain.SealedValue {
	aad := fieldAAD(keyID, customerID, field)
	p := pad(value)
	mac := hmac.New(sha256.New, k.nonceKey)
	mac.Write(aad)
	mac.Write(p)
	nonce := mac.Sum(nil)[:k.aead.NonceSize()]
	return domain.SealedValue{Nonce: nonce, Ciphertext: k.aead.Seal(nil, nonce, p, aad)}
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
