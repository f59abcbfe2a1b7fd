package projections

import "sort"

// The search's secondary indexes: customers by tag (state.tagIndex) and a distributor's resellers'
// customers (partner.resold), each an ascending list of customer indices, so a search walks them in
// association order and a cursor (a customer index) resumes any of them by binary search; the
// customer ID prefix index (state.idBlocks, searchprefix.go); and each customer's creation leaf
// (state.created), which ends a search as of a past moment at the last customer it can see. They
// are kept by apply and derived again from the customer table when a checkpoint is loaded
// (deriveIndexes), so the checkpoint format does not hold them.

// insertSorted inserts ci into the ascending list l (once). Appending a new customer, the usual
// case, is O(1).
func insertSorted(l []uint32, ci uint32) []uint32 {
	if n := len(l); n == 0 || l[n-1] < ci {
		return append(l, ci)
	}
	k := sort.Search(len(l), func(i int) bool { return l[i] >= ci })
	if k < len(l) && l[k] == ci {
		return l
	}
	l = append(l, 0)
	copy(l[k+1:], l[k:])
	l[k] = ci
	return l
}

// removeSorted removes ci from the ascending list l if it is there.
func removeSorted(l []uint32, ci uint32) []uint32 {
	k := sort.Search(len(l), func(i int) bool { return l[i] >= ci })
	if k < len(l) && l[k] == ci {
		return append(l[:k], l[k+1:]...)
	}
	return l
}

// indexTags adds customer ci under every tag of tag set set.
func (s *state) indexTags(ci, set uint32) {
	for _, t := range s.tagSets[set] {
		s.tagIndex[t] = insertSorted(s.tagIndex[t], ci)
	}
}

// unindexTags removes customer ci from the lists of tag set set.
func (s *state) unindexTags(ci, set uint32) {
	for _, t := range s.tagSets[set] {
		s.tagIndex[t] = removeSorted(s.tagIndex[t], ci)
	}
}

// customerAdded keeps the indexes that follow the customer table as it grows: the creation leaf
// of the customer just added at leaf, and the prefix index's blocks.
func (s *state) customerAdded(leaf uint32) {
	s.created = append(s.created, leaf)
	s.sealIDBlocks()
}

// createdBefore is how many customers existed before cut: customer indices are given in log order
// at the first association, so every customer at or past it was created at or after cut, and a
// search as of cut has no candidate there.
func (s *state) createdBefore(cut uint32) uint32 {
	return uint32(searchU32(s.created, cut))
}

// deriveIndexes rebuilds the derived indexes from the customer table (after a checkpoint load).
func (s *state) deriveIndexes() {
	s.tagIndex = map[uint32][]uint32{}
	for i := range s.partners {
		s.partners[i].resold = nil
	}
	s.idBlocks = nil
	s.sealIDBlocks()
	s.created = make([]uint32, len(s.customers))
	for ci := range s.customers {
		c := &s.customers[ci]
		k := c.last
		for n := c.ntrans; n > 1; n-- {
			k = s.ctrans[k].prev
		}
		s.created[ci] = s.ctrans[k].leaf
	}
	for ci := range s.customers {
		c := &s.customers[ci]
		for _, t := range s.tagSets[c.tags] {
			s.tagIndex[t] = append(s.tagIndex[t], uint32(ci))
		}
		if p := &s.partners[c.partner]; p.parent != noPartner {
			q := &s.partners[p.parent]
			q.resold = append(q.resold, uint32(ci))
		}
	}
}

// typeUnindexed is the type code of an event whose type did not get a code of its own (after 255
// distinct types): a type filter reads such an event's type from the store.
const typeUnindexed uint8 = 0

// typeCode is the code of event type typ, assigning the next one to a type not seen before.
func (s *state) typeCode(typ string) uint8 {
	if c, ok := s.typeIdx[typ]; ok {
		return c
	}
	if len(s.types) > 255 {
		return typeUnindexed
	}
	c := uint8(len(s.types))
	s.types = append(s.types, typ)
	s.typeIdx[typ] = c
	return c
}
