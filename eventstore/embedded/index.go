package embedded

import (
	"fmt"
	"sync"

	"github.com/google/uuid"
)

// index is the in-memory index of the log: for each stream, the position of each revision and the
// revision of each event ID. It is not stored: Open rebuilds it with one sequential scan of the
// events bucket, checking the log's structure as it goes. Keeping it out of bbolt means a commit
// dirties only the tail pages of the events bucket, instead of random pages of secondary B+trees
// (which made group commits write ~1 MiB for 256 events in an earlier layout).
//
// Only the committer changes the index, after its transaction committed; readers hold mu.RLock.
type index struct {
	mu      sync.RWMutex
	streams map[string]*streamIndex
}

type streamIndex struct {
	positions []uint64 // positions[rev] is the position of revision rev
	// The revision of each event ID: until a lookup needs more, ids[rev] is the ID of revision
	// rev (searched linearly while the stream has at most smallStream events). The first lookup
	// in a longer stream builds byID (ID -> revision, checking that no ID repeats) and drops
	// ids. Open's scan only appends to ids: a map per big stream, filled and probed once per
	// event (a cache miss each in a stream of millions), was the costliest part of the rebuild,
	// and only the committer's retry check (the stream's first append after Open) and Verify
	// look IDs up.
	ids  []uuid.UUID
	byID map[uuid.UUID]uint64
	// idErr is the repeated ID found when byID was built (the stream's log is corrupt; the
	// committer refuses appends to it).
	idErr error

	// The first revisions' positions and IDs live in the struct itself: most streams are this
	// small, and one allocation each instead of several keeps Open's rebuild (and its GC) cheap.
	posBuf [4]uint64
	idBuf  [4]uuid.UUID
}

func newStreamIndex() *streamIndex {
	si := &streamIndex{}
	si.positions, si.ids = si.posBuf[:0:len(si.posBuf)], si.idBuf[:0:len(si.idBuf)]
	return si
}

// smallStream is the number of events up to which a stream's IDs are searched linearly.
const smallStream = 16

// revisionOf returns the revision of the event with this ID in the stream. In a stream of more
// than smallStream events it first builds the ID map if there is none, and fails (with
// ok false) if the stream's IDs repeat (see idMap).
func (si *streamIndex) revisionOf(id uuid.UUID) (uint64, bool) {
	if si.byID == nil && len(si.ids) <= smallStream {
		for rev, x := range si.ids {
			if x == id {
				return uint64(rev), true
			}
		}
		return 0, false
	}
	if si.idMap() != nil {
		return 0, false
	}
	rev, ok := si.byID[id]
	return rev, ok
}

// idMap builds byID from ids if the stream is past smallStream and has no map yet, and returns
// the repeated ID found then, if any (also on later calls). Only the committer, or a scan that owns
// its index, calls it.
func (si *streamIndex) idMap() error {
	if si.byID != nil || len(si.ids) <= smallStream {
		return si.idErr
	}
	m := make(map[uuid.UUID]uint64, len(si.ids)+len(si.ids)/4)
	for r, x := range si.ids {
		if prev, dup := m[x]; dup && si.idErr == nil {
			si.idErr = fmt.Errorf("event ID %s is at revisions %d and %d", x, prev, r)
			continue
		}
		m[x] = uint64(r)
	}
	si.byID, si.ids = m, nil
	return si.idErr
}

// putID records that revision rev (the next one) has this ID.
func (si *streamIndex) putID(id uuid.UUID, rev uint64) {
	if si.byID == nil && rev == uint64(len(si.ids)) {
		si.ids = append(si.ids, id)
		return
	}
	if si.byID == nil {
		si.byID = make(map[uuid.UUID]uint64, 2*len(si.ids)+1)
		for r, x := range si.ids {
			si.byID[x] = uint64(r)
		}
		si.ids = nil
	}
	si.byID[id] = rev
}

func newIndex() *index { return &index{streams: make(map[string]*streamIndex)} }

// last returns the stream's current revision; exists is false for a stream never written. Callers
// other than the committer must hold mu.RLock.
func (x *index) last(stream string) (rev uint64, exists bool) {
	si := x.streams[stream]
	if si == nil || len(si.positions) == 0 {
		return 0, false
	}
	return uint64(len(si.positions) - 1), true
}

// stream returns the index of stream, creating it; the caller holds mu (or owns x exclusively).
func (x *index) stream(name []byte) *streamIndex {
	si := x.streams[string(name)]
	if si == nil {
		si = newStreamIndex()
		x.streams[string(name)] = si
	}
	return si
}

// add records an event at the end of the stream. It checks that rev is the next revision, and
// that the ID is not already in the stream: against every earlier ID if allIDs is set (Verify;
// the stream's ID map is then built and kept up to date) or the map exists, else only while the
// stream has at most smallStream events (Open: a longer stream's IDs are checked when its ID map is
// first built, see idMap).
func (si *streamIndex) add(stream []byte, id uuid.UUID, rev, pos uint64, allIDs bool) error {
	if rev != uint64(len(si.positions)) {
		return fmt.Errorf("stream %q revision %d where revision %d was next", stream, rev, len(si.positions))
	}
	if allIDs || si.byID != nil || len(si.ids) < smallStream {
		if err := si.idMap(); err != nil {
			return fmt.Errorf("stream %q: %w", stream, err)
		}
		if prev, dup := si.revisionOf(id); dup {
			return fmt.Errorf("event ID %s is at revisions %d and %d of stream %q", id, prev, rev, stream)
		}
	}
	si.positions = append(si.positions, pos)
	si.putID(id, rev)
	return nil
}
