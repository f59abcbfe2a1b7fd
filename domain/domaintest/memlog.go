// Package domaintest holds test doubles for the domain's ports: an in-memory EventLog with fault
// injection, and a settable clock.
package domaintest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// MemoryLog is an in-memory domain.EventLog and domain.GlobalReader. Positions are 1-based decimal
// sequence numbers. It is safe for concurrent use.
type MemoryLog struct {
	mu      sync.Mutex
	all     []domain.StoredEvent
	streams map[string][]int // stream -> indexes into all

	// BeforeAppend, if set, is called before every append; a non-nil error fails the append
	// (nothing is written). Use it to inject store faults or concurrent writes.
	BeforeAppend func(stream string, events []domain.NewEvent) error
	appends      int
}

// NewMemoryLog returns an empty log.
func NewMemoryLog() *MemoryLog { return &MemoryLog{streams: map[string][]int{}} }

// Append implements domain.EventLog.
func (l *MemoryLog) Append(ctx context.Context, stream string, expected int64, events []domain.NewEvent) (domain.Appended, error) {
	if err := ctx.Err(); err != nil {
		return domain.Appended{}, err
	}
	if l.BeforeAppend != nil {
		if err := l.BeforeAppend(stream, events); err != nil {
			return domain.Appended{}, err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := int64(len(l.streams[stream])) - 1
	switch {
	case expected == domain.ExpectAny:
	case expected == domain.ExpectNoStream && cur == -1:
	case expected >= 0 && expected == cur:
	default:
		return domain.Appended{}, fmt.Errorf("%w: stream %q expected %d, actual %d", domain.ErrWrongRevision, stream, expected, cur)
	}
	if len(events) == 0 {
		return domain.Appended{Revision: uint64(max(cur, 0))}, nil
	}
	l.appends++
	for _, e := range events {
		cur++
		l.all = append(l.all, domain.StoredEvent{
			ID: e.ID, Type: e.Type, Stream: stream, Revision: uint64(cur),
			Position: strconv.Itoa(len(l.all) + 1), Data: e.Data, Metadata: e.Metadata,
		})
		l.streams[stream] = append(l.streams[stream], len(l.all)-1)
	}
	return domain.Appended{Revision: uint64(cur), Position: strconv.Itoa(len(l.all))}, nil
}

// Read implements domain.EventLog.
func (l *MemoryLog) Read(ctx context.Context, stream string, from uint64) ([]domain.StoredEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := l.streams[stream]
	out := []domain.StoredEvent{}
	for i := int(min(from, uint64(len(idx)))); i < len(idx); i++ {
		out = append(out, l.all[idx[i]])
	}
	return out, nil
}

// ReadAll implements domain.GlobalReader.
func (l *MemoryLog) ReadAll(ctx context.Context, after string, count int) ([]domain.StoredEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := 0
	if after != "" {
		n, err := strconv.Atoi(after)
		if err != nil {
			return nil, fmt.Errorf("position %q: %w", after, err)
		}
		start = n
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if start > len(l.all) {
		start = len(l.all)
	}
	end := len(l.all)
	if count > 0 && start+count < end {
		end = start + count
	}
	return append([]domain.StoredEvent(nil), l.all[start:end]...), nil
}

// All returns every event in global order.
func (l *MemoryLog) All() []domain.StoredEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]domain.StoredEvent(nil), l.all...)
}

// Appends is how many non-empty appends succeeded.
func (l *MemoryLog) Appends() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appends
}

// Clock is a settable domain.Clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t.UTC()} }

// Now implements domain.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t (forwards or backwards).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t.UTC()
	c.mu.Unlock()
}
