package embedded

import (
	"strings"
	"testing"
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
