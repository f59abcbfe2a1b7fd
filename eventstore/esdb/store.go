// Package esdb is the EventStoreDB (KurrentDB) backend of the event store contract, for running
// freezeledger on a replicated cluster and for several freezeledger instances sharing one log. It
// uses the official client, github.com/EventStore/EventStore-Client-Go/v4, and works around its
// known failure modes:
//
//   - a client whose (first or later) node discovery failed closes itself for good: the store then
//     builds a fresh client and retries with backoff, a bounded number of times;
//   - catch-up subscriptions do not reconnect: the store's subscription resubscribes from the last
//     position it received, dropping anything at or before it, so there is no gap and no duplicate;
//   - the client logs to the standard logger: it is routed to hclog;
//   - transient failures (unavailable, not leader, deadline exceeded) are retried for idempotent
//     operations: reads, subscribing, and appends, which are idempotent because the event IDs are
//     always ours, so the server recognises a retried append and does not write it twice.
//
// Mappings: our expectations are the client's Any{}, NoStream{}, StreamExists{} and Revision(n);
// a wrong expected version (found with errors.As on *esdb.Error and its code) is returned as
// *eventstore.WrongExpectedRevisionError with the stream's current revision; positions are the $all
// (commit, prepare) pairs, compared as pairs and never computed with; system streams and events
// ('$'-prefixed) are filtered out of ReadAll, Head and SubscribeAll; a missing stream is
// eventstore.ErrStreamNotFound; appends are validated (names, IDs, the 1 MiB limit) before
// anything is sent.
//
// Reading $all needs the $admins role (or an ACL on $all): use an admin's credentials in the
// connection string of a secure cluster.
package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/eventstore"
)

// Options tune a Store. The zero value is usable.
type Options struct {
	// Logger receives the store's and the client's logs. Nil discards them.
	Logger hclog.Logger
	// ConnectTimeout bounds Open's first connection, retries included. Default 5s.
	ConnectTimeout time.Duration
	// OperationTimeout bounds one call to the server: an append, or one page of a read. Default 10s.
	OperationTimeout time.Duration
	// MaxRetries is how many times an idempotent operation is retried after a transient failure.
	// Default 4; negative means never.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the pause between retries, which doubles from MinBackoff to
	// MaxBackoff. Defaults 100ms and 2s.
	MinBackoff, MaxBackoff time.Duration
	// ResubscribeWindow is how long a dropped subscription keeps trying to resubscribe before its
	// Next returns an error wrapping eventstore.ErrUnavailable. Default 1 minute.
	ResubscribeWindow time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.OperationTimeout <= 0 {
		o.OperationTimeout = 10 * time.Second
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = 4
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(2*time.Second, o.MinBackoff)
	}
	if o.ResubscribeWindow <= 0 {
		o.ResubscribeWindow = time.Minute
	}
	return o
}

// pageSize is how many events one read call asks for; bigger reads are paged.
const pageSize = 512

// Store is an eventstore.Store on an EventStoreDB server or cluster. It is safe for concurrent use.
type Store struct {
	cfg    *esdb.Configuration // a copy goes to each client built
	target string              // node address or gossip seeds, for messages
	opts   Options
	log    hclog.Logger

	life  context.Context // ends at Close: calls and subscriptions stop
	stop  context.CancelFunc
	subs  sync.WaitGroup // subscription goroutines
	calls sync.WaitGroup // goroutines of calls into the client (see run)

	mu      sync.Mutex
	closed  bool
	current *generation
	built   int // clients built so far
}

var _ eventstore.Store = (*Store)(nil)

// Open connects to the EventStoreDB named by connectionString (esdb://host:2113?tls=false for an
// insecure single node; esdb+discover://user:pass@cluster-dns:2113 or esdb://host1,host2,host3 for
// a cluster) and checks that it may read $all. A malformed connection string fails at once; an
// unreachable server fails within opts.ConnectTimeout (5 s by default) with an error that names the
// address and wraps eventstore.ErrUnavailable.
func Open(ctx context.Context, connectionString string, opts Options) (*Store, error) {
	s, err := newStore(connectionString, opts)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, s.opts.ConnectTimeout)
	defer cancel()
	start := time.Now()
	// The client connects lazily: a read of $all's last event connects and checks the permission.
	if _, err := s.readAllPage(cctx, esdb.Backwards, esdb.End{}, 1); err != nil {
		_ = s.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("esdb: connecting to EventStoreDB at %s: %w", s.target, err)
		}
		if k := classify(err); k == kindDenied {
			return nil, fmt.Errorf("esdb: EventStoreDB at %s refused to let us read $all (use an admin's credentials in the connection string): %w", s.target, err)
		}
		if !errors.Is(err, eventstore.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("esdb: cannot reach EventStoreDB at %s (%s) within %s: %w",
			s.target, redact(connectionString), time.Since(start).Round(time.Millisecond), err)
	}
	s.log.Info("connected to EventStoreDB", "target", s.target)
	return s, nil
}

