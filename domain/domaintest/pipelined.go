package domaintest

import (
	"context"
	"sync"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// PipelinedLog is a MemoryLog that is a domain.PipelinedLog too: started appends are applied in
// order by one goroutine, as the embedded store's committer does (MemoryLog.BeforeAppend still
// injects faults). With Gate set, each started append waits for Release before it is applied.
type PipelinedLog struct {
	*MemoryLog
	gate    bool
	queue   chan *pipelinedAppend
	release chan error
	started chan struct{}

	mu          sync.Mutex
	waiting     int // started and not applied
	maxInFlight int
	closeOnce   sync.Once
}

type pipelinedAppend struct {
	ctx      context.Context
	stream   string
	expected int64
	events   []domain.NewEvent
	app      domain.Appended
	err      error
	done     chan struct{}
}

// NewPipelinedLog returns a PipelinedLog over l; gated: each append waits for a Release. Close it
// when done.
func NewPipelinedLog(l *MemoryLog, gated bool) *PipelinedLog {
	p := &PipelinedLog{MemoryLog: l, gate: gated, queue: make(chan *pipelinedAppend, 1024),
		release: make(chan error), started: make(chan struct{}, 1024)}
	go p.run()
	return p
}

// StartAppend implements domain.PipelinedLog.
func (p *PipelinedLog) StartAppend(ctx context.Context, stream string, expected int64, events []domain.NewEvent) func() (domain.Appended, error) {
	a := &pipelinedAppend{ctx: ctx, stream: stream, expected: expected, events: events, done: make(chan struct{})}
	p.mu.Lock()
	p.waiting++
	p.maxInFlight = max(p.maxInFlight, p.waiting)
	p.mu.Unlock()
	p.queue <- a
	if p.gate {
		p.started <- struct{}{}
	}
	return func() (domain.Appended, error) {
		<-a.done
		return a.app, a.err
	}
}

func (p *PipelinedLog) run() {
	for a := range p.queue {
		var err error
		if p.gate {
			err = <-p.release
		}
		if err == nil {
			a.app, a.err = p.MemoryLog.Append(a.ctx, a.stream, a.expected, a.events)
		} else {
			a.err = err
		}
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
		close(a.done)
	}
}

// Started reports whether the next append (in start order) of a gated log is started within
// patience; false means it never came (a test fails instead of hanging).
func (p *PipelinedLog) Started(patience time.Duration) bool {
	select {
	case <-p.started:
		return true
	case <-time.After(patience):
		return false
	}
}

// Release lets the oldest waiting append of a gated log go: applied when err is nil, else failed
// with err, nothing written.
func (p *PipelinedLog) Release(err error) { p.release <- err }

// MaxInFlight is the most appends that were started and not yet applied at one time.
func (p *PipelinedLog) MaxInFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxInFlight
}

// Close stops the log's goroutine once the started appends are applied (a gated log's must have
// been released).
func (p *PipelinedLog) Close() { p.closeOnce.Do(func() { close(p.queue) }) }
