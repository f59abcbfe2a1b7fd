package embedded

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

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
	return s.StartAppend(ctx, stream, expected, events...)()
}

// StartAppend implements eventstore.PipelinedAppender: it queues the append for the committer,
// which applies appends in the order they were queued, and returns without waiting; wait is
// Append's outcome. The store is its streams' only writer (the directory's lock keeps other
// processes out), so an append that expects the revision an earlier, failed append would have made
// fails too.
func (s *Store) StartAppend(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (wait func() (eventstore.AppendResult, error)) {
	failed := func(err error) func() (eventstore.AppendResult, error) {
		return func() (eventstore.AppendResult, error) { return eventstore.AppendResult{}, err }
	}
	if err := ctx.Err(); err != nil {
		return failed(err)
	}
	if err := eventstore.ValidateAppend(stream, events); err != nil {
		return failed(err)
	}
	if len(events) == 0 {
		res, err := s.checkOnly(ctx, stream, expected)
		return func() (eventstore.AppendResult, error) { return res, err }
	}
	size := 0
	for i := range events {
		size += canonicalSize(stream, &events[i])
	}
	r := &appendReq{ctx: ctx, stream: stream, expected: expected, events: events, size: size, done: make(chan struct{})}
	s.mu.RLock()
	if s.isClosed {
		s.mu.RUnlock()
		return failed(eventstore.ErrClosed)
	}
	s.reqs <- r
	s.mu.RUnlock()
	return func() (eventstore.AppendResult, error) {
		select {
		case <-r.done:
			return r.res, r.err
		case <-ctx.Done():
			return eventstore.AppendResult{}, fmt.Errorf("append to stream %q: outcome unknown, retrying with the same event IDs is safe: %w", stream, ctx.Err())
		}
	}
}

// checkOnly is an append without events: it only checks the expectation.
func (s *Store) checkOnly(ctx context.Context, stream string, expected eventstore.ExpectedRevision) (eventstore.AppendResult, error) {
	if err := s.usable(ctx); err != nil {
		return eventstore.AppendResult{}, err
	}
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	cur, exists := s.idx.last(stream)
	if !expected.Matches(cur, exists) {
		return eventstore.AppendResult{}, wrongExpected(stream, expected, cur, exists)
	}
	if !exists {
		return eventstore.AppendResult{}, nil
	}
	pos := s.idx.streams[stream].positions[cur]
	return eventstore.AppendResult{NextRevision: cur, Position: eventstore.Position{Commit: pos, Prepare: pos}}, nil
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
	ckpts := make(chan checkpointJob)
	ckptDone := make(chan error, 1)
	go s.checkpointer(ckpts, ckptDone)
	defer close(ckpts)
	inFlight := false
	// waitCheckpoint collects the result of the checkpoint in flight, if any.
	waitCheckpoint := func(block bool) {
		if !inFlight {
			return
		}
		var err error
		if block {
			err = <-ckptDone
		} else {
			select {
			case err = <-ckptDone:
			default:
				return
			}
		}
		inFlight = false
		if err != nil && s.failed == nil {
			s.fail("checkpoint into bbolt", err)
		}
	}
	// startCheckpoint hands the records only in the WAL to the checkpointer, after starting a new
	// WAL segment for the records that follow them.
	startCheckpoint := func() {
		waitCheckpoint(false)
		if inFlight || s.failed != nil || s.unhanded == 0 {
			return
		}
		f, err := createSegment(s.fs, s.dir, s.head+1, s.opts.UnsafeNoSync)
		if err != nil {
			s.fail("create WAL segment", err)
			return
		}
		old := s.wal
		s.wal = f
		_, values := s.tail.snapshot() // no checkpoint in flight: the tail is exactly the unhanded records
		ckpts <- checkpointJob{values: values, head: s.head, chain: s.chain, segment: old}
		inFlight = true
		s.unhanded, s.pendingBytes = 0, 0
	}
	ticker := time.NewTicker(checkpointInterval)
	defer ticker.Stop()
	batch := make([]*appendReq, 0, 64)
	// The batch before and how long its commit took: a batch smaller than the one before waits a
	// little for the writers still on their way (gather).
	lastBatch, lastCommit := 0, time.Duration(0)
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	for {
		var first *appendReq
		select {
		case r, ok := <-s.reqs:
			if !ok {
				// Closing: finish the checkpoint in flight, then checkpoint the rest.
				waitCheckpoint(true)
				startCheckpoint()
				waitCheckpoint(true)
				return
			}
			first = r
		case <-ticker.C:
			startCheckpoint()
			continue
		case err := <-ckptDone:
			inFlight = false
			if err != nil && s.failed == nil {
				s.fail("checkpoint into bbolt", err)
			}
			continue
		}
		batch, size := s.collect(append(batch[:0], first), first.size, maxBatchAppends, nil)
		if len(batch) < lastBatch && !s.opts.UnsafeNoSync {
			// The writers of the batch before are answered together and come back one by one: a
			// commit now would carry only the first few and make the rest wait for the next
			// sync. Wait for as many as the batch before held, at most half that batch's commit
			// time (so an idle writer's append waits at most half a sync more).
			gather.Reset(min(lastCommit/2, maxGather))
			batch, _ = s.collect(batch, size, lastBatch, gather.C)
			gather.Stop() // since Go 1.23 a stopped timer's channel holds no stale tick
		}
		lastBatch = len(batch)
		start := time.Now()
		s.commit(batch)
		lastCommit = time.Since(start)
		clear(batch)
		if s.unhanded >= checkpointEvents || s.pendingBytes >= checkpointBytes {
			startCheckpoint()
		}
	}
}

// collect adds waiting appends to batch (whose events are size bytes) until it holds want appends
// or reaches the batch bounds: with until nil only those already waiting, else also those that come
// before until fires. It returns the batch and its size.
func (s *Store) collect(batch []*appendReq, size, want int, until <-chan time.Time) ([]*appendReq, int) {
	for len(batch) < want && len(batch) < maxBatchAppends && size < maxBatchBytes {
		var r *appendReq
		ok := true
		if until == nil {
			select {
			case r, ok = <-s.reqs:
			default:
				return batch, size
			}
		} else {
			select {
			case r, ok = <-s.reqs:
			case <-until:
				return batch, size
			}
		}
		if !ok {
			return batch, size
		}
		batch, size = append(batch, r), size+r.size
	}
	return batch, size
}

// maxGather bounds how long a batch waits for the writers of the batch before it.
const maxGather = time.Millisecond

// checkpointInterval bounds how long records stay in the WAL only. A variable so that tests can
// turn timed checkpoints off.
var checkpointInterval = time.Second

// checkpointChunk is the most records one checkpoint transaction copies.
var checkpointChunk = 2048

// checkpointJob is the WAL's records up to head, to copy into bbolt; segment is the WAL segment
// that holds them (and nothing after them), to remove once they are in bbolt.
type checkpointJob struct {
	values  [][]byte
	head    uint64
	chain   [ChainSize]byte
	segment walFile
}

// checkpointer copies each job's records into bbolt in one synced transaction (appends go on
// meanwhile, into the next WAL segment), removes the job's WAL segment and trims the tail. On
// failure it reports the error (the committer then refuses further appends) and leaves the segment:
// everything acknowledged is still in the WAL, which the next Open replays.
func (s *Store) checkpointer(jobs <-chan checkpointJob, done chan<- error) {
	for job := range jobs {
		start := time.Now()
		var err error
		// In chunks, each its own synced transaction: a chunk's flush is short, so the WAL syncs
		// that queue behind it on the disk wait little.
		for i := 0; i < len(job.values) && err == nil; i += checkpointChunk {
			chunk := job.values[i:min(i+checkpointChunk, len(job.values))]
			ckpt, _ := s.tail.snapshot()
			chain := job.chain
			if end := i + len(chunk); end < len(job.values) {
				copy(chain[:], job.values[end-1][len(job.values[end-1])-ChainSize:])
			}
			if err = s.putRecords(ckpt, chunk, chain); err == nil {
				s.tail.mu.Lock()
				s.tail.ckpt += uint64(len(chunk))
				s.tail.values = s.tail.values[len(chunk):]
				s.tail.mu.Unlock()
			}
		}
		job.segment.Close()
		if err == nil {
			if rerr := s.fs.Remove(job.segment.Name()); rerr != nil {
				s.log.Warn("could not remove a checkpointed WAL segment (replay skips it)", "file", job.segment.Name(), "error", rerr)
			}
		}
		if d := time.Since(start); d > s.opts.SlowSync {
			s.log.Warn("slow checkpoint", "duration", d, "events", len(job.values), "file", s.path)
		}
		done <- err
	}
}

func (s *Store) fail(what string, err error) {
	s.failed = fmt.Errorf("%s: %w", what, err)
	s.log.Error("commit failed; refusing further appends until the store is reopened", "what", what, "error", err, "dir", s.dir)
}

// pendingStream is a stream's state during a group commit: its committed index (nil for a new
// stream) plus what earlier appends of the same batch added.
type pendingStream struct {
	name      string
	base      *streamIndex
	positions []uint64
	ids       map[uuid.UUID]uint64
}

func (p *pendingStream) baseLen() uint64 {
	if p.base == nil {
		return 0
	}
	return uint64(len(p.base.positions))
}

func (p *pendingStream) last() (uint64, bool) {
	n := p.baseLen() + uint64(len(p.positions))
	if n == 0 {
		return 0, false
	}
	return n - 1, true
}

func (p *pendingStream) revisionOf(id uuid.UUID) (uint64, bool) {
	if rev, ok := p.ids[id]; ok {
		return rev, true
	}
	if p.base != nil {
		return p.base.revisionOf(id)
	}
	return 0, false
}

func (p *pendingStream) position(rev uint64) uint64 {
	if n := p.baseLen(); rev >= n {
		return p.positions[rev-n]
	}
	return p.base.positions[rev]
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
	pending := make(map[string]*pendingStream)
	var order []*pendingStream
	var out []eventstore.RecordedEvent
	created := time.Now().UTC().UnixNano()
	start := time.Now()
	var values [][]byte
	err := func() error {
		for _, r := range batch {
			if r.err != nil {
				continue
			}
			p := pending[r.stream]
			if p == nil {
				// Only the committer writes the index, so it reads it without the lock.
				p = &pendingStream{name: r.stream, base: s.idx.streams[r.stream]}
				pending[r.stream] = p
				order = append(order, p)
			}
			// The stream's ID map, built at its first append after Open, which checks that the
			// log repeats no ID there (Open checked only a stream's first IDs: see streamIndex).
			if p.base != nil {
				if err := p.base.idMap(); err != nil {
					r.err = fmt.Errorf("%w: %s: append to stream %q refused: %v (freezeledger verify names its position)", eventstore.ErrCorrupt, s.path, r.stream, err)
					continue
				}
			}
			if checkRetry(r, p) {
				continue
			}
			cur, exists := p.last()
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
				values = append(values, v)
				p.positions = append(p.positions, head)
				if p.ids == nil {
					p.ids = make(map[uuid.UUID]uint64)
				}
				p.ids[r.events[i].ID] = rev
				data, meta := recordPayload(v, r.stream, &r.events[i])
				out = append(out, eventstore.RecordedEvent{
					ID: r.events[i].ID, Type: r.events[i].Type, Stream: r.stream, Revision: rev,
					Position: eventstore.Position{Commit: head, Prepare: head},
					Created:  time.Unix(0, created).UTC(), Data: data, Metadata: meta,
				})
				rev++
			}
			r.res = eventstore.AppendResult{NextRevision: rev - 1, Position: eventstore.Position{Commit: head, Prepare: head}}
		}
		if head == s.head {
			return nil // nothing to write: every append failed its check or was a retry
		}
		if err := writeAll(s.wal, frame(values)); err != nil {
			return err
		}
		if !s.opts.UnsafeNoSync {
			return s.wal.Sync()
		}
		return nil
	}()
	if d := time.Since(start); d > s.opts.SlowSync {
		s.log.Warn("slow commit", "duration", d, "appends", live, "events", len(out), "file", s.path)
	}
	if err != nil {
		injected := errors.As(err, new(injectedFault))
		if !injected {
			s.fail("write to the WAL", err)
		} else {
			s.log.Error("commit failed; its appends are refused and nothing of them was written", "error", err, "dir", s.dir, "appends", live)
		}
		outcome := "not written"
		if !injected {
			// The frame may have reached the WAL before the write or sync failed.
			outcome = "not acknowledged (it may be in the log after a restart; retrying with the same event IDs is safe)"
		}
		for _, r := range batch {
			if r.err == nil {
				r.err = fmt.Errorf("%w: append to stream %q %s: commit in %s failed: %w", eventstore.ErrUnavailable, r.stream, outcome, s.dir, err)
			}
		}
		return
	}
	if len(out) == 0 {
		return
	}
	s.head, s.chain = head, chain
	s.tail.mu.Lock()
	s.tail.values = append(s.tail.values, values...)
	s.tail.mu.Unlock()
	s.unhanded += len(values)
	for _, v := range values {
		s.pendingBytes += len(v)
	}
	s.idx.mu.Lock()
	for _, p := range order {
		if len(p.positions) == 0 {
			continue
		}
		si := p.base
		if si == nil {
			si = newStreamIndex()
			s.idx.streams[p.name] = si
		}
		base := uint64(len(si.positions))
		si.positions = append(si.positions, p.positions...)
		// In revision order, so that a small stream's IDs stay a list.
		ordered := make([]uuid.UUID, len(p.positions))
		for id, rev := range p.ids {
			ordered[rev-base] = id
		}
		for i, id := range ordered {
			si.putID(id, base+uint64(i))
		}
	}
	s.idx.mu.Unlock()
	s.recent.publish(out)
	s.pubHead.Store(head)
}

