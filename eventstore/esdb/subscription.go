package esdb

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/eventstore"
)

// source is an open catch-up subscription to $all: *esdb.Subscription, plus what closing it
// releases. It is the seam where tests script drops and duplicates.
type source interface {
	// Recv blocks for the next event, checkpoint or drop. After a drop the source is dead.
	Recv() *esdb.SubscriptionEvent
	Close() error
}

// openFunc opens a source delivering $all strictly after a position. ctx bounds the opening only;
// the source lives until closed or until life ends.
type openFunc func(ctx, life context.Context, after eventstore.Position) (source, error)

// outBuffer is how many events a subscription holds for a slow reader; past it the subscription
// stops reading from the server (which buffers or falls back to catching up: writers never wait).
const outBuffer = 256

// maxBatch bounds the events one Next returns.
const maxBatch = 512

// subscription is an eventstore.Subscription over a resubscribing pump.
type subscription struct {
	life   context.Context // ends on Close or on the store's Close
	cancel context.CancelFunc
	open   openFunc
	opts   Options
	log    hclog.Logger
	sleep  func(ctx context.Context, d time.Duration) error
	retryN func(attempt int) time.Duration

	out    chan eventstore.RecordedEvent
	done   chan struct{} // closed when the pump has stopped; err is then set
	err    error
	closed chan struct{} // closed by Close
	once   sync.Once
}

// SubscribeAll delivers our events strictly after position a, catching up and then live. See
// eventstore.Store. The server filters system event types out; the subscription drops system
// streams and anything at or before the last position it received, so when the server drops it
// and it resubscribes from there, nothing is lost or repeated.
func (s *Store) SubscribeAll(ctx context.Context, a eventstore.Position) (eventstore.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, eventstore.ErrClosed
	}
	s.subs.Add(1) // under mu, so Close's Wait cannot start before it
	s.mu.Unlock()
	sub, err := startSubscription(ctx, s.life, a, s.openSource, s.opts, s.log, s.backoff)
	if err != nil {
		s.subs.Done()
		return nil, err
	}
	go func() {
		<-sub.done
		s.subs.Done()
	}()
	return sub, nil
}

// openSource subscribes to $all after position a on the current client, retrying transient
// failures. The gRPC stream belongs to life (ctx only bounds the call that opens it).
func (s *Store) openSource(ctx, life context.Context, a eventstore.Position) (source, error) {
	opts := esdb.SubscribeToAllOptions{From: toAllPosition(a), Filter: systemFilter()}
	src, err := retry(s, ctx, func(ctx context.Context, g *generation) (source, error) {
		streamCtx, cancelStream := context.WithCancel(life)
		stop := context.AfterFunc(ctx, cancelStream)
		sub, err := g.client.SubscribeToAll(streamCtx, opts)
		stop()
		if err != nil {
			cancelStream()
			return nil, err
		}
		s.hold(g)
		return &clientSource{sub: sub, cancel: cancelStream, release: func() { s.release(g) }}, nil
	}, func(src source) { _ = src.Close() })
	if err != nil {
		if sentinel := refusal(err); sentinel != nil {
			return nil, fmt.Errorf("esdb: subscribe to $all after %s: %w: %w", a, sentinel, err)
		}
		return nil, fmt.Errorf("esdb: subscribe to $all after %s: %w", a, err)
	}
	return src, nil
}

// clientSource is a client subscription holding its client generation.
type clientSource struct {
	sub     *esdb.Subscription
	cancel  context.CancelFunc
	release func()
	once    sync.Once
}

func (c *clientSource) Recv() *esdb.SubscriptionEvent { return c.sub.Recv() }

func (c *clientSource) Close() error {
	c.once.Do(func() {
		_ = c.sub.Close()
		c.cancel()
		c.release()
	})
	return nil
}

// startSubscription opens the first source (errors are returned to the caller) and starts the pump.
func startSubscription(ctx, storeLife context.Context, a eventstore.Position, open openFunc, opts Options, log hclog.Logger, backoff func(int) time.Duration) (*subscription, error) {
	life, cancel := context.WithCancel(storeLife)
	src, err := open(ctx, life, a)
	if err != nil {
		cancel()
		return nil, err
	}
	sub := &subscription{
		life: life, cancel: cancel, open: open, opts: opts, log: log, retryN: backoff,
		sleep:  func(ctx context.Context, d time.Duration) error { return sleep(ctx, ctx, d) },
		out:    make(chan eventstore.RecordedEvent, outBuffer),
		done:   make(chan struct{}),
		closed: make(chan struct{}),
	}
	go sub.pump(src, a)
	return sub, nil
}

