package main

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/esdb"
)

// openESDB opens the EventStoreDB (KurrentDB) backend for --store esdb://... The read-model
// checkpoints and the audit tree still live in --data-dir.
func openESDB(ctx context.Context, conn string, log hclog.Logger) (eventstore.Store, error) {
	s, err := esdb.Open(ctx, conn, esdb.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open EventStoreDB: %w", err)
	}
	return s, nil
}