// recordPayload returns the data and metadata inside a stored value made by encodeRecord.
func recordPayload(v []byte, stream string, e *eventstore.EventData) (data, meta []byte) {
	i := 41 + 2 + len(stream) + 2 + len(e.Type) + 4
	if len(e.Data) > 0 {
		data = v[i : i+len(e.Data) : i+len(e.Data)]
	}
	i += len(e.Data) + 4
	if len(e.Metadata) > 0 {
		meta = v[i : i+len(e.Metadata) : i+len(e.Metadata)]
	}
	return data, meta
}

// checkRetry applies the idempotency rules of Append's doc comment. It returns true if r is
// decided (its res or err is set) and writes nothing.
func checkRetry(r *appendReq, p *pendingStream) bool {
	cur, exists := p.last()
	if !exists {
		return false
	}
	found := 0
	var firstRev, dupRev uint64
	consecutive := true
	for i := range r.events {
		rev, ok := p.revisionOf(r.events[i].ID)
		if !ok {
			consecutive = false
			continue
		}
		if found == 0 {
			dupRev = rev
			if rev < uint64(i) {
				consecutive = false
			}
			firstRev = rev - uint64(i)
		}
		if rev != firstRev+uint64(i) {
			consecutive = false
		}
		found++
	}
	if found == 0 {
		return false
	}
	werr := wrongExpected(r.stream, r.expected, cur, true)
	n := uint64(len(r.events))
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
			pos := p.position(firstRev + n - 1)
			r.res = eventstore.AppendResult{NextRevision: firstRev + n - 1, Position: eventstore.Position{Commit: pos, Prepare: pos}}
			return true
		}
		r.err = fmt.Errorf("%w (its event IDs were already appended as revisions %d..%d under a different expectation)", werr, firstRev, firstRev+n-1)
		return true
	}
	r.err = fmt.Errorf("%w (some of its event IDs are already in the stream, e.g. at revision %d, but it is not an exact retry)", werr, dupRev)
	return true
}