// newStore parses the connection string and makes a store that has not connected yet.
func newStore(connectionString string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	cfg, err := parseConnectionString(connectionString)
	if err != nil {
		return nil, fmt.Errorf("esdb: connection string %q: %w", redact(connectionString), err)
	}
	log := opts.Logger
	cfg.Logger = clientLogger(log.Named("client"))
	life, stop := context.WithCancel(context.Background())
	return &Store{cfg: cfg, target: target(cfg), opts: opts, log: log, life: life, stop: stop}, nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close ends the subscriptions and releases the client. Further calls fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	cur := s.current
	s.mu.Unlock()
	s.stop()
	s.subs.Wait()
	if cur != nil {
		s.retire(cur)
	}
	// Calls the caller abandoned may still be inside the client (a discovery takes up to
	// maxDiscoverAttempts*discoveryInterval); wait for them a little, so that Close leaves no
	// goroutine behind in the common case, but never hang on a client that does not return.
	finished := make(chan struct{})
	go func() {
		s.calls.Wait()
		close(finished)
	}()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		s.log.Warn("closing with calls still inside the EventStoreDB client; they end in the background", "waited", closeWait)
	}
	return nil
}

// closeWait bounds how long Close waits for abandoned calls to leave the client.
const closeWait = 3 * time.Second

// Append writes events to stream if expected holds. See eventstore.Store. Transient failures are
// retried with the same event IDs, so a retry of an append the server did write is not written
// again. The result's position is read back from the last event written: the server reports the
// write's commit position, which is not the last event's own position for multi-event appends.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := eventstore.ValidateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if len(events) == 0 {
		return s.checkOnly(ctx, stream, expected)
	}
	data := toEventData(events)
	timeout := s.opts.OperationTimeout
	opts := esdb.AppendToStreamOptions{ExpectedRevision: toExpected(expected), Deadline: &timeout}
	wr, err := retry(s, ctx, func(ctx context.Context, g *generation) (*esdb.WriteResult, error) {
		return g.client.AppendToStream(ctx, stream, opts, data...)
	}, nil)
	if err != nil {
		return eventstore.AppendResult{}, s.appendError(ctx, stream, expected, err)
	}
	res := eventstore.AppendResult{
		NextRevision: wr.NextExpectedVersion,
		Position:     eventstore.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition},
	}
	last, err := s.readStreamPage(ctx, stream, esdb.Forwards, esdb.Revision(res.NextRevision), 1)
	switch {
	case err == nil && len(last) == 1 && last[0].EventID == events[len(events)-1].ID && knownPosition(last[0].Position):
		res.Position = fromPosition(last[0].Position)
	case err != nil && ctx.Err() != nil:
		// The append is written; the caller has gone. The write result's position is the best we have.
	default:
		s.log.Warn("append written, but its last event's position could not be read back; using the write's commit position",
			"stream", stream, "revision", res.NextRevision, "position", res.Position, "error", err)
	}
	return res, nil
}

// appendError maps a failed append's error.
func (s *Store) appendError(ctx context.Context, stream string, expected eventstore.ExpectedRevision, err error) error {
	switch classify(err) {
	case kindWrongExpected:
		actual, ok := actualRevision(err)
		if !ok {
			last, found, rerr := s.lastEvent(ctx, stream)
			switch {
			case rerr != nil:
				return fmt.Errorf("esdb: append to stream %q expecting %s: wrong expected version, and reading the current revision failed: %w (%w)", stream, expected, eventstore.ErrWrongExpectedRevision, rerr)
			case found:
				actual = int64(last.EventNumber)
			default:
				actual = -1
			}
		}
		return &eventstore.WrongExpectedRevisionError{Stream: stream, Expected: expected, Actual: actual}
	case kindStreamDeleted:
		return fmt.Errorf("esdb: append to stream %q: the stream was deleted in EventStoreDB: %w", stream, err)
	}
	if sentinel := refusal(err); sentinel != nil {
		return fmt.Errorf("esdb: append to stream %q: %w: %w", stream, sentinel, err)
	}
	return fmt.Errorf("esdb: append to stream %q expecting %s: %w", stream, expected, err)
}

// checkOnly is an append of no events: it checks expected against the stream's last event. (The
// server would check it too, but it reports neither the stream's revision nor a position then.)
func (s *Store) checkOnly(ctx context.Context, stream string, expected eventstore.ExpectedRevision) (eventstore.AppendResult, error) {
	last, found, err := s.lastEvent(ctx, stream)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("esdb: check stream %q expecting %s: %w", stream, expected, err)
	}
	var current uint64
	if found {
		current = last.EventNumber
	}
	if !expected.Matches(current, found) {
		actual := int64(-1)
		if found {
			actual = int64(current)
		}
		return eventstore.AppendResult{}, &eventstore.WrongExpectedRevisionError{Stream: stream, Expected: expected, Actual: actual}
	}
	if !found {
		return eventstore.AppendResult{}, nil
	}
	return eventstore.AppendResult{NextRevision: current, Position: fromPosition(last.Position)}, nil
}

