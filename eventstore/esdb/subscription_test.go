package esdb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/freezeledger/freezeledger/eventstore"
)

// scripted is a source that plays a script of subscription events, then blocks like a live
// subscription with nothing new, until closed. It is not a server: it stands where the client's
// *esdb.Subscription stands, to inject the drops and repeats the pump must survive.
type scripted struct {
	events []*esdb.SubscriptionEvent
	i      int
	closed chan struct{}
	once   sync.Once
}

func newScripted(events ...*esdb.SubscriptionEvent) *scripted {
	return &scripted{events: events, closed: make(chan struct{})}
}

func (s *scripted) Recv() *esdb.SubscriptionEvent {
	if s.i < len(s.events) {
		s.i++
		return s.events[s.i-1]
	}
	<-s.closed
	return &esdb.SubscriptionEvent{SubscriptionDropped: &esdb.SubscriptionDropped{Error: context.Canceled}}
}

func (s *scripted) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func appeared(stream, typ string, rev uint64, pos uint64) *esdb.SubscriptionEvent {
	return &esdb.SubscriptionEvent{EventAppeared: &esdb.ResolvedEvent{Event: &esdb.RecordedEvent{
		EventID: uuid.NewSHA1(uuid.Nil, fmt.Appendf(nil, "%s/%d", stream, rev)), EventType: typ, StreamID: stream, EventNumber: rev,
		Position: esdb.Position{Commit: pos, Prepare: pos}, CreatedDate: time.Unix(int64(pos), 0), Data: []byte("{}"),
	}}}
}

func dropped(err error) *esdb.SubscriptionEvent {
	return &esdb.SubscriptionEvent{SubscriptionDropped: &esdb.SubscriptionDropped{Error: err}}
}

var caughtUp = &esdb.SubscriptionEvent{CaughtUp: &esdb.Subscription{}}

// opener hands out scripted sources in order and records where each subscription started.
type opener struct {
	mu      sync.Mutex
	sources []*scripted
	fail    error // returned once the sources run out; nil: a source that blocks
	afters  []eventstore.Position
	opened  []*scripted
}

func (o *opener) open(ctx, life context.Context, a eventstore.Position) (source, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.afters = append(o.afters, a)
	if len(o.sources) == 0 {
		if o.fail != nil {
			return nil, o.fail
		}
		o.sources = append(o.sources, newScripted())
	}
	src := o.sources[0]
	o.sources = o.sources[1:]
	o.opened = append(o.opened, src)
	return src, nil
}

func (o *opener) startedAfter() []eventstore.Position {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]eventstore.Position(nil), o.afters...)
}

func testSubscription(t *testing.T, o *opener, a eventstore.Position, opts Options) *subscription {
	t.Helper()
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = time.Microsecond, time.Microsecond
	}
	opts = opts.withDefaults()
	s := &Store{opts: opts}
	sub, err := startSubscription(context.Background(), context.Background(), a, o.open, opts, hclog.NewNullLogger(), s.backoff)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func pos(n uint64) eventstore.Position { return eventstore.Position{Commit: n, Prepare: n} }

// collect reads until n events have arrived.
func collect(t *testing.T, sub eventstore.Subscription, n int) []eventstore.RecordedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []eventstore.RecordedEvent
	for len(got) < n {
		evs, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d of %d events: %v", len(got), n, err)
		}
		got = append(got, evs...)
	}
	return got
}

func positions(evs []eventstore.RecordedEvent) []uint64 {
	out := []uint64{}
	for _, e := range evs {
		out = append(out, e.Position.Commit)
	}
	return out
}

