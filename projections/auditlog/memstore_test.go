package auditlog

import (
	"context"
	"sync"
	"time"

	"github.com/freezeledger/freezeledger/eventstore"
)

// memStore is a minimal in-memory eventstore.Store for the tree's tests: positions are 1-based
// sequence numbers, as in the embedded store. Expectations are not checked.
type memStore struct {
	mu      sync.Mutex
	events  []eventstore.RecordedEvent
	revs    map[string]uint64
	streams map[string][]int // stream -> its events' offsets in events, by revision
	changed chan struct{}
}

func newMemStore() *memStore {
	return &memStore{revs: map[string]uint64{}, streams: map[string][]int{}, changed: make(chan struct{})}
}

func (s *memStore) Append(_ context.Context, stream string, _ eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res eventstore.AppendResult
	for _, e := range events {
		rev, ok := s.revs[stream]
		if ok {
			rev++
		}
		s.revs[stream] = rev
		pos := uint64(len(s.events) + 1)
		s.streams[stream] = append(s.streams[stream], len(s.events))
		s.events = append(s.events, eventstore.RecordedEvent{ID: e.ID, Type: e.Type, Stream: stream, Revision: rev,
			Position: eventstore.Position{Commit: pos, Prepare: pos}, Created: time.Now().UTC(), Data: e.Data, Metadata: e.Metadata})
		res = eventstore.AppendResult{NextRevision: rev, Position: eventstore.Position{Commit: pos, Prepare: pos}}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return res, nil
}

// ReadStream reads forwards only (what the scoped bundle needs).
func (s *memStore) ReadStream(_ context.Context, stream string, dir eventstore.Direction, from uint64, count int) ([]eventstore.RecordedEvent, error) {
	if dir != eventstore.Forwards {
		panic("not used")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.revs[stream]; !ok {
		return nil, eventstore.ErrStreamNotFound
	}
	offs := s.streams[stream]
	if from >= uint64(len(offs)) {
		return nil, nil
	}
	offs = offs[from:]
	if count > 0 && len(offs) > count {
		offs = offs[:count]
	}
	out := make([]eventstore.RecordedEvent, len(offs))
	for i, o := range offs {
		out[i] = s.events[o]
	}
	return out, nil
}

func (s *memStore) ReadAll(_ context.Context, after eventstore.Position, count int) ([]eventstore.RecordedEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := int(after.Commit)
	if from > len(s.events) {
		return nil, nil
	}
	end := len(s.events)
	if count > 0 && from+count < end {
		end = from + count
	}
	return append([]eventstore.RecordedEvent(nil), s.events[from:end]...), nil
}

func (s *memStore) SubscribeAll(_ context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	return &memSub{s: s, after: after}, nil
}

func (s *memStore) Head(context.Context) (eventstore.Position, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := uint64(len(s.events))
	return eventstore.Position{Commit: n, Prepare: n}, nil
}

func (s *memStore) Close() error { return nil }

// set replaces event i (0-based) in place: tampering with the store under the tree.
func (s *memStore) set(i int, ev eventstore.RecordedEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[i] = ev
}

type memSub struct {
	s     *memStore
	after eventstore.Position
}

func (m *memSub) Next(ctx context.Context) ([]eventstore.RecordedEvent, error) {
	for {
		m.s.mu.Lock()
		changed := m.s.changed
		m.s.mu.Unlock()
		evs, _ := m.s.ReadAll(ctx, m.after, 500)
		if len(evs) > 0 {
			m.after = evs[len(evs)-1].Position
			return evs, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

func (m *memSub) Close() error { return nil }
