package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/freezeledger/freezeledger/eventstore"
)

// CompareWithRebuild (for `freezeledger verify --data-dir`) compares the read models restored from
// the checkpoint in dir and brought up to the store's head with read models rebuilt from the first
// event (in a temporary directory, removed afterwards): every customer's status and every partner of
// those customers must be equal, compared as their JSON. It returns an error naming the first
// difference, with both values, or the error that kept either side from catching up; on success it
// writes one line saying what it compared to out. Catching up runs the read models over dir, so it
// may write a checkpoint there, as a running server would. The store is only read.
func CompareWithRebuild(ctx context.Context, store eventstore.Store, dir string, out io.Writer) error {
	head, err := store.Head(ctx)
	if err != nil {
		return err
	}
	catchUp := func(dir string) (*ReadModels, func(), error) {
		m, err := Open(store, dir, Options{})
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
	live, stopLive, err := catchUp(dir)
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
		a, next, err := live.SearchCustomers(SearchFilter{Limit: MaxLimit, Cursor: cursor})
		if err != nil {
			return err
		}
		b, nextB, err := fresh.SearchCustomers(SearchFilter{Limit: MaxLimit, Cursor: cursor})
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
		pa, errA := live.Partner(id, AsOf{})
		pb, errB := fresh.Partner(id, AsOf{})
		if err := same("partner "+id, []any{pa, fmt.Sprint(errA)}, []any{pb, fmt.Sprint(errB)}); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "read models: %d customers and %d partners equal to a rebuild from the log (%d events)\n",
		customers, len(partners), fresh.Events())
	return nil
}
