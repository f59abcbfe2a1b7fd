package projections

import (
	"hash/maphash"
)

// The customer table is pointer-free, so that the garbage collector never scans it: at a million
// customers a map[string]uint32 plus a string and a slice per customer made GC marking the largest
// cost of a rebuild. IDs and names live back to back in one byte arena, transitions in one shared
// slice linked newest-to-oldest per customer, and the ID index is an open-addressing table of
// customer indices.

// customer is one customer: where its ID and name are, its place in the channel, its transitions
// (state.ctrans, newest first through prev links) and a cached summary of its present state.
//
// The struct is exactly 64 bytes, and the slice's array is page-aligned (it is large), so each
// customer is one aligned cache line (it was 128 bytes with a copy of the freeze in force; at ten
// million customers that copy alone was 400 MB). A live status of an ACTIVE customer reads this
// line only; a frozen one's also reads its freeze in state.ctrans (cur), which the status shows.
type customer struct {
	keyOff         uint64 // ID, then name, in state.arena
	lastCommit     uint64 // commit position of lastLeaf (its prepare: state.pos): saves a cache miss in state.pos per lookup
	assocAt        int64
	idLen          uint32
	nameLen        uint32
	ntrans         uint32
	lastLeaf       uint32
	partner        uint32
	cur            uint32 // index in state.ctrans of the freeze in force, noTrans when ACTIVE
	tags           uint32 // index into tagSets
	accountManager uint32 // interned
	last           uint32 // index in state.ctrans of the newest transition
	curSev         uint8  // the severity of the freeze in force (cur), sevNone when ACTIVE
	released       bool
	disassociated  bool // the association ended (rule 20) after the latest association
}

// The present (cur, curSev, assocAt, lastLeaf, lastCommit, released) is cached so that a live
// lookup reads the customer (and its freeze) only (state.customerAt folds transitions for the past).
// It is kept by note and addTrans, and recomputed from the transitions when a checkpoint is loaded.

const noTrans = ^uint32(0)

// note updates the cached present with t, the customer's newest transition (at's rules), which is
// state.ctrans[k].
func (c *customer) note(t *ctrans, k uint32) {
	c.lastLeaf = t.leaf
	switch t.kind {
	case kindAssociated:
		c.cur, c.curSev, c.assocAt, c.released, c.disassociated = noTrans, sevNone, t.time, false, false
	case kindDisassociated:
		c.cur, c.curSev, c.disassociated = noTrans, sevNone, true
	case kindFrozen:
		c.cur, c.curSev = k, t.sev
	case kindUnfrozen:
		c.cur, c.curSev = noTrans, sevNone
	case kindReleased:
		c.released = true
	}
}

func (s *state) cidBytes(c *customer) []byte { return s.arena[c.keyOff : c.keyOff+uint64(c.idLen)] }

func (s *state) cnameBytes(c *customer) []byte {
	o := c.keyOff + uint64(c.idLen)
	return s.arena[o : o+uint64(c.nameLen)]
}

func (s *state) cid(c *customer) string { return string(s.cidBytes(c)) }

func (s *state) newCustomer(id, name []byte) customer {
	c := customer{keyOff: uint64(len(s.arena)), idLen: uint32(len(id)), nameLen: uint32(len(name)), partner: noPartner, cur: noTrans}
	s.arena = append(append(s.arena, id...), name...)
	return c
}

// renamed is c with a new name (a re-association may rename): the old bytes stay unused in the arena.
func (s *state) renamed(c *customer, name []byte) customer {
	n := *c
	id := s.cidBytes(c)
	n.keyOff = uint64(len(s.arena))
	n.nameLen = uint32(len(name))
	s.arena = append(append(s.arena, id...), name...)
	return n
}

// addTrans links t as c's newest transition.
func (s *state) addTrans(c *customer, t ctrans) {
	t.prev = noTrans
	if c.ntrans > 0 {
		t.prev = c.last
	}
	k := uint32(len(s.ctrans))
	c.last = k
	c.ntrans++
	s.ctrans = append(s.ctrans, t)
	c.note(&t, k)
	c.lastCommit = s.pos.commit[t.leaf]
}

// transOf returns c's transitions, oldest first (a copy).
func (s *state) transOf(c *customer) []ctrans {
	var buf []ctrans
	return s.transOfInto(c, &buf)
}

// transOfInto is transOf reusing *buf.
func (s *state) transOfInto(c *customer, buf *[]ctrans) []ctrans {
	if cap(*buf) < int(c.ntrans) {
		*buf = make([]ctrans, c.ntrans)
	}
	out := (*buf)[:c.ntrans]
	i := int(c.ntrans) - 1
	for k := c.last; i >= 0; k = s.ctrans[k].prev {
		out[i] = s.ctrans[k]
		i--
	}
	return out
}

// idTable maps customer IDs to customer indices by linear probing, at most half full. A slot holds
// the customer index + 1 (0: empty) in its low 32 bits and the top 32 bits of the ID's hash above,
// so a probe that meets another customer is rejected without touching that customer (a cache miss).
type idTable struct {
	seed  maphash.Seed
	slots []uint64
	n     int
}

func newIDTable(capacity int) idTable {
	size := 1024
	for size < 2*capacity {
		size *= 2
	}
	return idTable{seed: maphash.MakeSeed(), slots: make([]uint64, size)}
}

// lookup returns the index of the customer with ID id.
func (s *state) lookup(id string) (uint32, bool) {
	return probeID(s, maphash.String(s.cindex.seed, id), id)
}

// lookupBytes is lookup for an ID given as bytes (a view into an event's payload), not copied.
func (s *state) lookupBytes(id []byte) (uint32, bool) {
	return probeID(s, maphash.Bytes(s.cindex.seed, id), id)
}

// probeID finds the customer with ID id, whose hash in the table is h (maphash.String and
// maphash.Bytes agree on equal contents). It is generic rather than taking a string so that a
// []byte ID is compared in place, never converted.
func probeID[ID string | []byte](s *state, h uint64, id ID) (uint32, bool) {
	t := &s.cindex
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		v := t.slots[i]
		if v == 0 {
			return 0, false
		}
		if v>>32 == h>>32 {
			ci := uint32(v) - 1
			if c := &s.customers[ci]; int(c.idLen) == len(id) && string(s.cidBytes(c)) == string(id) {
				return ci, true
			}
		}
	}
}

// index adds customer ci to the table; it reports false (and adds nothing) if its ID is there.
func (s *state) index(ci uint32) bool {
	t := &s.cindex
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.slots = make([]uint64, 2*len(old))
		t.n = 0
		for _, v := range old {
			if v != 0 {
				s.place(uint32(v) - 1)
			}
		}
	}
	return s.place(ci)
}

func (s *state) place(ci uint32) bool {
	t := &s.cindex
	mask := uint64(len(t.slots) - 1)
	id := s.cidBytes(&s.customers[ci])
	h := maphash.Bytes(t.seed, id)
	i := h & mask
	for ; t.slots[i] != 0; i = (i + 1) & mask {
		v := t.slots[i]
		if v>>32 == h>>32 && string(s.cidBytes(&s.customers[uint32(v)-1])) == string(id) {
			return false
		}
	}
	t.slots[i] = h>>32<<32 | uint64(ci+1)
	t.n++
	return true
}
