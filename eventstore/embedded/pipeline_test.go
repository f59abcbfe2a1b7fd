package embedded_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// TestStartAppendKeepsOrder: appends started one after another without waiting, each expecting
// the revision the one before makes, are all applied, in order.
func TestStartAppendKeepsOrder(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), embedded.Options{UnsafeNoSync: true})
	var _ eventstore.PipelinedAppender = s
	var waits []func() (eventstore.AppendResult, error)
	for i := range 200 {
		exp := eventstore.NoStream
		if i > 0 {
			exp = eventstore.Exact(uint64(i - 1))
		}
		waits = append(waits, s.StartAppend(ctx, "s", exp, event(i)))
	}
	for i, wait := range waits {
		res, err := wait()
		if err != nil || res.NextRevision != uint64(i) {
			t.Fatalf("append %d: %+v, %v; want revision %d", i, res, err, i)
		}
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// failOnce fails the first commit after armed is set, and no other.
type failOnce struct {
	mu    sync.Mutex
	armed bool
}

func (f *failOnce) BeforeCommit(int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.armed {
		f.armed = false
		return errors.New("injected: I/O error")
	}
	return nil
}

// TestStartAppendAfterAFailedOne: when a started append fails (one injected disk fault), the
// appends started after it, without waiting, that expected the revisions it would have made fail
// too (in its commit, or on their expectation), and nothing of them is written.
func TestStartAppendAfterAFailedOne(t *testing.T) {
	ctx := context.Background()
	faults := &failOnce{}
	s := open(t, t.TempDir(), embedded.Options{UnsafeNoSync: true, Faults: faults})
	if _, err := s.Append(ctx, "s", eventstore.NoStream, event(0)); err != nil {
		t.Fatal(err)
	}
	faults.mu.Lock()
	faults.armed = true
	faults.mu.Unlock()
	var waits []func() (eventstore.AppendResult, error)
	for i := range 3 {
		waits = append(waits, s.StartAppend(ctx, "s", eventstore.Exact(uint64(i)), event(1+i)))
	}
	if _, err := waits[0](); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("the append in the failed commit: %v, want ErrUnavailable", err)
	}
	for i, wait := range waits[1:] {
		if _, err := wait(); !errors.Is(err, eventstore.ErrUnavailable) && !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			t.Fatalf("append %d after the failed one: %v, want it failed", i+1, err)
		}
	}
	if h, _ := s.Head(ctx); h.Commit != 1 {
		t.Fatalf("head = %s, want 1: nothing after the failed append was written", h)
	}
	if res, err := s.Append(ctx, "s", eventstore.Exact(0), event(9)); err != nil || res.NextRevision != 1 {
		t.Fatalf("append after the fault: %+v, %v", res, err)
	}
}
