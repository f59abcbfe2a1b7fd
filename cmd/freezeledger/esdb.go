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
//
// log must be a logger of its own (Main.loggerTo): while Open connects it is switched off, since
// the client warns at every discovery attempt (some 40 lines in 5 s against a closed port) and
// Open's error already names the address and the last failure; afterwards it logs at its level.
func openESDB(ctx context.Context, conn string, log hclog.Logger) (eventstore.Store, error) {
	level := log.GetLevel()
	log.SetLevel(hclog.Off)
	s, err := esdb.Open(ctx, conn, esdb.Options{Logger: log})
	log.SetLevel(level)
	if err != nil {
		return nil, fmt.Errorf("open EventStoreDB: %w", err)
	}
	return s, nil
}