// After a drop the subscription resubscribes from the last position it received and drops a
// repeat of it: no gap, no duplicate. System events never reach the caller.
func TestSubscriptionResubscribesWithoutGapOrDuplicate(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	o := &opener{sources: []*scripted{
		newScripted(
			appeared("customer-c1", "customer.frozen", 0, 10),
			appeared("$stats-node", "$statsCollected", 5, 15),
			appeared("customer-c1", "customer.unfrozen", 1, 20),
			appeared("$scavenges", "ScavengeStarted", 0, 25),
			dropped(errors.New("rpc error: code = Unavailable")),
		),
		newScripted(
			appeared("$scavenges", "ScavengeStarted", 0, 25), // the server repeats the start position
			appeared("customer-c2", "customer.frozen", 0, 30),
			caughtUp,
			dropped(errors.New("not leader")),
		),
		newScripted(
			appeared("customer-c2", "customer.frozen", 0, 30),
			appeared("customer-c1", "customer.frozen", 2, 31),
		),
	}}
	sub := testSubscription(t, o, eventstore.Start, Options{})
	got := collect(t, sub, 4)
	if fmt.Sprint(positions(got)) != "[10 20 30 31]" {
		t.Fatalf("delivered positions %v, want [10 20 30 31]", positions(got))
	}
	if got[0].Stream != "customer-c1" || got[0].Type != "customer.frozen" || got[3].Revision != 2 {
		t.Fatalf("delivered events %+v", got)
	}
	if a := o.startedAfter(); fmt.Sprint(a) != fmt.Sprint([]eventstore.Position{eventstore.Start, pos(25), pos(30)}) {
		t.Fatalf("subscribed after %v, want [0 25 30]", a)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	for i, src := range o.opened {
		select {
		case <-src.closed:
		default:
			t.Errorf("source %d was not closed", i)
		}
	}
}

// Events at or before the start position are dropped: "strictly after", even if the server
// includes the event at the position.
func TestSubscriptionStrictlyAfter(t *testing.T) {
	o := &opener{sources: []*scripted{newScripted(
		appeared("a-1", "t.e", 0, 5),
		appeared("a-1", "t.e", 1, 10),
		appeared("a-1", "t.e", 2, 11),
	)}}
	sub := testSubscription(t, o, pos(10), Options{})
	if got := collect(t, sub, 1); fmt.Sprint(positions(got)) != "[11]" {
		t.Fatalf("after 10 delivered %v, want [11]", positions(got))
	}
	// Commit equal, prepare compared: (10,9) is before (10,10), (10,11) after it.
	o2 := &opener{sources: []*scripted{newScripted(
		&esdb.SubscriptionEvent{EventAppeared: &esdb.ResolvedEvent{Event: &esdb.RecordedEvent{StreamID: "a-2", EventType: "t.e", Position: esdb.Position{Commit: 10, Prepare: 9}}}},
		&esdb.SubscriptionEvent{EventAppeared: &esdb.ResolvedEvent{Event: &esdb.RecordedEvent{StreamID: "a-2", EventType: "t.e", Position: esdb.Position{Commit: 10, Prepare: 11}}}},
	)}}
	sub2 := testSubscription(t, o2, pos(10), Options{})
	if got := collect(t, sub2, 1); got[0].Position != (eventstore.Position{Commit: 10, Prepare: 11}) {
		t.Fatalf("after (10,10) delivered %s first", got[0].Position)
	}
}

// When resubscribing keeps failing past the window, Next returns ErrUnavailable, after the events
// received before the drop.
func TestSubscriptionGivesUpAfterTheWindow(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	o := &opener{
		sources: []*scripted{newScripted(appeared("a-1", "t.e", 0, 7), dropped(errors.New("connection reset")))},
		fail:    errors.New("server down"),
	}
	sub := testSubscription(t, o, eventstore.Start, Options{ResubscribeWindow: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, err := sub.Next(ctx)
	if err != nil || len(evs) != 1 || evs[0].Position != pos(7) {
		t.Fatalf("first Next = %v, %v; want the event received before the drop", positions(evs), err)
	}
	_, err = sub.Next(ctx)
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("Next after the window: %v, want ErrUnavailable", err)
	}
	if a := o.startedAfter(); len(a) < 2 || a[1] != pos(7) {
		t.Fatalf("resubscribed after %v, want from 7", a)
	}
	if _, err := sub.Next(ctx); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("Next again: %v, want the same error", err)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSubscriptionCloseAndContext(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	o := &opener{sources: []*scripted{newScripted(appeared("a-1", "t.e", 0, 1))}}
	sub := testSubscription(t, o, eventstore.Start, Options{})
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sub.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled context: %v", err)
	}
	collect(t, sub, 1)
	done := make(chan error, 1)
	go func() {
		_, err := sub.Next(context.Background())
		done <- err
	}()
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Next in progress at Close: %v, want ErrClosed", err)
	}
	if _, err := sub.Next(context.Background()); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Ending the store's life (Store.Close) ends its subscriptions.
func TestSubscriptionEndsWithTheStore(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	life, stop := context.WithCancel(context.Background())
	o := &opener{}
	s := &Store{opts: Options{}.withDefaults()}
	sub, err := startSubscription(context.Background(), life, eventstore.Start, o.open, s.opts, hclog.NewNullLogger(), s.backoff)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if _, err := sub.Next(context.Background()); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Next after the store closed: %v, want ErrClosed", err)
	}
	_ = sub.Close()
}

// A slow reader: the pump holds a bounded buffer and Next hands out what is there in one batch.
func TestSubscriptionBatches(t *testing.T) {
	var script []*esdb.SubscriptionEvent
	for i := range 3 * outBuffer {
		script = append(script, appeared("a-1", "t.e", uint64(i), uint64(i+1)))
	}
	o := &opener{sources: []*scripted{newScripted(script...)}}
	sub := testSubscription(t, o, eventstore.Start, Options{})
	got := collect(t, sub, len(script))
	for i, e := range got {
		if e.Position != pos(uint64(i+1)) {
			t.Fatalf("event %d at %s", i, e.Position)
		}
	}
}

// The first subscription's failure is the caller's error.
func TestSubscribeFailureReturned(t *testing.T) {
	o := &opener{fail: errors.New("denied")}
	s := &Store{opts: Options{}.withDefaults()}
	if _, err := startSubscription(context.Background(), context.Background(), eventstore.Start, o.open, s.opts, hclog.NewNullLogger(), s.backoff); err == nil || err.Error() != "denied" {
		t.Fatalf("startSubscription = %v, want the open error", err)
	}
}

// A refusal is final: resubscribing cannot help.
func TestSubscriptionRefusedIsFinal(t *testing.T) {
	for _, c := range []struct {
		err  error
		want error
	}{
		{status.Error(codes.PermissionDenied, "Access Denied"), nil},
		{status.Error(codes.InvalidArgument, "Trying to read from an invalid position."), eventstore.ErrInvalidPosition},
	} {
		o := &opener{sources: []*scripted{newScripted(appeared("a-1", "t.e", 0, 3), dropped(c.err))}}
		sub := testSubscription(t, o, eventstore.Start, Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if evs, err := sub.Next(ctx); err != nil || len(evs) != 1 {
			t.Fatalf("first Next = %d events, %v", len(evs), err)
		}
		_, err := sub.Next(ctx)
		cancel()
		if err == nil || errors.Is(err, eventstore.ErrUnavailable) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Fatalf("drop with %v: Next = %v", c.err, err)
		}
		if n := len(o.startedAfter()); n != 1 {
			t.Fatalf("drop with %v: subscribed %d times, want no resubscription", c.err, n)
		}
	}
}
