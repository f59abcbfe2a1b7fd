package domain_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
)

// Idempotency keys are remembered as the command's hash and where its events are in the channel
// stream; a replay reads the events back from the log, unless they were appended in the same round.

// readSpy is a MemoryLog that counts stream reads and can fail them.
type readSpy struct {
	*domaintest.MemoryLog
	reads atomic.Int64
	fail  atomic.Bool
}

func (l *readSpy) Read(ctx context.Context, stream string, from uint64) ([]domain.StoredEvent, error) {
	l.reads.Add(1)
	if l.fail.Load() {
		return nil, fmt.Errorf("%w: injected read failure", domain.ErrStoreUnavailable)
	}
	return l.MemoryLog.Read(ctx, stream, from)
}

func keyedFreeze(k, customer, reason string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.FreezeCustomer(ctx, domain.FreezeCustomer{Meta: key(op("dist-1"), k), CustomerID: customer, Reason: reason, FreezeType: anr})
	}
}

// sameEvents fails unless a replay's events are the first result's (same IDs, revisions, positions).
func sameEvents(t *testing.T, what string, got, want domain.Result) {
	t.Helper()
	if !got.Replayed || got.Position != want.Position || len(got.Events) != len(want.Events) || len(want.Events) == 0 {
		t.Fatalf("%s: got %+v, want a replay of %+v", what, got, want)
	}
	for i := range want.Events {
		g, w := got.Events[i], want.Events[i]
		if g.ID != w.ID || g.Revision != w.Revision || g.Position != w.Position || g.Stream != w.Stream || g.Type != w.Type || string(g.Data) != string(w.Data) {
			t.Fatalf("%s: event %d is %+v, want %+v", what, i, g, w)
		}
	}
}

