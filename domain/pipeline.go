package domain

// The append pipeline of a channel on a PipelinedLog: the worker starts a round's append and
// decides the next round while it is being made durable, instead of waiting for it. The channel's
// state runs ahead of the log by at most the round in flight; a request is answered only once its
// own append is durable, and a round that appends nothing waits for the round in flight before it
// answers (its answers may rest on it). If a round's append fails, the state is dropped (reloaded
// from the log by the next round) and the round started after it, which expected the revision the
// failed one would have made and so fails too, is decided again.

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// inflight is a round whose append was started and is not yet known to be durable.
type inflight struct {
	reqs []*request
	em   *emitter
	base int64 // the channel's revision before the round (ExpectNoStream for a new stream)
	wait func() (Appended, error)
}

// pipeline starts the append of a decided round (reqs, em) that expected revision expected, moves
// the state on as if it succeeded, then ends the round before it, if any.
func (w *worker) pipeline(plog PipelinedLog, reqs []*request, em *emitter, expected int64) {
	cur := &inflight{reqs: reqs, em: em, base: expected}
	cur.wait = plog.StartAppend(context.Background(), w.stream, expected, em.events)
	w.state.commit() // its revision is the round's last event's already (apply counts); its position is set at the ack
	prev := w.inflight
	w.inflight = cur
	if prev != nil {
		w.complete(prev) // on failure, cur (which expected prev's revision) is decided again
	}
}

// drain ends the round in flight, if any; false when its append failed (the state is then dropped).
func (w *worker) drain() bool {
	p := w.inflight
	if p == nil {
		return true
	}
	w.inflight = nil
	return w.complete(p)
}

// complete waits for p's append and ends its requests. When the append failed, the state is
// dropped, and a round started after p (w.inflight) is waited for too: its requests, had its
// append failed (as it must, having expected p's revision), are queued again at the front, to be
// decided on the state reloaded from the log.
func (w *worker) complete(p *inflight) bool {
	app, err := p.wait()
	if err == nil {
		stored := w.stored(context.Background(), p.em, app)
		if w.state != nil {
			w.state.position = app.Position
			finish(w.state, p.reqs, stored)
		}
		closeAll(p.reqs)
		return true
	}
	failAll(p.reqs, appendFailure(w.stream, p.base, err))
	closeAll(p.reqs)
	w.state = nil
	next := w.inflight
	w.inflight = nil
	if next == nil {
		return false
	}
	app, nerr := next.wait()
	var again []*request
	if nerr == nil { // not expected: the log took it after all
		w.stored(context.Background(), next.em, app)
	}
	for _, r := range next.reqs {
		switch {
		case nerr == nil && !r.replay:
			r.position = app.Position // its events, if any, are durable
			close(r.done)
		case nerr == nil, r.retried < w.s.opts.MaxRetries:
			r.retried++
			again = append(again, r) // a replay is found again in the reloaded state
		default:
			r.err = appendFailure(w.stream, next.base, nerr)
			close(r.done)
		}
	}
	w.requeue(again)
	return false
}

// requeue puts reqs back at the front of the queue, in order, to be decided again.
func (w *worker) requeue(reqs []*request) {
	if len(reqs) == 0 {
		return
	}
	w.mu.Lock()
	w.queue = append(slices.Clone(reqs), w.queue...)
	w.mu.Unlock()
}

// appendFailure is the error of the requests of a round whose append to stream at revision base
// failed with err: unavailable when the store cannot take writes, or a write raced this one.
func appendFailure(stream string, base int64, err error) error {
	if errors.Is(err, ErrStoreUnavailable) || errors.Is(err, ErrWrongRevision) {
		return &Error{Code: CodeUnavailable, Message: fmt.Sprintf("appending to %s at revision %d: %v", stream, base, err)}
	}
	return fmt.Errorf("appending to %s at revision %d: %w", stream, base, err)
}
