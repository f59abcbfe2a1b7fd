package eventstore

import (
	"context"
	"fmt"
)

// Pending is a store that is still being opened: a future of a Store. Code that holds a store (the
// read models, the audit tree) can be opened over it while the real store is opened and verified;
// each method waits until Set is called, or until its ctx is done (then it returns ctx's error), and
// then calls the store given to Set. If Set was given an error, every method returns an error wrapping
// ErrUnavailable that says the store did not open and why. Close does nothing: the store is closed
// by whoever opened it. Safe for concurrent use.
type Pending struct {
	ready chan struct{} // closed once store or err is set
	store Store
	err   error
}

// NewPending returns a Pending store whose methods wait for Set.
func NewPending() *Pending { return &Pending{ready: make(chan struct{})} }

// Set gives the opened store, or the error that kept it from opening, and releases every call waiting
// and every call to come. Call it exactly once.
func (r *Pending) Set(s Store, err error) {
	r.store, r.err = s, err
	close(r.ready)
}

func (r *Pending) get(ctx context.Context) (Store, error) {
	select {
	case <-r.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: the event store did not open: %v", ErrUnavailable, r.err)
	}
	return r.store, nil
}

// Append is the store's Append, once Set.
func (r *Pending) Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error) {
	s, err := r.get(ctx)
	if err != nil {
		return AppendResult{}, err
	}
	return s.Append(ctx, stream, expected, events...)
}

// ReadStream is the store's ReadStream, once Set.
func (r *Pending) ReadStream(ctx context.Context, stream string, dir Direction, from uint64, count int) ([]RecordedEvent, error) {
	s, err := r.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.ReadStream(ctx, stream, dir, from, count)
}

// ReadAll is the store's ReadAll, once Set.
func (r *Pending) ReadAll(ctx context.Context, after Position, count int) ([]RecordedEvent, error) {
	s, err := r.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.ReadAll(ctx, after, count)
}

// SubscribeAll is the store's SubscribeAll, once Set.
func (r *Pending) SubscribeAll(ctx context.Context, after Position) (Subscription, error) {
	s, err := r.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.SubscribeAll(ctx, after)
}

// Head is the store's Head, once Set.
func (r *Pending) Head(ctx context.Context) (Position, error) {
	s, err := r.get(ctx)
	if err != nil {
		return Position{}, err
	}
	return s.Head(ctx)
}

// Close does nothing: the store is closed by whoever opened it.
func (r *Pending) Close() error { return nil }
