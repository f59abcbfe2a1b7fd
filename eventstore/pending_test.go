package eventstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// calls makes one call of every method of s but Close, each returning its error.
func calls(s eventstore.Store) map[string]func(ctx context.Context) error {
	return map[string]func(ctx context.Context) error{
		"Append": func(ctx context.Context) error {
			_, err := s.Append(ctx, "pending-1", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "t.happened", Data: []byte(`{}`)})
			return err
		},
		"ReadStream": func(ctx context.Context) error {
			_, err := s.ReadStream(ctx, "pending-0", eventstore.Forwards, 0, 0)
			return err
		},
		"ReadAll": func(ctx context.Context) error { _, err := s.ReadAll(ctx, eventstore.Start, 0); return err },
		"SubscribeAll": func(ctx context.Context) error {
			sub, err := s.SubscribeAll(ctx, eventstore.Start)
			if err == nil {
				sub.Close()
			}
			return err
		},
		"Head": func(ctx context.Context) error { _, err := s.Head(ctx); return err },
	}
}

// Calls made before Set wait for it and then reach the store given to Set.
func TestPendingWaitsForSet(t *testing.T) {
	store, err := embedded.Open(t.TempDir(), embedded.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Append(context.Background(), "pending-0", eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: "t.happened", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	p := eventstore.NewPending()
	type result struct {
		name string
		err  error
	}
	results := make(chan result)
	for name, call := range calls(p) {
		go func() { results <- result{name, call(context.Background())} }()
	}
	select {
	case r := <-results:
		t.Fatalf("%s returned before Set: %v", r.name, r.err)
	default:
	}
	p.Set(store, nil)
	for range calls(p) {
		if r := <-results; r.err != nil {
			t.Errorf("%s after Set: %v", r.name, r.err)
		}
	}
	head, err := p.Head(context.Background())
	if err != nil || head.Commit != 2 {
		t.Fatalf("Head through Pending = %v, %v, want the store's 2 events (Append went through)", head, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Head(context.Background()); err != nil {
		t.Fatalf("Pending.Close closed the store: %v", err)
	}
}

// A store that failed to open makes every call fail, unavailable and saying why, also calls that
// were waiting.
func TestPendingSetErrorFailsEveryCall(t *testing.T) {
	p := eventstore.NewPending()
	waiting := make(chan error)
	go func() { _, err := p.Head(context.Background()); waiting <- err }()
	p.Set(nil, errors.New("store locked by pid 42"))
	if err := <-waiting; !errors.Is(err, eventstore.ErrUnavailable) || !strings.Contains(err.Error(), "store locked by pid 42") {
		t.Errorf("waiting Head: %v, want ErrUnavailable naming the cause", err)
	}
	for name, call := range calls(p) {
		if err := call(context.Background()); !errors.Is(err, eventstore.ErrUnavailable) || !strings.Contains(err.Error(), "store locked by pid 42") {
			t.Errorf("%s: %v, want ErrUnavailable naming the cause", name, err)
		}
	}
}

// A call waiting for Set returns its ctx's error when ctx is done, and Set afterwards still works.
func TestPendingCallsEndWithTheirContext(t *testing.T) {
	p := eventstore.NewPending()
	for name, call := range calls(p) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- call(ctx) }()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("%s with its ctx cancelled while waiting: %v, want context.Canceled", name, err)
		}
	}
	store, err := embedded.Open(t.TempDir(), embedded.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p.Set(store, nil)
	if _, err := p.Head(context.Background()); err != nil {
		t.Fatalf("Head after Set: %v", err)
	}
}
