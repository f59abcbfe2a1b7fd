package domain_test

import (
	"context"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// storeLog is the store seen through the domain's port, eventstore.DomainLog, with the optional
// GlobalReader and RangeReader it implements.
type storeLog interface {
	domain.EventLog
	domain.GlobalReader
	domain.RangeReader
}

func newStoreLog(s eventstore.Store) storeLog { return eventstore.DomainLog(s).(storeLog) }

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
