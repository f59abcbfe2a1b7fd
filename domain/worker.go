package domain

// The per-channel worker: requests queue up per channel stream, and one worker at a time decides
// them in groups against the channel's in-memory state and writes each group in one append (group
// commit), rolling the state back and deciding again after a concurrent write.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
)

// emitter collects the events a request decides, applying each to the channel state at once.
type emitter struct {
	c      *Channel
	now    time.Time
	newID  func() uuid.UUID
	events []NewEvent
	owners []*request
	req    *request
	err    error // an encoding failure (internal)

	buf      []byte  // where the round's event bytes are encoded (encodeInto), a chunk at a time
	last     metaKey // the metadata encoded last, and its bytes, shared by the events that have it
	lastMeta []byte
}

// metaKey is what an event's metadata depends on within a round (its time is the round's).
type metaKey struct {
	req     *request
	system  bool
	version int
}

// The round's event bytes are carved from chunks, one allocation for many small events instead of
// two for each: the first chunk is small (a round often emits one event), each next one twice
// the last, up to maxEmitChunk.
const (
	minEmitChunk = 1 << 10
	maxEmitChunk = 64 << 10
)

// encodeInto returns the bytes write appends to the round's buffer, capped so that nothing written
// later reaches them; false when write reports false.
func (e *emitter) encodeInto(write func([]byte) ([]byte, bool)) ([]byte, bool) {
	if cap(e.buf)-len(e.buf) < 256 {
		e.buf = make([]byte, 0, min(max(2*cap(e.buf), minEmitChunk), maxEmitChunk))
	}
	start := len(e.buf)
	b, ok := write(e.buf)
	if !ok {
		return nil, false
	}
	e.buf = b // a new array if it outgrew the chunk; either way what is returned is capped
	return b[start:len(b):len(b)], true
}

// emit applies each pending event to the channel and adds it, encoded, to the round's events, owned
// by the current request. An encoding failure is kept in e.err and stops the emission.
func (e *emitter) emit(pend ...pendingEvent) {
	for _, p := range pend {
		meta := e.req.meta
		key := metaKey{req: e.req, version: SchemaVersions[p.Type]}
		if sys, ok := p.Data.(bySystem); ok { // a follow-up the system appends (rules 16, 17)
			p.Data, meta = sys.data, Metadata{Actor: SystemActor, RequestID: meta.RequestID}
			key.system = true
		}
		meta.Time = e.now
		meta.SchemaVersion = key.version
		data, ok := e.encodeInto(func(b []byte) ([]byte, bool) { return appendData(b, p.Data) })
		if !ok {
			var err error
			if data, err = json.Marshal(p.Data); err != nil {
				e.err = err
				return
			}
		}
		mb := e.lastMeta
		if mb == nil || key != e.last {
			if mb, ok = e.encodeInto(func(b []byte) ([]byte, bool) { return appendMetadata(b, &meta) }); !ok {
				var err error
				if mb, err = json.Marshal(meta); err != nil {
					e.err = err
					return
				}
			}
			e.last, e.lastMeta = key, mb
		}
		e.c.apply(p.Type, p.Data, eventCtx{meta: &meta})
		e.events = append(e.events, NewEvent{ID: e.newID(), Type: p.Type, Data: data, Metadata: mb})
		e.owners = append(e.owners, e.req)
	}
}

// request is one command (or query) queued for a channel's worker, and its outcome once done is
// closed.
type request struct {
	meta  Metadata // actor, request ID, idempotency key and command hash; Time is set per round
	keyed bool     // the request carries an idempotency key: id and hash are set
	id    idemID
	hash  [16]byte
	run   func(c *Channel, e *emitter) error
	// control, when set, is run alone by the worker's loop instead of a round (an eviction, a
	// snapshot), in order with the commands queued around it.
	control func(w *worker)

	// outcome
	events []StoredEvent // the events appended; for a replay, those of the first request if at hand
	replay bool          // the key was used for the same command before: nothing was decided
	// runs are where the first request's events are in the stream, when replay is set and events
	// are not at hand (they are read back from the log).
	runs     []idemRun
	position string // the channel's position after the round
	err      error
	done     chan struct{}
	retried  int // times the request was decided again after the append before its own failed (pipeline.go)
}

// newRequest is the request of a command with metadata m and command hash hash, decided by run; a
// request with an idempotency key carries the key's ID and hash for the channel's index.
func newRequest(m Meta, hash string, run func(c *Channel, e *emitter) error) *request {
	r := &request{
		meta: Metadata{Actor: m.Actor, RequestID: m.RequestID, IdempotencyKey: m.IdempotencyKey, OnBehalfOf: m.OnBehalfOf, CommandHash: hash,
			Verification: verificationOf(m), ActorAdmin: m.Admin && m.Actor.Role == RolePartner, ActorCustomerID: customerOfActor(m)},
		run: run,
	}
	if m.IdempotencyKey != "" {
		r.keyed, r.id, r.hash = true, keyID(m.Actor.Name, m.IdempotencyKey), hashID(hash)
	}
	return r
}

