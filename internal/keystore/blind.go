package keystore

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// blindIndex computes the keyed hashes under which the read models index mobile numbers and account
// names (docs/PERSONAL-DATA.md, "Search without clear text in any index"): HMAC-SHA256 of the field
// name, a NUL and the normalised value, keyed with the deployment's index key. Safe for concurrent
// use.
type blindIndex struct {
	pool sync.Pool
}

func newBlindIndex(key []byte) *blindIndex {
	k := append([]byte(nil), key...)
	return &blindIndex{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}}
}

func (b *blindIndex) sum(field, normalized string) [32]byte {
	h := b.pool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(field))
	h.Write([]byte{0})
	h.Write([]byte(normalized))
	var out [32]byte
	h.Sum(out[:0])
	b.pool.Put(h)
	return out
}
