package domain_test

import (
	"context"
	"errors"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// storeLog is eventstore.DomainLog plus domain.GlobalReader and domain.RangeReader over the same store.
type storeLog struct {
	domain.EventLog
	s eventstore.Store
}

func newStoreLog(s eventstore.Store) storeLog {
	return storeLog{EventLog: eventstore.DomainLog(s), s: s}
}

func (l storeLog) ReadAll(ctx context.Context, after string, count int) ([]domain.StoredEvent, error) {
	pos := eventstore.Start
	if after != "" {
		p, err := eventstore.ParsePosition(after)
		if err != nil {
			return nil, err
		}
		pos = p
	}
	recs, err := l.s.ReadAll(ctx, pos, count)
	if err != nil {
		return nil, err
	}
	out := make([]domain.StoredEvent, len(recs))
	for i, r := range recs {
		out[i] = domain.StoredEvent{ID: r.ID, Type: r.Type, Stream: r.Stream, Revision: r.Revision, Position: r.Position.String(), Data: r.Data, Metadata: r.Metadata}
	}
	return out, nil
}

func (l storeLog) ReadRange(ctx context.Context, stream string, from uint64, count int) ([]domain.StoredEvent, error) {
	recs, err := l.s.ReadStream(ctx, stream, eventstore.Forwards, from, count)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return []domain.StoredEvent{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]domain.StoredEvent, len(recs))
	for i, r := range recs {
		out[i] = domain.StoredEvent{ID: r.ID, Type: r.Type, Stream: r.Stream, Revision: r.Revision, Position: r.Position.String(), Data: r.Data, Metadata: r.Metadata}
	}
	return out, nil
}

// openStore opens an embedded store in a temporary directory, closed when the test ends.
func openStore(tb testing.TB, durable bool) (*embedded.Store, storeLog) {
	tb.Helper()
	s, err := embedded.Open(tb.TempDir(), embedded.Options{UnsafeNoSync: !durable})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s, newStoreLog(s)
}

// readAll returns the whole log in global order.
func readAll(tb testing.TB, l storeLog) []domain.StoredEvent {
	tb.Helper()
	evs, err := l.ReadAll(context.Background(), "", 0)
	if err != nil {
		tb.Fatal(err)
	}
	return evs
}
