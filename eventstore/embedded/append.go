package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/freezeledger/freezeledger/eventstore"
)

type appendReq struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedRevision
	events   []eventstore.EventData
	size     int

	res  eventstore.AppendResult
	err  error
	done chan struct{}
}

// Append implements eventstore.Store. It returns once the events are synced to disk (unless the
// store was opened with UnsafeNoSync).
//
// Idempotency, following EventStoreDB: an append whose event IDs are all already in the stream, at
// consecutive revisions r..r+n-1 in the same order, and whose expectation held just before r
// (Any; StreamExists with r > 0; NoStream with r == 0; Exact(e) with r == e+1), is a retry: it
// writes nothing and returns the first append's result. An append in which some, but not all, IDs
// are already in the stream, or all are but not as such a retry, fails with ErrWrongExpectedRevision
// (EventStoreDB's "corrupted idempotency" answer) and writes nothing, even if its expectation holds:
// an event ID is never in a stream twice. (EventStoreDB itself, for Any and for an exact
// expectation that holds, only looks at the first ID and may write duplicates; this store is
// stricter.) The same ID may be used in different streams.
//
// If ctx ends while the append waits for its commit, Append returns ctx's error and the append may
// or may not be written: retrying it with the same event IDs is safe.
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
	size := 0
	for i := range events {
		size += canonicalSize(stream, &events[i])
	}
	r := &appendReq{ctx: ctx, stream: stream, expected: expected, events: events, size: size, done: make(chan struct{})}
	s.mu.RLock()
	if s.isClosed {
		s.mu.RUnlock()
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	s.reqs <- r
	s.mu.RUnlock()
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		return eventstore.AppendResult{}, fmt.Errorf("append to stream %q: outcome unknown, retrying with the same event IDs is safe: %w", stream, ctx.Err())
	}
}

// checkOnly is an append without events: it only checks the expectation.
func (s *Store) checkOnly(ctx context.Context, stream string, expected eventstore.ExpectedRevision) (eventstore.AppendResult, error) {
	if err := s.usable(ctx); err != nil {
		return eventstore.AppendResult{}, err
	}
	var res eventstore.AppendResult
	err := s.db.View(func(tx *bolt.Tx) error {
		cur, exists := streamRevision(tx.Bucket(bucketStreams), stream)
		if !expected.Matches(cur, exists) {
			return wrongExpected(stream, expected, cur, exists)
		}
		if exists {
			pos := binary.BigEndian.Uint64(tx.Bucket(bucketRevs).Get(revKey(stream, cur)))
			res = eventstore.AppendResult{NextRevision: cur, Position: eventstore.Position{Commit: pos, Prepare: pos}}
		}
		return nil
	})
	return res, readErr(err)
}

