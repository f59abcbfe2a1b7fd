package projections

import (
	"math"

	"github.com/freezeledger/freezeledger/eventstore"
)

// leafPositions is where each leaf is in the store: its global position and its stream revision,
// in 12 bytes per leaf instead of the 24 of a Position and a uint64.
//
//   - The prepare position is kept only once some leaf's differs from its commit position (events
//     of one EventStoreDB transaction share a commit position); until then, and for ever with the
//     embedded store, prepare equals commit and costs nothing.
//   - A revision is 32 bits: a stream cannot hold more events than the log, whose leaves are
//     numbered in 32 bits; a revision at or above 2^32-1 (a stream truncated on EventStoreDB, say)
//     is kept in bigRev.
//
// Only the applier changes it (under the read models' write lock), and only by add.
type leafPositions struct {
	commit  []uint64
	prepare []uint64 // nil while every leaf's prepare equals its commit; otherwise one per leaf
	rev     []uint32 // bigRevision: the revision is in bigRev
	bigRev  map[uint32]uint64
}

const bigRevision = math.MaxUint32

func (p *leafPositions) len() int { return len(p.commit) }

// at is leaf i's global position.
func (p *leafPositions) at(i uint32) eventstore.Position {
	c := p.commit[i]
	return eventstore.Position{Commit: c, Prepare: p.prepareOf(i, c)}
}

// prepareOf is leaf i's prepare position, given its commit position.
func (p *leafPositions) prepareOf(i uint32, commit uint64) uint64 {
	if p.prepare == nil {
		return commit
	}
	return p.prepare[i]
}

// revision is leaf i's revision in its stream.
func (p *leafPositions) revision(i uint32) uint64 {
	if r := p.rev[i]; r != bigRevision {
		return uint64(r)
	}
	return p.bigRev[i]
}

// add appends the next leaf.
func (p *leafPositions) add(pos eventstore.Position, rev uint64) {
	i := uint32(len(p.commit))
	if p.prepare == nil && pos.Prepare != pos.Commit {
		p.prepare = make([]uint64, len(p.commit), cap(p.commit))
		copy(p.prepare, p.commit)
	}
	p.commit = append(p.commit, pos.Commit)
	if p.prepare != nil {
		p.prepare = append(p.prepare, pos.Prepare)
	}
	if rev >= bigRevision {
		if p.bigRev == nil {
			p.bigRev = map[uint32]uint64{}
		}
		p.bigRev[i] = rev
		p.rev = append(p.rev, bigRevision)
		return
	}
	p.rev = append(p.rev, uint32(rev))
}

// presize makes room for n leaves (a checkpoint's), keeping the ones there.
func (p *leafPositions) presize(n int) {
	p.commit = make([]uint64, 0, n)
	p.rev = make([]uint32, 0, n)
}
