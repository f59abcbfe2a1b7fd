package eventstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

func newLog(t *testing.T) domain.EventLog {
	t.Helper()
	s, err := embedded.Open(t.TempDir(), embedded.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return eventstore.DomainLog(s)
}

func ev(typ string) domain.NewEvent {
	return domain.NewEvent{ID: uuid.New(), Type: typ, Data: []byte(`{"v":1}`), Metadata: []byte(`{"m":1}`)}
}

func TestDomainLogAppendRead(t *testing.T) {
	ctx := context.Background()
	log := newLog(t)

	got, err := log.Read(ctx, "channel-missing", 0)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Read of a missing stream = %v, %v; want empty, nil", got, err)
	}

	a, err := log.Append(ctx, "channel-a", domain.ExpectNoStream, []domain.NewEvent{ev("t.one"), ev("t.two")})
	if err != nil {
		t.Fatal(err)
	}
	if a.Revision != 1 || a.Position != "2" {
		t.Fatalf("first append = %+v, want revision 1 at position 2", a)
	}
	if _, err := log.Append(ctx, "channel-a", 1, []domain.NewEvent{ev("t.three")}); err != nil {
		t.Fatalf("exact expectation 1: %v", err)
	}
	if _, err := log.Append(ctx, "channel-a", domain.ExpectAny, []domain.NewEvent{ev("t.four")}); err != nil {
		t.Fatalf("any: %v", err)
	}
	_, err = log.Append(ctx, "channel-a", 1, []domain.NewEvent{ev("t.five")})
	var werr *eventstore.WrongExpectedRevisionError
	if !errors.Is(err, domain.ErrWrongRevision) || !errors.As(err, &werr) || werr.Actual != 3 {
		t.Fatalf("stale exact expectation: %v; want domain.ErrWrongRevision carrying actual 3", err)
	}
	if _, err := log.Append(ctx, "channel-a", domain.ExpectNoStream, []domain.NewEvent{ev("t.six")}); !errors.Is(err, domain.ErrWrongRevision) {
		t.Fatalf("no-stream on an existing stream: %v; want domain.ErrWrongRevision", err)
	}
	if _, err := log.Append(ctx, "channel-a", -3, []domain.NewEvent{ev("t.seven")}); err == nil {
		t.Fatal("expected revision -3 accepted")
	}

	all, err := log.Read(ctx, "channel-a", 0)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{"t.one", "t.two", "t.three", "t.four"}
	if len(all) != len(wantTypes) {
		t.Fatalf("read %d events, want %d", len(all), len(wantTypes))
	}
	for i, e := range all {
		if e.Type != wantTypes[i] || e.Revision != uint64(i) || e.Stream != "channel-a" || string(e.Data) != `{"v":1}` || string(e.Metadata) != `{"m":1}` {
			t.Fatalf("event %d = %+v", i, e)
		}
		if p, err := eventstore.ParsePosition(e.Position); err != nil || p.Commit != uint64(i+1) {
			t.Fatalf("event %d position %q (%v)", i, e.Position, err)
		}
	}
	tail, err := log.Read(ctx, "channel-a", 3)
	if err != nil || len(tail) != 1 || tail[0].Type != "t.four" {
		t.Fatalf("Read from 3 = %+v, %v", tail, err)
	}
}

type unavailableStore struct{ eventstore.Store }

func (unavailableStore) Append(context.Context, string, eventstore.ExpectedRevision, ...eventstore.EventData) (eventstore.AppendResult, error) {
	return eventstore.AppendResult{}, errors.Join(eventstore.ErrUnavailable, errors.New("disk on fire"))
}

func TestDomainLogUnavailable(t *testing.T) {
	log := eventstore.DomainLog(unavailableStore{})
	_, err := log.Append(context.Background(), "channel-a", domain.ExpectAny, []domain.NewEvent{ev("t.one")})
	if !errors.Is(err, domain.ErrStoreUnavailable) || !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("err = %v; want domain.ErrStoreUnavailable wrapping eventstore.ErrUnavailable", err)
	}
}
