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
	pool sync.Pool // of *blindState
}

// blindState is one HMAC with its scratch space, so that a sum allocates nothing.
type blindState struct {
	h   hash.Hash
	msg []byte
	out [sha256.Size]byte
}

func newBlindIndex(key []byte) *blindIndex {
	k := append([]byte(nil), key...)
	return &blindIndex{pool: sync.Pool{New: func() any { return &blindState{h: hmac.New(sha256.New, k)} }}}
}

func (b *blindIndex) sum(field, normalized string) [32]byte {
	st := b.pool.Get().(*blindState)
	st.msg = append(append(append(st.msg[:0], field...), 0), normalized...)
	st.h.Reset()
	st.h.Write(st.msg)
	st.h.Sum(st.out[:0])
	out := st.out
	clear(st.msg)
	b.pool.Put(st)
	return out
}
