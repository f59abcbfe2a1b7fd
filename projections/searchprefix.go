package projections

import (
	"bytes"
	"slices"
	"sort"
)

// The customer ID prefix index. Results are in association order (customer index), and IDs need
// not follow that order, so one list of customers sorted by ID would give a prefix's customers in
// the wrong order, to be sorted again at every page: a prefix matching half a million customers
// would sort half a million indices for a page of 100. Instead the customers are cut into blocks of
// idBlockSize consecutive indices, and each complete block keeps its indices sorted by ID
// (state.idBlocks). A prefix search from a cursor takes, block by block in association order, the
// range of the block's sorted IDs that have the prefix (two binary searches), sorts that range back
// into association order and yields it; it stops when the page is full. The customers after the
// last complete block (fewer than idBlockSize) are checked one by one.
//
// Cost per page: two binary searches (12 ID comparisons each) per block skipped, plus the sort of the
// matching range of each block read (none when the whole block matches), plus at most idBlockSize
// prefix checks for the open block: at 1,000,000 customers, a prefix that matches nothing costs 245
// blocks' binary searches and 576 checks. Memory: 4 bytes per customer. Upkeep: a block is sorted
// once, when its last customer is associated (apply), or when a checkpoint is loaded (deriveIndexes).

// idBlockSize is the number of consecutive customer indices in one block of the prefix index.
const idBlockSize = 4096

// sealIDBlocks sorts every complete block of customers not yet in s.idBlocks (after an
// association, or all of them after a checkpoint load).
func (s *state) sealIDBlocks() {
	for (len(s.idBlocks)+1)*idBlockSize <= len(s.customers) {
		first := uint32(len(s.idBlocks) * idBlockSize)
		blk := make([]uint32, idBlockSize)
		for i := range blk {
			blk[i] = first + uint32(i)
		}
		slices.SortFunc(blk, func(a, b uint32) int {
			return bytes.Compare(s.cidBytes(&s.customers[a]), s.cidBytes(&s.customers[b]))
		})
		s.idBlocks = append(s.idBlocks, blk)
	}
}

// prefixCandidates yields, ascending from a start index, the customers whose ID starts with a
// prefix (exactly those), through state.idBlocks.
type prefixCandidates struct {
	s      *state
	prefix []byte
	start  uint32
	ranges []blockRange // the matching range of each complete block from start's block on
	n      int          // how many customers the ranges and the open block may yield (an upper bound)

	buf  []uint32 // the current block's matches, ascending; buf[at:] are still to yield
	at   int
	next uint32 // the open block's next index to check, once the ranges are used up
}

type blockRange struct{ block, lo, hi uint32 }

// newPrefixCandidates finds the matching range of every complete block from start's on; n counts
// them and the open block's customers from start on.
func (s *state) newPrefixCandidates(prefix []byte, start uint32) *prefixCandidates {
	p := &prefixCandidates{s: s, prefix: prefix, start: start}
	for b := int(start / idBlockSize); b < len(s.idBlocks); b++ {
		blk := s.idBlocks[b]
		lo, _ := slices.BinarySearchFunc(blk, prefix, func(ci uint32, t []byte) int {
			return bytes.Compare(s.cidBytes(&s.customers[ci]), t)
		})
		hi := lo + sort.Search(len(blk)-lo, func(i int) bool { return !bytes.HasPrefix(s.cidBytes(&s.customers[blk[lo+i]]), prefix) })
		if lo < hi {
			p.ranges = append(p.ranges, blockRange{uint32(b), uint32(lo), uint32(hi)})
			p.n += hi - lo
		}
	}
	p.next = max(start, uint32(len(s.idBlocks)*idBlockSize))
	p.n += len(s.customers) - int(min(p.next, uint32(len(s.customers))))
	return p
}

// take returns the next candidate.
func (p *prefixCandidates) take() (uint32, bool) {
	for p.at == len(p.buf) {
		if len(p.ranges) == 0 {
			return p.open()
		}
		r := p.ranges[0]
		p.ranges = p.ranges[1:]
		first := r.block * idBlockSize
		p.buf, p.at = p.buf[:0], 0
		if r.hi-r.lo == idBlockSize { // the whole block matches: it is its own association order
			for ci := max(first, p.start); ci < first+idBlockSize; ci++ {
				p.buf = append(p.buf, ci)
			}
			continue
		}
		p.buf = append(p.buf, p.s.idBlocks[r.block][r.lo:r.hi]...)
		slices.Sort(p.buf)
		p.at = searchU32(p.buf, p.start)
	}
	p.at++
	return p.buf[p.at-1], true
}

// open checks the customers after the last complete block one by one.
func (p *prefixCandidates) open() (uint32, bool) {
	s := p.s
	for ; int(p.next) < len(s.customers); p.next++ {
		if bytes.HasPrefix(s.cidBytes(&s.customers[p.next]), p.prefix) {
			p.next++
			return p.next - 1, true
		}
	}
	return 0, false
}
