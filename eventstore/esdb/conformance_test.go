package esdb

import (
	"context"
	"os"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/storetest"
)

// urlEnv names the live server the conformance suite runs against.
const urlEnv = "FREEZELEDGER_ESDB_URL"

// TestConformance runs the store contract's suite against a live EventStoreDB, for example:
//
//	docker run --rm -d -p 2113:2113 eventstore/eventstore:24.10 --insecure --mem-db --run-projections=None
//	FREEZELEDGER_ESDB_URL='esdb://127.0.0.1:2113?tls=false' go test -race -run Conformance ./eventstore/esdb/
//
// The server is shared (Factory.Shared): the suite uses unique stream names and relative positions.
func TestConformance(t *testing.T) {
	url := os.Getenv(urlEnv)
	if url == "" {
		t.Skip(urlEnv + " is not set: the conformance suite needs a live EventStoreDB, e.g. one started with --insecure --mem-db and " +
			urlEnv + "=esdb://127.0.0.1:2113?tls=false")
	}
	open := func(t *testing.T) eventstore.Store {
		t.Helper()
		logger := hclog.New(&hclog.LoggerOptions{Name: t.Name(), Output: os.Stderr, Level: hclog.Warn})
		s, err := Open(context.Background(), url, Options{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	storetest.Run(t, storetest.Factory{
		New: open,
		Reopen: func(t *testing.T, s eventstore.Store) eventstore.Store {
			t.Helper()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t)
		},
		Shared: true,
	})
}
