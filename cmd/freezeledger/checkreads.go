package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections"
)

func init() { CheckReadModels = checkReadModels }

// checkReadModels (for `freezeledger verify --data-dir`) compares the read models restored from
// dataDir's checkpoint and brought up to the store's head with read models rebuilt from the first
// event: every customer's status and every partner must be equal.
func checkReadModels(ctx context.Context, dataDir string, store eventstore.Store, out io.Writer) error {
	head, err := store.Head(ctx)
	if err != nil {
		return err
	}
	catchUp := func(dir string) (*projections.ReadModels, func(), error) {
		m, err := projections.Open(store, dir, projections.Options{})
		if err != nil {
			return nil, nil, err
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = m.Run(rctx) }()
		stop := func() { cancel(); <-done; _ = m.Close() }
		if err := m.WaitFor(ctx, head); err != nil {
			stop()
			return nil, nil, err
		}
		return m, stop, nil
	}
	live, stopLive, err := catchUp(ProjectionsDir(dataDir))
	if err != nil {
		return fmt.Errorf("read models from the checkpoint: %w", err)
	}
	defer stopLive()
	tmp, err := os.MkdirTemp("", "freezeledger-rebuild-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fresh, stopFresh, err := catchUp(tmp)
	if err != nil {
		return fmt.Errorf("read models rebuilt from the log: %w", err)
	}
	defer stopFresh()

	same := func(what string, a, b any) error {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			return fmt.Errorf("read models differ from a rebuild: %s:\n  checkpointed: %s\n  rebuilt:      %s", what, ja, jb)
		}
		return nil
	}
	customers, partners := 0, map[string]bool{}
	cursor := ""
	for {
		a, next, err := live.SearchCustomers(projections.SearchFilter{Limit: projections.MaxLimit, Cursor: cursor})
		if err != nil {
			return err
		}
		b, nextB, err := fresh.SearchCustomers(projections.SearchFilter{Limit: projections.MaxLimit, Cursor: cursor})
		if err != nil {
			return err
		}
		if err := same("customer page after cursor "+cursor, a, b); err != nil {
			return err
		}
		for _, c := range a {
			partners[c.PartnerID] = true
			if c.DistributorID != "" {
				partners[c.DistributorID] = true
			}
		}
		customers += len(a)
		if next == "" || next != nextB {
			break
		}
		cursor = next
	}
	for id := range partners {
		pa, errA := live.Partner(id, projections.AsOf{})
		pb, errB := fresh.Partner(id, projections.AsOf{})
		if err := same("partner "+id, []any{pa, fmt.Sprint(errA)}, []any{pb, fmt.Sprint(errB)}); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "read models: %d customers and %d partners equal to a rebuild from the log (%d events)\n",
		customers, len(partners), fresh.Events())
	return nil
}