func streamRevision(b *bolt.Bucket, stream string) (uint64, bool) {
	v := b.Get([]byte(stream))
	if v == nil {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

func wrongExpected(stream string, expected eventstore.ExpectedRevision, cur uint64, exists bool) *eventstore.WrongExpectedRevisionError {
	actual := int64(-1)
	if exists {
		actual = int64(cur)
	}
	return &eventstore.WrongExpectedRevisionError{Stream: stream, Expected: expected, Actual: actual}
}

// committer is the single writer: it takes every waiting append, up to the batch bounds, and
// commits them together.
func (s *Store) committer() {
	defer close(s.done)
	batch := make([]*appendReq, 0, 64)
	for first := range s.reqs {
		batch = append(batch[:0], first)
		size := first.size
	drain:
		for len(batch) < maxBatchAppends && size < maxBatchBytes {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
				size += r.size
			default:
				break drain
			}
		}
		s.commit(batch)
		clear(batch)
	}
}

// staged is what a batch's transaction decided, applied to the in-memory state once it committed.
type staged struct {
	events []eventstore.RecordedEvent
}

func (s *Store) commit(batch []*appendReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	live := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if s.failed != nil {
			r.err = fmt.Errorf("%w: append to stream %q refused: an earlier commit failed (%v); reopen the store", eventstore.ErrUnavailable, r.stream, s.failed)
			continue
		}
		live++
	}
	if live == 0 {
		return
	}
	head, chain := s.head, s.chain
	var out staged
	created := time.Now().UTC().UnixNano()
	start := time.Now()
	injected := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		events.FillPercent = 1.0
		streams, revs, ids, meta := tx.Bucket(bucketStreams), tx.Bucket(bucketRevs), tx.Bucket(bucketIDs), tx.Bucket(bucketMeta)
		for _, r := range batch {
			if r.err != nil {
				continue
			}
			cur, exists := streamRevision(streams, r.stream)
			if done, err := checkRetry(r, ids, cur, exists); done || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			if !r.expected.Matches(cur, exists) {
				r.err = wrongExpected(r.stream, r.expected, cur, exists)
				continue
			}
			rev := cur + 1
			if !exists {
				rev = 0
			}
			for i := range r.events {
				head++
				var v []byte
				v, chain = encodeRecord(&chain, head, r.stream, rev, created, &r.events[i])
				pos := be64(head)
				if err := events.Put(pos, v); err != nil {
					return err
				}
				if err := revs.Put(revKey(r.stream, rev), pos); err != nil {
					return err
				}
				idv := make([]byte, 16)
				binary.BigEndian.PutUint64(idv, rev)
				binary.BigEndian.PutUint64(idv[8:], head)
				if err := ids.Put(idKey(r.events[i].ID, r.stream), idv); err != nil {
					return err
				}
				rr, _ := parseRecord(v)
				out.events = append(out.events, eventstore.RecordedEvent{
					ID: r.events[i].ID, Type: r.events[i].Type, Stream: r.stream, Revision: rev,
					Position: eventstore.Position{Commit: head, Prepare: head},
					Created:  time.Unix(0, created).UTC(), Data: nilIfEmpty(rr.data), Metadata: nilIfEmpty(rr.meta),
				})
				rev++
			}
			if err := streams.Put([]byte(r.stream), be64(rev-1)); err != nil {
				return err
			}
			r.res = eventstore.AppendResult{NextRevision: rev - 1, Position: eventstore.Position{Commit: head, Prepare: head}}
		}
		if head == s.head {
			return nil // nothing to write: every append failed its check or was a retry
		}
		if err := meta.Put(keyHead, be64(head)); err != nil {
			return err
		}
		if err := meta.Put(keyChain, chain[:]); err != nil {
			return err
		}
		if s.opts.Faults != nil {
			if err := s.opts.Faults.BeforeCommit(len(out.events)); err != nil {
				injected = true
				return err
			}
		}
		return nil
	})
	if d := time.Since(start); d > s.opts.SlowSync {
		s.log.Warn("slow commit", "duration", d, "appends", live, "events", len(out.events), "file", s.path)
	}
	if err != nil {
		if !injected {
			s.failed = err
			s.log.Error("commit failed; refusing further appends until the store is reopened", "error", err, "file", s.path)
		}
		for _, r := range batch {
			if r.err == nil {
				r.err = fmt.Errorf("%w: append to stream %q not written: commit of %s failed: %w", eventstore.ErrUnavailable, r.stream, s.path, err)
			}
		}
		return
	}
	s.head, s.chain = head, chain
	if len(out.events) > 0 {
		s.recent.publish(out.events)
		s.pubHead.Store(head)
	}
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// checkRetry applies the idempotency rules of Append's doc comment. done means r is decided (its
// res or err is set) and writes nothing.
func checkRetry(r *appendReq, ids *bolt.Bucket, cur uint64, exists bool) (done bool, err error) {
	if !exists {
		return false, nil
	}
	found := 0
	var firstRev, firstMissing = uint64(0), -1
	var lastPos uint64
	consecutive := true
	var dupRev uint64
	for i := range r.events {
		v := ids.Get(idKey(r.events[i].ID, r.stream))
		if v == nil {
			if firstMissing < 0 {
				firstMissing = i
			}
			continue
		}
		if len(v) != 16 {
			return false, fmt.Errorf("%w: ids entry of event %s on stream %q is %d bytes", eventstore.ErrCorrupt, r.events[i].ID, r.stream, len(v))
		}
		rev, pos := binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
		if found == 0 {
			firstRev = rev - uint64(i)
			dupRev = rev
		}
		if rev != firstRev+uint64(i) {
			consecutive = false
		}
		lastPos = pos
		found++
	}
	if found == 0 {
		return false, nil
	}
	werr := wrongExpected(r.stream, r.expected, cur, true)
	if found == len(r.events) && consecutive {
		var held bool
		if e, ok := r.expected.Revision(); ok {
			held = firstRev == e+1
		} else {
			switch {
			case r.expected.IsNoStream():
				held = firstRev == 0
			case r.expected.IsStreamExists():
				held = firstRev > 0
			default:
				held = true
			}
		}
		if held {
			r.res = eventstore.AppendResult{NextRevision: firstRev + uint64(len(r.events)) - 1, Position: eventstore.Position{Commit: lastPos, Prepare: lastPos}}
			return true, nil
		}
		r.err = fmt.Errorf("%w (its event IDs were already appended as revisions %d..%d under a different expectation)", werr, firstRev, firstRev+uint64(len(r.events))-1)
		return true, nil
	}
	_ = firstMissing
	r.err = fmt.Errorf("%w (some of its event IDs are already in the stream, e.g. at revision %d, but it is not an exact retry)", werr, dupRev)
	return true, nil
}

var _ = errors.Is