// TestIdempotencyInFlight: a key used twice in one group (the first use's events are only appended
// by that group's append) replays from the round's events, without reading the log; a conflicting
// use in one group is refused and appends nothing.
func TestIdempotencyInFlight(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	spy := &readSpy{MemoryLog: f.log}
	svc := domain.NewService(spy, f.opts)
	stream := domain.ChannelStream("dist-1")
	if _, _, _, err := svc.Customer(f.ctx, "c-r2"); err != nil { // loads the channel
		t.Fatal(err)
	}
	// group runs held first, then each of cmds queued behind it in order, as one group.
	group := func(held cmd, cmds ...cmd) ([]domain.Result, []error) {
		t.Helper()
		gate, entered := make(chan struct{}), make(chan struct{})
		var once sync.Once
		f.log.BeforeAppend = func(s string, _ []domain.NewEvent) error {
			if s == stream {
				once.Do(func() { close(entered); <-gate })
			}
			return nil
		}
		defer func() { f.log.BeforeAppend = nil }()
		var wg sync.WaitGroup
		results, errs := make([]domain.Result, len(cmds)), make([]error, len(cmds))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := held(f.ctx, svc); err != nil {
				t.Error(err)
			}
		}()
		<-entered
		waitQueued := func(n int) {
			deadline := time.Now().Add(10 * time.Second)
			for domain.QueuedForTest(svc, stream) < n {
				if time.Now().After(deadline) {
					t.Fatalf("%d requests queued, want %d", domain.QueuedForTest(svc, stream), n)
				}
				runtime.Gosched()
			}
		}
		for i, c := range cmds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = c(f.ctx, svc)
			}()
			waitQueued(i + 1)
		}
		spy.reads.Store(0)
		close(gate)
		wg.Wait()
		return results, errs
	}

	before := len(f.log.All())
	res, errs := group(freeze(op("dist-1"), "c-r1", anr), keyedFreeze("k-x", "c-d", "overdue"), keyedFreeze("k-x", "c-d", "overdue"))
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if res[0].Replayed || len(res[0].Events) != 1 {
		t.Fatalf("first use: %+v", res[0])
	}
	sameEvents(t, "second use in the same group", res[1], res[0])
	if n := spy.reads.Load(); n != 0 {
		t.Errorf("the in-flight replay read the log %d times", n)
	}
	if got := len(f.log.All()) - before; got != 2 {
		t.Fatalf("%d events appended, want 2", got)
	}

	res2, errs := group(unfreeze(op("dist-1"), "c-r1", anr), keyedFreeze("k-y", "c-r2", "a"), keyedFreeze("k-y", "c-r2", "b"))
	if errs[0] != nil || res2[0].Replayed || domain.ErrorCode(errs[1]) != domain.CodeConflict {
		t.Fatalf("first use %+v %v; conflicting use in the same group: %v", res2[0], errs[0], errs[1])
	}
	if got := len(f.log.All()) - before; got != 4 {
		t.Fatalf("%d events appended, want 4", got)
	}

	// Later, and after a restart, both replay from the log.
	for _, s := range []*domain.Service{svc, domain.NewService(spy, f.opts)} {
		again, err := keyedFreeze("k-x", "c-d", "overdue")(f.ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		sameEvents(t, "later use", again, res[0])
		again, err = keyedFreeze("k-y", "c-r2", "a")(f.ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		sameEvents(t, "later use", again, res2[0])
	}
	if got := len(f.log.All()) - before; got != 4 {
		t.Fatalf("%d events appended, want 4: a replay appended", got)
	}
	f.validate()
}

// TestIdempotencyAfterRedecide: a keyed command whose first append loses to another instance is
// decided again at later revisions; its key then points at the events actually appended. A keyed
// command whose append fails is not remembered.
func TestIdempotencyAfterRedecide(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	other := domain.NewService(f.log, f.opts)
	stream := domain.ChannelStream("dist-1")
	if _, _, _, err := other.Customer(f.ctx, "c-r1"); err != nil { // load the channel in the other instance
		t.Fatal(err)
	}
	var raced atomic.Bool
	f.log.BeforeAppend = func(s string, _ []domain.NewEvent) error {
		if s == stream && raced.CompareAndSwap(false, true) {
			if _, err := freeze(op("dist-1"), "c-r1", anr)(f.ctx, other); err != nil {
				t.Error(err)
			}
		}
		return nil
	}
	batch := func(ctx context.Context, s *domain.Service) (domain.BatchResult, error) {
		return s.FreezeCustomers(ctx, domain.FreezeCustomers{Meta: key(op("dist-1"), "k-b"), CustomerIDs: []string{"c-d", "c-r1", "c-r2"}, Reason: "b", FreezeType: anr})
	}
	first, err := batch(f.ctx, f.svc)
	if err != nil || !raced.Load() {
		t.Fatalf("%+v %v (raced: %v)", first, err, raced.Load())
	}
	if first.Items[0].Err != nil || domain.ErrorCode(first.Items[1].Err) != domain.CodeConflict || first.Items[2].Err != nil {
		t.Fatalf("batch decided again after the other instance froze c-r1: %+v", first.Items)
	}
	all := f.log.All()
	if last := all[len(all)-1]; first.Position != last.Position {
		t.Fatalf("batch position %s, last event's %s", first.Position, last.Position)
	}
	for _, s := range []*domain.Service{f.svc, domain.NewService(f.log, f.opts)} {
		again, err := batch(f.ctx, s)
		if err != nil || !again.Replayed || again.Position != first.Position {
			t.Fatalf("replay: %+v %v", again, err)
		}
		for i, it := range again.Items {
			if (it.Err == nil) != (first.Items[i].Err == nil) || it.CustomerID != first.Items[i].CustomerID {
				t.Fatalf("replayed item %d: %+v, first %+v", i, it, first.Items[i])
			}
		}
	}
	if got := len(f.log.All()); got != len(all) {
		t.Fatalf("the replays appended %d events", got-len(all))
	}

	// A failed append forgets the key: the same command then runs.
	if _, err := unfreeze(op("dist-1"), "c-d", anr)(f.ctx, f.svc); err != nil {
		t.Fatal(err)
	}
	f.log.BeforeAppend = func(string, []domain.NewEvent) error {
		return fmt.Errorf("%w: injected", domain.ErrStoreUnavailable)
	}
	if _, err := keyedFreeze("k-f", "c-d", "x")(f.ctx, f.svc); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("failed append: %v", err)
	}
	f.log.BeforeAppend = nil
	res, err := keyedFreeze("k-f", "c-d", "x")(f.ctx, f.svc)
	if err != nil || res.Replayed || len(res.Events) != 1 {
		t.Fatalf("after a failed append: %+v %v", res, err)
	}
	f.validate()
}