// worker decides the commands of one channel stream, one round at a time (loop, round); running
// says a loop goroutine is draining queue. It owns the channel's state.
type worker struct {
	s      *Service
	stream string

	mu      sync.Mutex
	queue   []*request
	running bool

	state    *Channel  // owned by the running loop
	snapRev  int64     // the revision of the channel's latest snapshot (-1: none); owned by the loop
	inflight *inflight // the round whose append is being made durable (pipeline.go); owned by the loop

	// residency (residency.go), guarded by Service.mu
	resident bool      // state is loaded
	evicting bool      // an eviction is queued
	lastUse  uint64    // Service.residency.tick at the last use
	usedAt   time.Time // the Service's clock at the last use
	parked   parked    // what is known of the channel while it is not loaded
	scanSeen int64     // the highest revision the retention scan met (-1: none)
}

func (s *Service) worker(stream string) *worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.workers[stream]
	if w == nil {
		w = &worker{s: s, stream: stream, snapRev: -1, scanSeen: -1}
		s.workers[stream] = w
	}
	return w
}

// exec runs r in stream's worker and waits for its outcome.
func (s *Service) exec(stream string, r *request) error {
	s.submit(s.useWorker(stream), r)
	<-r.done
	return r.err
}

// execUnused is exec for the Service's own sweeps: it does not count as a use of the channel (for
// eviction's least-recently-used order and EvictIdle).
func (s *Service) execUnused(stream string, r *request) error {
	s.submit(s.worker(stream), r)
	<-r.done
	return r.err
}

// submit queues r for w, starting its loop if it is not running; r.done is closed when r has run.
func (s *Service) submit(w *worker, r *request) {
	r.done = make(chan struct{})
	w.mu.Lock()
	w.queue = append(w.queue, r)
	start := !w.running
	w.running = true
	w.mu.Unlock()
	if start {
		go w.loop()
	}
}

// query runs f against stream's committed state, in order with the channel's commands.
func (s *Service) query(stream string, f func(c *Channel)) error {
	return s.exec(stream, &request{run: func(c *Channel, _ *emitter) error { f(c); return nil }})
}

func (w *worker) loop() {
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			if w.inflight != nil { // answer the round being synced, then look again
				w.mu.Unlock()
				w.drain()
				continue
			}
			w.running = false
			w.mu.Unlock()
			return
		}
		n := min(len(w.queue), w.s.opts.MaxGroup)
		for i, r := range w.queue[:n] {
			if r.control != nil { // run alone: take it by itself, or the commands before it
				n = max(i, 1)
				break
			}
		}
		reqs := slices.Clone(w.queue[:n])
		w.queue = slices.Delete(w.queue, 0, n)
		if len(w.queue) == 0 {
			w.queue = nil
		}
		w.mu.Unlock()
		if reqs[0].control != nil {
			w.drain()
			reqs[0].control(w)
			closeAll(reqs)
		} else {
			w.round(reqs)
		}
	}
}

// closeAll ends reqs: their outcomes are set.
func closeAll(reqs []*request) {
	for _, r := range reqs {
		close(r.done)
	}
}

func failAll(reqs []*request, err error) {
	for _, r := range reqs {
		r.err = err
	}
}

// round decides reqs together and appends their events in one append, and ends the requests once
// their outcome is known: at once, or, when the append was started on a PipelinedLog, once it is
// durable (pipeline.go).
func (w *worker) round(reqs []*request) {
	if !w.decideAndAppend(reqs) {
		closeAll(reqs)
	}
}

