package eventstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// DomainLogObserved observes each successful append once, with its event count, never a failed one,
// and keeps the ports of DomainLog that the domain looks for.
func TestDomainLogObserved(t *testing.T) {
	ctx := context.Background()
	s, err := embedded.Open(t.TempDir(), embedded.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	var seen []int
	log := eventstore.DomainLogObserved(s, func(took time.Duration, events int) {
		mu.Lock()
		defer mu.Unlock()
		if took < 0 {
			t.Errorf("negative duration %v", took)
		}
		seen = append(seen, events)
	})
	if _, ok := log.(domain.RangeReader); !ok {
		t.Error("DomainLogObserved hides domain.RangeReader (channel loads would not be chunked)")
	}
	if _, ok := log.(domain.GlobalReader); !ok {
		t.Error("DomainLogObserved hides domain.GlobalReader (resource release would not find every channel)")
	}
	if _, err := log.Append(ctx, "channel-a", domain.ExpectNoStream, []domain.NewEvent{ev("t.one"), ev("t.two")}); err != nil {
		t.Fatal(err)
	}
	if _, err := log.Append(ctx, "channel-a", domain.ExpectNoStream, []domain.NewEvent{ev("t.three")}); !errors.Is(err, domain.ErrWrongRevision) {
		t.Fatalf("no-stream on an existing stream: %v; want domain.ErrWrongRevision", err)
	}
	if _, err := log.Append(ctx, "channel-a", 1, []domain.NewEvent{ev("t.three")}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != 2 || seen[1] != 1 {
		t.Fatalf("observed appends of %v events, want [2 1] (the failed one not observed)", seen)
	}
	got, err := log.Read(ctx, "channel-a", 0)
	if err != nil || len(got) != 3 {
		t.Fatalf("Read through the observed log: %d events, %v", len(got), err)
	}
}
