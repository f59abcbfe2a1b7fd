package auditlog

import (
	"testing"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// The leaf format's positions are the store's: the same strings parse to the same pair, in the same
// order, and the same strings are refused.
func TestLeafPositionIsTheStoresPosition(t *testing.T) {
	for _, s := range []string{"0", "1", "1042", "7/3", "3/7", "18446744073709551615", "18446744073709551616", "", "-1", "01", "1/1", "1/01", "1/", "/1", "1e3", " 1", "position:5"} {
		want, werr := eventstore.ParsePosition(s)
		got, gerr := leaf.ParsePosition(s)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: store error %v, leaf error %v", s, werr, gerr)
		}
		if werr != nil {
			if werr.Error() != gerr.Error() {
				t.Errorf("%q: store says %q, leaf %q", s, werr, gerr)
			}
			continue
		}
		if got.Commit != want.Commit || got.Prepare != want.Prepare || got.String() != want.String() {
			t.Errorf("%q: store %+v (%s), leaf %+v (%s)", s, want, want, got, got)
		}
	}
	a, b := eventstore.Position{Commit: 2, Prepare: 1}, eventstore.Position{Commit: 2, Prepare: 5}
	if a.Less(b) != (leaf.Position{Commit: 2, Prepare: 1}).Less(leaf.Position{Commit: 2, Prepare: 5}) {
		t.Error("orders differ")
	}
}
