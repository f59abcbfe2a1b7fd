package eventstore_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// hidden is a store that is not a PositionReader (DomainLog then reads the events).
type hidden struct{ eventstore.Store }

// TestDomainLogPositions: domain.PositionReader gives the positions ReadRange reads, for every
// range of two interleaved streams, from the embedded store's index and from a store without one;
// a missing stream and a range past the end are empty.
func TestDomainLogPositions(t *testing.T) {
	ctx := context.Background()
	s, err := embedded.Open(t.TempDir(), embedded.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	log := eventstore.DomainLog(s)
	for i := range 6 {
		for _, st := range []string{"channel-a", "channel-b"} {
			evs := []domain.NewEvent{ev("t.x")}
			if i%2 == 0 {
				evs = append(evs, ev("t.y"), ev("t.z"))
			}
			if _, err := log.Append(ctx, st, domain.ExpectAny, evs); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, l := range map[string]domain.EventLog{"index": log, "read": eventstore.DomainLog(hidden{s})} {
		pr := l.(domain.PositionReader)
		for _, st := range []string{"channel-a", "channel-b", "channel-missing"} {
			for from := uint64(0); from <= 13; from++ {
				for _, count := range []int{0, 1, 2, 5, 20} {
					got, err := pr.Positions(ctx, st, from, count)
					if err != nil {
						t.Fatalf("%s: Positions(%s, %d, %d): %v", name, st, from, count, err)
					}
					evs, err := l.(domain.RangeReader).ReadRange(ctx, st, from, count)
					if err != nil {
						t.Fatal(err)
					}
					want := make([]string, len(evs))
					for i, e := range evs {
						want[i] = e.Position
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s: Positions(%s, %d, %d) = %v, ReadRange's positions %v", name, st, from, count, got, want)
					}
				}
			}
		}
	}
}
