package projections

import (
	"testing"

	"github.com/freezeledger/freezeledger/eventstore"
)

// TestLeafPositions: positions and revisions read back as added, also once a prepare position
// differs from its commit (the leaves before keep theirs) and for a revision beyond 32 bits.
func TestLeafPositions(t *testing.T) {
	type leaf struct {
		pos eventstore.Position
		rev uint64
	}
	in := []leaf{
		{eventstore.Position{Commit: 10, Prepare: 10}, 0},
		{eventstore.Position{Commit: 20, Prepare: 20}, 1},
		{eventstore.Position{Commit: 30, Prepare: 25}, 1 << 40},
		{eventstore.Position{Commit: 30, Prepare: 28}, bigRevision},
		{eventstore.Position{Commit: 40, Prepare: 40}, bigRevision - 1},
	}
	var p leafPositions
	for i, l := range in {
		p.add(l.pos, l.rev)
		if i == 1 && p.prepare != nil {
			t.Fatal("prepare positions kept while every prepare equals its commit")
		}
	}
	if p.len() != len(in) {
		t.Fatalf("len %d, want %d", p.len(), len(in))
	}
	for i, l := range in {
		if got := p.at(uint32(i)); got != l.pos {
			t.Errorf("leaf %d: position %v, want %v", i, got, l.pos)
		}
		if got := p.revision(uint32(i)); got != l.rev {
			t.Errorf("leaf %d: revision %d, want %d", i, got, l.rev)
		}
	}
}