// decideAndAppend is round's work; it reports whether reqs were handed to the pipeline, which ends
// them.
func (w *worker) decideAndAppend(reqs []*request) (pipelined bool) {
	s := w.s
	ctx := context.Background()
	plog, _ := s.log.(PipelinedLog)
	if w.state == nil {
		c, snapRev, err := s.load(ctx, w.stream)
		if err != nil {
			failAll(reqs, err)
			return false
		}
		w.state = c
		if snapRev >= 0 {
			w.snapRev = snapRev
		}
		s.loaded(w)
	}
	w.state.expireKeys(s.now())
	caughtUp := false
	for attempt := 0; ; attempt++ {
		c := w.state
		base := c.revision
		c.begin()
		em := &emitter{c: c, now: s.now(), newID: s.opts.NewID}
		refused := false
		for _, r := range reqs {
			r.err, r.replay, r.events, r.runs = nil, false, nil, nil
			if r.keyed {
				if e, ok := c.idem[r.id]; ok && !c.keyExpired(e.seen, em.now) {
					if e.hash == r.hash {
						r.replay = true
					} else {
						r.err = Errorf(CodeConflict, "idempotency key %q was already used by %q for a different command", r.meta.IdempotencyKey, r.meta.Actor.Name)
						refused = true
					}
					continue
				}
			}
			em.req = r
			start := len(em.events)
			if err := r.run(c, em); err != nil {
				r.err = err
				refused = true
				if len(em.events) > start { // a run that fails must not leave events behind
					panic("domain: a refused command emitted events")
				}
			}
			if em.err != nil {
				c.rollback()
				failAll(reqs, fmt.Errorf("encoding events for %s: %w", w.stream, em.err))
				return false
			}
		}
		if refused && !caughtUp && attempt == 0 && plog == nil { // a PipelinedLog has no other writer
			// A refusal may come from a stale state (another instance wrote): read the tail first.
			caughtUp = true
			tail, err := s.log.Read(ctx, w.stream, uint64(base+1))
			if err != nil {
				c.rollback()
				failAll(reqs, fmt.Errorf("reading %s from revision %d: %w", w.stream, base+1, err))
				return false
			}
			if len(tail) > 0 {
				c.rollback()
				if err := w.applyTail(tail); err != nil {
					failAll(reqs, err)
					return false
				}
				continue
			}
		}
		if len(em.events) == 0 {
			c.commit()
			if w.inflight != nil {
				// The answers may rest on the round being synced: answer after it, or decide
				// again on the state reloaded after its failure.
				if !w.drain() {
					return w.decideAndAppend(reqs)
				}
			}
			finish(c, reqs, nil)
			return false
		}
		expected := base
		if base < 0 {
			expected = ExpectNoStream
		}
		if plog != nil {
			w.pipeline(plog, reqs, em, expected)
			return true
		}
		app, err := s.log.Append(ctx, w.stream, expected, em.events)
		if err == nil {
			stored := w.committed(ctx, c, em, app)
			finish(c, reqs, stored)
			return false
		}
		c.rollback()
		if errors.Is(err, ErrWrongRevision) && attempt < s.opts.MaxRetries {
			tail, rerr := s.log.Read(ctx, w.stream, uint64(base+1))
			if rerr == nil {
				rerr = w.applyTail(tail)
			}
			if rerr != nil {
				failAll(reqs, fmt.Errorf("reloading %s after a concurrent write: %w", w.stream, rerr))
				return false
			}
			continue
		}
		failAll(reqs, appendFailure(w.stream, base, err))
		return false
	}
}

// finish gives every request of a successful round the channel's position, and every replay where
// the first request's events are: the events themselves when the round just appended them (stored:
// the round's events, a key used twice in one round), else their revisions, to be read back.
func finish(c *Channel, reqs []*request, stored []StoredEvent) {
	for _, r := range reqs {
		r.position = c.position
		if !r.replay {
			continue
		}
		runs := c.keyRuns(r.id)
		if len(stored) > 0 && len(runs) == 1 && runs[0].first >= stored[0].Revision &&
			runs[0].first+uint64(runs[0].n) <= stored[0].Revision+uint64(len(stored)) {
			i := runs[0].first - stored[0].Revision
			r.events = slices.Clone(stored[i : i+uint64(runs[0].n)])
			continue
		}
		r.runs = runs
	}
}

// committed records a successful append: stored events for the requests. It returns them all.
func (w *worker) committed(ctx context.Context, c *Channel, em *emitter, app Appended) []StoredEvent {
	stored := w.stored(ctx, em, app)
	c.commit()
	c.revision = int64(app.Revision)
	c.position = app.Position
	return stored
}

// stored is the round's events as appended (app), with their positions, each also given to the
// request that decided it.
func (w *worker) stored(ctx context.Context, em *emitter, app Appended) []StoredEvent {
	n := len(em.events)
	stored := make([]StoredEvent, n)
	first := app.Revision + 1 - uint64(n)
	for i, ne := range em.events {
		stored[i] = StoredEvent{ID: ne.ID, Type: ne.Type, Stream: w.stream, Revision: first + uint64(i), Position: app.Position, Data: ne.Data, Metadata: ne.Metadata}
	}
	if pr, ok := w.s.log.(PositionReader); ok && n > 1 {
		// Only the last event's position comes back from an append; ask for the others.
		if ps, err := pr.Positions(ctx, w.stream, first, n); err == nil && len(ps) == n {
			for i := range stored {
				stored[i].Position = ps[i]
			}
		}
	} else if n > 1 {
		// Only the last event's position comes back from an append; read the others.
		if back, err := w.s.log.Read(ctx, w.stream, first); err == nil && len(back) >= n {
			for i := range stored {
				if back[i].ID == stored[i].ID {
					stored[i].Position = back[i].Position
				}
			}
		}
	}
	for i, r := range em.owners {
		r.events = append(r.events, stored[i])
	}
	return stored
}

func (w *worker) applyTail(tail []StoredEvent) error {
	for i := range tail {
		if int64(tail[i].Revision) != w.state.revision+1 {
			return fmt.Errorf("stream %s: revision %d follows %d", w.stream, tail[i].Revision, w.state.revision)
		}
		if err := w.state.applyStored(&tail[i]); err != nil {
			return fmt.Errorf("stream %s revision %d (position %s): %w", w.stream, tail[i].Revision, tail[i].Position, err)
		}
	}
	return nil
}
