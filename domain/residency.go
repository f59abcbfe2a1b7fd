package domain

// Channel residency: which channels' states are in memory. Loading a channel beyond
// Options.MaxLoadedChannels evicts the least recently used others, EvictIdle those unused for a
// while, SaveSnapshots snapshots them all (at shutdown). An eviction runs in the channel's worker, in
// order with its commands: it snapshots the state when it has grown enough, notes when its next
// retention release is due (so the retention sweep need not load it before), and drops it.

import (
	"bytes"
	"context"
	"time"
)

// residency is the Service's account of loaded channels; guarded by Service.mu.
type residency struct {
	tick     uint64 // counts uses, for least-recently-used order
	loaded   int    // channels with a state in memory
	evicting int    // evictions queued and not yet run
}

// parked is what the Service keeps of a channel not in memory: the revision its state had (or the
// retention scan has seen, sawEvent) and the earliest retention deadline in it (zero: none). known
// is false when that is not known (an event the scan could not account for, another writer's
// events an evicted state had not seen): the retention sweep must load it.
type parked struct {
	known   bool
	rev     int64
	nextDue time.Time
}

// useWorker returns stream's worker (made on first use), marking it as just used.
func (s *Service) useWorker(stream string) *worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.workers[stream]
	if w == nil {
		w = &worker{s: s, stream: stream, snapRev: -1, scanSeen: -1}
		s.workers[stream] = w
	}
	s.residency.tick++
	w.lastUse, w.usedAt = s.residency.tick, s.now()
	return w
}

// loaded records that w's loop has loaded its state, and queues the evictions that brings the
// loaded channels back within Options.MaxLoadedChannels: the least recently used ones, other
// than w.
func (s *Service) loaded(w *worker) {
	now := s.now()
	s.mu.Lock()
	if !w.resident {
		w.resident = true
		s.residency.loaded++
	}
	w.parked = parked{}
	if w.usedAt.Before(now) { // a load starts the idle time afresh (a sweep's load is no use)
		w.usedAt = now
	}
	var victims []*worker
	if max := s.opts.MaxLoadedChannels; max > 0 {
		for s.residency.loaded-s.residency.evicting > max {
			var v *worker
			for _, o := range s.workers {
				if o.resident && !o.evicting && o != w && (v == nil || o.lastUse < v.lastUse) {
					v = o
				}
			}
			if v == nil {
				break
			}
			v.evicting = true
			s.residency.evicting++
			victims = append(victims, v)
		}
	}
	s.mu.Unlock()
	for _, v := range victims {
		s.submit(v, &request{control: (*worker).evict})
	}
}

// evict runs in w's loop: it snapshots the state if it has grown by Options.SnapshotEvery events
// since the last snapshot, parks what the retention sweep needs, and drops the state.
func (w *worker) evict() {
	s := w.s
	c := w.state
	if c != nil {
		w.snapshot()
		var next time.Time
		for _, d := range c.due {
			if next.IsZero() || d.Before(next) {
				next = d
			}
		}
		w.state = nil
		s.mu.Lock()
		// Known unless the retention scan met events the state had not applied (another writer's).
		w.parked = parked{known: c.revision >= w.scanSeen, rev: c.revision, nextDue: next}
		w.resident = false
		s.residency.loaded--
		s.mu.Unlock()
	}
	s.mu.Lock()
	if w.evicting {
		w.evicting = false
		s.residency.evicting--
	}
	s.mu.Unlock()
}

// snapshot runs in w's loop: it saves the state when it has Options.SnapshotEvery events past the
// last snapshot.
func (w *worker) snapshot() {
	c := w.state
	if c == nil || c.revision-w.snapRev < int64(w.s.opts.SnapshotEvery) {
		return
	}
	if w.s.saveSnapshot(context.Background(), c) {
		w.snapRev = c.revision
	}
}

// EvictIdle evicts every loaded channel not used for idle or longer (by the Service's clock), as
// an eviction by Options.MaxLoadedChannels does, and returns how many it queued. It does not wait
// for them.
func (s *Service) EvictIdle(idle time.Duration) int {
	cutoff := s.now().Add(-idle)
	s.mu.Lock()
	var victims []*worker
	for _, w := range s.workers {
		if w.resident && !w.evicting && !w.usedAt.After(cutoff) {
			w.evicting = true
			s.residency.evicting++
			victims = append(victims, w)
		}
	}
	s.mu.Unlock()
	for _, v := range victims {
		s.submit(v, &request{control: (*worker).evict})
	}
	return len(victims)
}

// SaveSnapshots snapshots every loaded channel that has Options.SnapshotEvery events past its last
// snapshot (a server calls it at shutdown, so that its next start loads big channels fast), in
// their workers, and waits for them or for ctx.
func (s *Service) SaveSnapshots(ctx context.Context) error {
	if s.opts.Snapshots == nil {
		return nil
	}
	s.mu.Lock()
	var ws []*worker
	for _, w := range s.workers {
		if w.resident {
			ws = append(ws, w)
		}
	}
	s.mu.Unlock()
	for _, w := range ws {
		r := &request{control: (*worker).snapshot}
		s.submit(w, r)
		select {
		case <-r.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// LoadedChannels is how many channels have their state in memory.
func (s *Service) LoadedChannels() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.residency.loaded
}

// parkedNotDue reports whether w's channel is evicted and known to have no retention release due
// by now: the retention sweep skips it rather than load it. Called with Service.mu held.
func (w *worker) parkedNotDue(now time.Time) bool {
	return !w.resident && w.parked.known && (w.parked.nextDue.IsZero() || now.Before(w.parked.nextDue))
}

// sawEvent notes that the retention sweep's scan of the log (in log order, from the start) met ev
// in w's channel. A channel not in memory whose events the scan met one after the other from the
// first, or from where its evicted state stood, none of them a freeze with a retention deadline,
// has nothing due that it did not have: it stays known without being loaded. Any other event makes
// it unknown, to be loaded by the next sweep. A channel in memory sees the log itself; the highest
// revision the scan met is kept so that its eviction knows whether its state had seen it all.
func (s *Service) sawEvent(w *worker, ev *StoredEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rev := int64(ev.Revision)
	w.scanSeen = max(w.scanSeen, rev)
	if w.resident || (w.parked.known && rev <= w.parked.rev) {
		return
	}
	next := (w.parked.known && rev == w.parked.rev+1) || (!w.parked.known && rev == 0)
	if !next || mayBeDue(ev) {
		w.parked.known = false
		return
	}
	w.parked.known, w.parked.rev = true, rev
}

// mayBeDue reports whether ev may give its channel a retention release to make (rule 8): a freeze
// whose data has a retention deadline.
func mayBeDue(ev *StoredEvent) bool {
	return ev.Type == EventCustomerFrozen && bytes.Contains(ev.Data, []byte(`"retention_deadline"`))
}
