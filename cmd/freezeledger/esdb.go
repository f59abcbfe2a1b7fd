package main

import (
	"context"
	"errors"

	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/eventstore"
)

// openESDB opens the EventStoreDB backend (eventstore/esdb).
func openESDB(ctx context.Context, conn string, log hclog.Logger) (eventstore.Store, error) {
	return nil, errors.New("the EventStoreDB backend is not wired yet")
}