// lastEvent reads stream's last event; found is false if the stream does not exist.
func (s *Store) lastEvent(ctx context.Context, stream string) (ev *esdb.RecordedEvent, found bool, err error) {
	page, err := s.readStreamPage(ctx, stream, esdb.Backwards, esdb.End{}, 1)
	switch {
	case classify(err) == kindNotFound:
		return nil, false, nil
	case err != nil:
		return nil, false, err
	case len(page) == 0:
		return nil, false, nil
	}
	return page[0], true, nil
}

// ReadStream reads events of one stream. See eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, count int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return nil, err
	}
	edir := esdb.Forwards
	if dir == eventstore.Backwards {
		edir = esdb.Backwards
	}
	out := []eventstore.RecordedEvent{}
	next := from
	for {
		n := pageSize
		if count > 0 {
			n = min(n, count-len(out))
		}
		var pos esdb.StreamPosition = esdb.Revision(next)
		if next == eventstore.End {
			pos = esdb.End{}
		}
		page, err := s.readStreamPage(ctx, stream, edir, pos, n)
		if err != nil {
			if classify(err) == kindNotFound {
				return nil, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
			}
			return nil, fmt.Errorf("esdb: read stream %q from revision %d: %w", stream, next, err)
		}
		for _, ev := range page {
			out = append(out, fromRecorded(ev))
		}
		if len(page) < n || (count > 0 && len(out) >= count) {
			return out, nil
		}
		lastRev := page[len(page)-1].EventNumber
		if edir == esdb.Backwards {
			if lastRev == 0 {
				return out, nil
			}
			next = lastRev - 1
		} else {
			next = lastRev + 1
		}
	}
}

// readStreamPage is one read call on a stream, retried on transient failures.
func (s *Store) readStreamPage(ctx context.Context, stream string, dir esdb.Direction, from esdb.StreamPosition, n int) ([]*esdb.RecordedEvent, error) {
	timeout := s.opts.OperationTimeout
	opts := esdb.ReadStreamOptions{Direction: dir, From: from, Deadline: &timeout}
	return retry(s, ctx, func(ctx context.Context, g *generation) ([]*esdb.RecordedEvent, error) {
		rs, err := g.client.ReadStream(ctx, stream, opts, uint64(n))
		if err != nil {
			return nil, err
		}
		defer rs.Close()
		return drain(rs)
	}, nil)
}

// readAllPage is one read call on $all, retried on transient failures. It returns every event,
// system ones included.
func (s *Store) readAllPage(ctx context.Context, dir esdb.Direction, from esdb.AllPosition, n int) ([]*esdb.RecordedEvent, error) {
	timeout := s.opts.OperationTimeout
	opts := esdb.ReadAllOptions{Direction: dir, From: from, Deadline: &timeout}
	return retry(s, ctx, func(ctx context.Context, g *generation) ([]*esdb.RecordedEvent, error) {
		rs, err := g.client.ReadAll(ctx, opts, uint64(n))
		if err != nil {
			return nil, err
		}
		defer rs.Close()
		return drain(rs)
	}, nil)
}

func drain(rs *esdb.ReadStream) ([]*esdb.RecordedEvent, error) {
	var out []*esdb.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if e := ev.OriginalEvent(); e != nil {
			out = append(out, e)
		}
	}
}

// ReadAll reads our events in $all order strictly after position a. The read starts at a (the
// server includes the event at a) and drops it; system events are dropped too, and count counts
// only ours.
func (s *Store) ReadAll(ctx context.Context, a eventstore.Position, count int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	out := []eventstore.RecordedEvent{}
	cursor := a // the last position seen, ours or not
	for {
		page, err := s.readAllPage(ctx, esdb.Forwards, toAllPosition(cursor), pageSize)
		if err != nil {
			if sentinel := refusal(err); sentinel != nil {
				return nil, fmt.Errorf("esdb: read $all after %s: %w: %w", cursor, sentinel, err)
			}
			return nil, fmt.Errorf("esdb: read $all after %s: %w", cursor, err)
		}
		progressed := false
		for _, ev := range page {
			p := fromPosition(ev.Position)
			if !after(p, cursor) {
				continue
			}
			cursor, progressed = p, true
			if isSystem(ev) {
				continue
			}
			out = append(out, fromRecorded(ev))
			if count > 0 && len(out) == count {
				return out, nil
			}
		}
		if len(page) < pageSize || !progressed {
			return out, nil
		}
	}
}

// Head is the position of our last event in $all (Start if there is none), found by reading $all
// backwards past system events.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Start, err
	}
	if s.isClosed() {
		return eventstore.Start, eventstore.ErrClosed
	}
	const n = 64
	var from esdb.AllPosition = esdb.End{}
	last := eventstore.Position{Commit: math.MaxUint64, Prepare: math.MaxUint64}
	for {
		page, err := s.readAllPage(ctx, esdb.Backwards, from, n)
		if err != nil {
			return eventstore.Start, fmt.Errorf("esdb: read the head of $all: %w", err)
		}
		progressed := false
		for _, ev := range page {
			p := fromPosition(ev.Position)
			if !p.Less(last) {
				continue
			}
			last, progressed = p, true
			if !isSystem(ev) {
				return p, nil
			}
		}
		if len(page) < n || !progressed {
			return eventstore.Start, nil
		}
		from = toAllPosition(last)
	}
}
