package embedded

import (
	"context"
	"sync"

	"github.com/freezeledger/freezeledger/eventstore"
)

// recentCapacity is how many recently committed events are kept in memory for live subscribers;
// a subscriber further behind reads from the store instead.
const recentCapacity = 8192

// subscriptionBatch bounds the events one Next returns.
const subscriptionBatch = 1024

// recentEvents is the in-memory tail of the log that the committer publishes after each commit,
// and the wake-up signal of waiting subscribers.
type recentEvents struct {
	mu     sync.RWMutex
	events []eventstore.RecordedEvent // events[i] is at position first+i
	first  uint64
	wake   chan struct{} // closed and replaced at each publish
}

func (r *recentEvents) init(head uint64) {
	r.first = head + 1
	r.wake = make(chan struct{})
}

func (r *recentEvents) publish(evs []eventstore.RecordedEvent) {
	r.mu.Lock()
	if len(r.events)+len(evs) > 2*recentCapacity {
		keep := max(0, recentCapacity-len(evs))
		drop := len(r.events) - min(keep, len(r.events))
		r.events = append([]eventstore.RecordedEvent(nil), r.events[drop:]...)
		r.first += uint64(drop)
	}
	r.events = append(r.events, evs...)
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
}

// after returns up to max events after position pos if the tail holds pos+1 (ok false otherwise),
// and the channel that will be closed at the next publish.
func (r *recentEvents) after(pos uint64, max int) (evs []eventstore.RecordedEvent, ok bool, wake <-chan struct{}) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	wake = r.wake
	if pos+1 < r.first {
		return nil, false, wake
	}
	i := pos + 1 - r.first
	if i >= uint64(len(r.events)) {
		return nil, true, wake
	}
	end := min(uint64(len(r.events)), i+uint64(max))
	return append([]eventstore.RecordedEvent(nil), r.events[i:end]...), true, wake
}

// SubscribeAll implements eventstore.Store. The subscription runs no goroutine: Next serves events
// from the in-memory tail of recent commits when it holds them and reads the store otherwise, so a
// slow subscriber never holds up a writer. Events' Data and Metadata may be shared with other
// subscribers: do not modify them.
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	if err := checkPosition(after); err != nil {
		return nil, err
	}
	return &subscription{s: s, pos: after.Commit, closed: make(chan struct{})}, nil
}

type subscription struct {
	s      *Store
	mu     sync.Mutex // one Next at a time
	pos    uint64
	closed chan struct{}
	once   sync.Once
}

func (sub *subscription) Next(ctx context.Context) ([]eventstore.RecordedEvent, error) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for {
		select {
		case <-sub.closed:
			return nil, eventstore.ErrClosed
		case <-sub.s.closed:
			return nil, eventstore.ErrClosed
		default:
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		evs, inTail, wake := sub.s.recent.after(sub.pos, subscriptionBatch)
		if !inTail {
			var err error
			evs, err = sub.s.readAll(ctx, sub.pos, subscriptionBatch)
			if err != nil {
				return nil, err
			}
		}
		if len(evs) > 0 {
			sub.pos = evs[len(evs)-1].Position.Commit
			return evs, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-sub.closed:
			return nil, eventstore.ErrClosed
		case <-sub.s.closed:
			return nil, eventstore.ErrClosed
		}
	}
}

func (sub *subscription) Close() error {
	sub.once.Do(func() { close(sub.closed) })
	return nil
}
