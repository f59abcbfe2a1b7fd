package embedded

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestChainCheckerFirstBreakWithManyWorkers: with more workers than cores, batches finish in any
// order; the break reported is always the one at the lowest position.
func TestChainCheckerFirstBreakWithManyWorkers(t *testing.T) {
	const batches = 40
	var prev [ChainSize]byte
	values := make([][]byte, 0, batches*chainBatch)
	for i := range batches * chainBatch {
		v := []byte{byte(i), byte(i >> 8), byte(i >> 16)}
		c := chainNext(&prev, v)
		values = append(values, append(v, c[:]...))
		prev = c
	}
	first, second := uint64(3*chainBatch+17), uint64(33*chainBatch+5) // positions (1-based)
	values[second-1][0] ^= 1
	values[first-1][0] ^= 1
	for round := 0; round < 10; round++ {
		cc := newChainChecker(8)
		for i := 0; i < len(values); i += chainBatch {
			p := make([]byte, ChainSize)
			if i > 0 {
				p = values[i-1][len(values[i-1])-ChainSize:]
			}
			cc.submit(uint64(i+1), p, values[i:i+chainBatch])
		}
		e := cc.wait()
		if e == nil || e.pos != first || !strings.Contains(e.Error(), "chain breaks") {
			t.Fatalf("round %d: first break %v; want position %d", round, e, first)
		}
	}
}

// TestStreamIndexPastSmall: a stream's event IDs are found, and repeats refused, on both sides of
// the switch from a list to a map, whether revisions come one by one (Open's scan) or from a
// commit's batch.
func TestStreamIndexPastSmall(t *testing.T) {
	x := newIndex()
	si := x.stream([]byte("s"))
	ids := make([]uuid.UUID, 3*smallStream)
	for rev := range ids {
		ids[rev] = uuid.New()
		if err := si.add([]byte("s"), ids[rev], uint64(rev), uint64(rev+1)); err != nil {
			t.Fatal(err)
		}
		for r := 0; r <= rev; r++ {
			if got, ok := si.revisionOf(ids[r]); !ok || got != uint64(r) {
				t.Fatalf("after %d events: revisionOf(ids[%d]) = %d, %v", rev+1, r, got, ok)
			}
		}
		if _, ok := si.revisionOf(uuid.New()); ok {
			t.Fatalf("after %d events: an unknown ID was found", rev+1)
		}
		if err := si.add([]byte("s"), ids[rev/2], uint64(rev+1), uint64(rev+2)); err == nil || !strings.Contains(err.Error(), "event ID") {
			t.Fatalf("after %d events: a repeated ID was accepted: %v", rev+1, err)
		}
	}
}