// pump moves events from the source to out, resubscribing after drops. last is the position of
// the last event received (ours or not): everything up to it has been delivered or filtered.
func (sub *subscription) pump(src source, last eventstore.Position) {
	defer close(sub.done)
	var droppedAt time.Time // when the current run of failed resubscriptions began
	attempt := 0
	for {
		// Closing the source unblocks its Recv when the subscription or the store closes.
		stopClosing := context.AfterFunc(sub.life, func() { _ = src.Close() })
		healthy, err := sub.forward(src, &last)
		stopClosing()
		_ = src.Close()
		if sub.life.Err() != nil {
			sub.err = eventstore.ErrClosed
			return
		}
		if classify(err) == kindDenied || refusal(err) != nil {
			// Resubscribing cannot help: access denied, or a position the server refuses.
			if sentinel := refusal(err); sentinel != nil {
				err = fmt.Errorf("%w: %w", sentinel, err)
			}
			sub.err = fmt.Errorf("esdb: subscription to $all after %s refused: %w", last, err)
			return
		}
		if healthy || droppedAt.IsZero() {
			droppedAt, attempt = time.Now(), 0
		}
		sub.log.Warn("subscription to $all dropped; resubscribing", "after", last, "error", err)
		for {
			if time.Since(droppedAt) > sub.opts.ResubscribeWindow {
				sub.err = fmt.Errorf("esdb: subscription to $all after %s dropped and could not resubscribe within %s: %w: %w",
					last, sub.opts.ResubscribeWindow, eventstore.ErrUnavailable, err)
				return
			}
			if serr := sub.sleep(sub.life, sub.retryN(attempt)); serr != nil {
				sub.err = eventstore.ErrClosed
				return
			}
			attempt++
			src, err = sub.open(sub.life, sub.life, last)
			if err == nil {
				break
			}
			if sub.life.Err() != nil {
				sub.err = eventstore.ErrClosed
				return
			}
			sub.log.Warn("resubscribing to $all failed", "after", last, "error", err)
		}
	}
}

// forward reads src until it drops, sending our events after *last to out. healthy says the
// source delivered something or caught up, so a drop after it starts a new resubscribe window.
func (sub *subscription) forward(src source, last *eventstore.Position) (healthy bool, err error) {
	for {
		ev := src.Recv()
		switch {
		case ev == nil:
			return healthy, fmt.Errorf("esdb: subscription returned nothing")
		case ev.SubscriptionDropped != nil:
			return healthy, ev.SubscriptionDropped.Error
		case ev.CaughtUp != nil:
			healthy = true
		case ev.EventAppeared != nil:
			re := ev.EventAppeared.OriginalEvent()
			if re == nil {
				continue
			}
			p := fromPosition(re.Position)
			if !after(p, *last) {
				continue // already delivered before a resubscription, or at the start position
			}
			*last, healthy = p, true
			if isSystem(re) {
				continue
			}
			select {
			case sub.out <- fromRecorded(re):
			case <-sub.life.Done():
				return healthy, sub.life.Err()
			}
		}
	}
}

// Next returns the next events, at least one. See eventstore.Subscription.
func (sub *subscription) Next(ctx context.Context) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-sub.closed:
		return nil, eventstore.ErrClosed
	default:
	}
	select {
	case ev := <-sub.out:
		return sub.batch(ev), nil
	case <-sub.done:
		select {
		case ev := <-sub.out: // deliver what arrived before the pump stopped
			return sub.batch(ev), nil
		default:
		}
		return nil, sub.err
	case <-sub.closed:
		return nil, eventstore.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (sub *subscription) batch(first eventstore.RecordedEvent) []eventstore.RecordedEvent {
	evs := []eventstore.RecordedEvent{first}
	for len(evs) < maxBatch {
		select {
		case ev := <-sub.out:
			evs = append(evs, ev)
		default:
			return evs
		}
	}
	return evs
}

// Close ends the subscription and waits for its goroutine. A Next in progress returns ErrClosed.
func (sub *subscription) Close() error {
	sub.once.Do(func() {
		close(sub.closed)
		sub.cancel()
	})
	<-sub.done
	return nil
}