// TestIdempotencyReplayReadFails: a replay whose events cannot be read back is unavailable, and
// appends nothing.
func TestIdempotencyReplayReadFails(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	first, err := keyedFreeze("k-1", "c-d", "x")(f.ctx, f.svc)
	if err != nil {
		t.Fatal(err)
	}
	spy := &readSpy{MemoryLog: f.log}
	svc := domain.NewService(spy, f.opts)
	if _, _, err := svc.Partner(f.ctx, "dist-1"); err != nil { // routes the actor and loads the channel
		t.Fatal(err)
	}
	n := len(f.log.All())
	spy.fail.Store(true)
	if _, err := keyedFreeze("k-1", "c-d", "x")(f.ctx, svc); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("replay with failing reads: %v", err)
	}
	spy.fail.Store(false)
	again, err := keyedFreeze("k-1", "c-d", "x")(f.ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "replay", again, first)
	if got := len(f.log.All()); got != n {
		t.Fatalf("%d events appended", got-n)
	}
}

// TestIdempotencySplitKey: a stream not written by this service may hold one key's events apart;
// a replay returns all of them, in stream order.
func TestIdempotencySplitKey(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	first, err := keyedFreeze("k-s", "c-d", "x")(f.ctx, f.svc)
	if err != nil {
		t.Fatal(err)
	}
	f.must(unfreeze(op("dist-1"), "c-r1", acct))
	// Another writer appends an event carrying the same key and command hash.
	var m domain.Metadata
	if err := json.Unmarshal(first.Events[0].Metadata, &m); err != nil || m.CommandHash == "" {
		t.Fatalf("metadata %s: %v", first.Events[0].Metadata, err)
	}
	m.RequestID = "other-writer"
	mb, _ := json.Marshal(m)
	data, _ := json.Marshal(domain.CustomerFrozen{CustomerID: "c-r1", FreezeType: acct, Origin: domain.OriginManual, Reason: "x"})
	stream := domain.ChannelStream("dist-1")
	extra := domain.NewEvent{ID: uuid.New(), Type: domain.EventCustomerFrozen, Data: data, Metadata: mb}
	if _, err := f.log.Append(f.ctx, stream, domain.ExpectAny, []domain.NewEvent{extra}); err != nil {
		t.Fatal(err)
	}
	f.restart()
	again, err := keyedFreeze("k-s", "c-d", "x")(f.ctx, f.svc)
	if err != nil || !again.Replayed || len(again.Events) != 2 {
		t.Fatalf("replay: %+v %v", again, err)
	}
	if again.Events[0].ID != first.Events[0].ID || again.Events[1].ID != extra.ID || again.Events[1].Revision != first.Events[0].Revision+2 {
		t.Fatalf("replayed events %+v", again.Events)
	}
	if again.Position != again.Events[1].Position {
		t.Fatalf("replay position %s, want the last event's %s", again.Position, again.Events[1].Position)
	}
	if _, err := keyedFreeze("k-s", "c-d", "y")(f.ctx, f.svc); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("same key, other command: %v", err)
	}
}

// TestIdempotencyOnEmbeddedStore: replays after a restart read the events back through the store's
// ranged reads (domain.RangeReader).
func TestIdempotencyOnEmbeddedStore(t *testing.T) {
	_, l := openStore(t, false)
	opts := domain.Options{Clock: domaintest.NewClock(t0)}
	svc := domain.NewService(l, opts)
	ctx := context.Background()
	for i, c := range world {
		if _, err := c(ctx, svc); err != nil {
			t.Fatalf("world %d: %v", i, err)
		}
	}
	assocK := func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.AssociateCustomer(ctx, domain.AssociateCustomer{Meta: key(op("dist-1"), "k-a"), CustomerID: "c-new", Name: "New", PartnerID: "dist-1"})
	}
	a1, err := assocK(ctx, svc)
	if err != nil || len(a1.Events) != 2 {
		t.Fatalf("%+v %v", a1, err)
	}
	f1, err := keyedFreeze("k-f", "c-d", "x")(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	// Keys remembered on load sit among many events.
	for i := 0; i < 50; i++ {
		if _, err := keyedFreeze(fmt.Sprintf("k-%d", i), "c-r1", "x")(ctx, svc); err != nil {
			t.Fatal(err)
		}
		if _, err := unfreeze(op("dist-1"), "c-r1", anr)(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	n := len(readAll(t, l))
	svc = domain.NewService(l, opts)
	a2, err := assocK(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "association replay", a2, a1)
	f2, err := keyedFreeze("k-f", "c-d", "x")(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "freeze replay", f2, f1)
	if got := len(readAll(t, l)); got != n {
		t.Fatalf("the replays appended %d events", got-n)
	}
}
