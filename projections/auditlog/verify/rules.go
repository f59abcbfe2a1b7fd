package verify

import (
	"bytes"
	"errors"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// HistoryValidator replays the domain's rules over a log in global order; *domain.HistoryValidator
// (domain.NewHistoryValidator) is one.
type HistoryValidator interface {
	// Check checks the next event; an error says why it was not permitted at its position.
	Check(domain.StoredEvent) error
	// Finish reports what can only be judged at the end of the log.
	Finish() error
}

// rebuildMetadata rebuilds the stored metadata of an export line: its metadata object with actor and
// time added back.
func rebuildMetadata(dst []byte, f leaf.Line) ([]byte, error) {
	meta := bytes.TrimSpace(f.Metadata)
	if !f.HasMetadata || len(meta) < 2 || meta[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	dst = append(dst, '{')
	if f.Actor != nil {
		dst = append(dst, `"actor":`...)
		dst = append(dst, f.Actor...)
		dst = append(dst, ',')
	}
	if f.RawTime != nil {
		dst = append(dst, `"time":`...)
		dst = append(dst, f.RawTime...)
		dst = append(dst, ',')
	}
	inner := bytes.TrimSpace(meta[1 : len(meta)-1])
	if len(inner) == 0 {
		dst = dst[:len(dst)-1]
		if len(dst) == 0 {
			dst = append(dst, '{')
		}
		return append(dst, '}'), nil
	}
	dst = append(dst, inner...)
	return append(dst, '}'), nil
}

// ruleReplayer runs the domain's history validator in its own goroutine, on batches of events, so
// that the rule replay overlaps the hashing. Problems it finds are returned by close.
type ruleReplayer struct {
	val      HistoryValidator
	max      int
	batches  chan *ruleBatch
	free     chan *ruleBatch
	done     chan struct{}
	cur      *ruleBatch
	problems []Problem
	closed   bool
}

type ruleBatch struct {
	items []ruleItem
	arena []byte // the items' data and metadata
}

type ruleItem struct {
	p                                  Problem
	ev                                 domain.StoredEvent
	dataOff, dataEnd, metaOff, metaEnd int
}

const ruleBatchSize = 256

func newRuleReplayer(val HistoryValidator, max int) *ruleReplayer {
	r := &ruleReplayer{val: val, max: max, batches: make(chan *ruleBatch, 4), free: make(chan *ruleBatch, 6), done: make(chan struct{})}
	go r.run()
	return r
}

func (r *ruleReplayer) run() {
	defer close(r.done)
	for b := range r.batches {
		for i := range b.items {
			it := &b.items[i]
			it.ev.Data = b.arena[it.dataOff:it.dataEnd:it.dataEnd]
			it.ev.Metadata = b.arena[it.metaOff:it.metaEnd:it.metaEnd]
			if err := r.val.Check(it.ev); err != nil && len(r.problems) < r.max {
				it.p.What = "not permitted at its position: " + err.Error()
				r.problems = append(r.problems, it.p)
			}
		}
		select {
		case r.free <- b:
		default:
		}
	}
	if err := r.val.Finish(); err != nil {
		r.problems = append(r.problems, Problem{What: "end of the export: " + err.Error()})
	}
}

// add queues the event of line f (with its rebuilt metadata) for the replay.
func (r *ruleReplayer) add(p Problem, f leaf.Line, meta []byte) {
	if r.cur == nil {
		select {
		case r.cur = <-r.free:
			r.cur.items, r.cur.arena = r.cur.items[:0], r.cur.arena[:0]
		default:
			r.cur = &ruleBatch{items: make([]ruleItem, 0, ruleBatchSize)}
		}
	}
	b := r.cur
	id, _ := uuid.Parse(f.EventID)
	it := ruleItem{p: p, ev: domain.StoredEvent{ID: id, Type: f.Type, Stream: f.Stream, Revision: f.Revision, Position: f.Position}}
	it.dataOff = len(b.arena)
	b.arena = append(b.arena, f.Data...)
	it.dataEnd = len(b.arena)
	it.metaOff = len(b.arena)
	b.arena = append(b.arena, meta...)
	it.metaEnd = len(b.arena)
	b.items = append(b.items, it)
	if len(b.items) == ruleBatchSize {
		r.batches <- b
		r.cur = nil
	}
}

// close replays what is queued, runs the validator's Finish and returns the problems found. It may
// be called more than once.
func (r *ruleReplayer) close() []Problem {
	if !r.closed {
		r.closed = true
		if r.cur != nil && len(r.cur.items) > 0 {
			r.batches <- r.cur
		}
		close(r.batches)
		<-r.done
	}
	return r.problems
}
