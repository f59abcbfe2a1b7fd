package projections

import (
	"strings"

	"github.com/freezeledger/freezeledger/domain"
)

// Stream names of the leaves (state.stream), read back only to fetch an event from the store
// (history and audit pages, the checkpoint's check). Most names are interned in state.strs, but the
// domain writes one reservation stream per customer (domain.CustomerReservationStreamPrefix and
// its ID, rule 10), and interning each of those cost about 110 bytes per customer (the string, its
// header in strs, its entry in strIdx). A leaf in such a stream has the code resStream|k instead:
// its ID is the k-th in resArena (resLoc[k]: offset << 16 | length), 8 bytes and the ID's bytes
// (once for a run of consecutive leaves in the same stream).

// resStream marks a stream code as a customer reservation stream's (state.resLoc).
const resStream uint32 = 1 << 31

// streamCode is the code of the stream named name for the next leaf.
func (s *state) streamCode(name string) uint32 {
	if id, ok := strings.CutPrefix(name, domain.CustomerReservationStreamPrefix); ok && id != "" && len(id) < 1<<16 && len(s.resLoc) < int(resStream-1) {
		if n := len(s.stream); n > 0 && s.stream[n-1]&resStream != 0 && string(s.resID(s.stream[n-1]&^resStream)) == id {
			return s.stream[n-1] // the previous leaf's stream: one entry for a run of its events
		}
		k := uint32(len(s.resLoc))
		s.resLoc = append(s.resLoc, uint64(len(s.resArena))<<16|uint64(len(id)))
		s.resArena = append(s.resArena, id...)
		return resStream | k
	}
	return s.internString(name)
}

// resID is the ID of the reservation stream whose code is resStream|k.
func (s *state) resID(k uint32) []byte {
	v := s.resLoc[k]
	off := v >> 16
	return s.resArena[off : off+v&0xFFFF]
}

// streamName is the name of leaf l's stream.
func (s *state) streamName(l uint32) string {
	c := s.stream[l]
	if c&resStream == 0 {
		return s.strs[c]
	}
	return domain.CustomerReservationStreamPrefix + string(s.resID(c&^resStream))
}
