package domain_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
)

var errInjected = fmt.Errorf("%w: injected fault", domain.ErrStoreUnavailable)

// pipelineWorld is dist-1 with customers c-0 .. c-(n-1), all in one channel (frozen by
// association, rule 1), written through the plain log.
func pipelineWorld(t *testing.T, l *domaintest.MemoryLog, n int) {
	t.Helper()
	svc := domain.NewService(l, domain.Options{Clock: domaintest.NewClock(t0)})
	cmds := []cmd{reg(platform, "dist-1", domain.PartnerDistributor, "")}
	for i := range n {
		cmds = append(cmds, assoc(op("dist-1"), fmt.Sprintf("c-%d", i), "dist-1"))
	}
	for i, c := range cmds {
		if _, err := c(context.Background(), svc); err != nil {
			t.Fatalf("world %d: %v", i, err)
		}
	}
}

// TestPipelineAnswersOnlyWhatIsDurable: on a PipelinedLog, a refusal decided while the append it
// rests on is in flight waits for it; when that append fails, the refused command is decided again
// on the state reloaded from the log, and succeeds.
func TestPipelineAnswersOnlyWhatIsDurable(t *testing.T) {
	mem := domaintest.NewMemoryLog()
	pipelineWorld(t, mem, 2)
	pl := domaintest.NewPipelinedLog(mem, true)
	defer pl.Close()
	svc := domain.NewService(pl, domain.Options{Clock: domaintest.NewClock(t0), MaxGroup: 1})
	ctx := context.Background()
	stream := domain.ChannelStream("dist-1")
	run := func(c cmd) <-chan error {
		out := make(chan error, 1)
		go func() { _, err := c(ctx, svc); out <- err }()
		return out
	}
	queued := func(n int) { // spins until n requests wait in the channel's queue
		for domain.QueuedForTest(svc, stream) < n {
			runtime.Gosched()
		}
	}
	started := func(what string) {
		if !pl.Started(30 * time.Second) {
			t.Fatalf("%s never appended", what)
		}
	}
	first := run(unfreeze(op("dist-1"), "c-1", domain.FreezeAccount))
	started("the first unfreeze") // its append waits at the gate; the worker waits for it
	a := run(unfreeze(op("dist-1"), "c-0", domain.FreezeAccount))
	queued(1)
	b := run(unfreeze(op("dist-1"), "c-0", domain.FreezeAccount))
	queued(2)
	pl.Release(nil)
	if err := <-first; err != nil {
		t.Fatalf("first unfreeze: %v", err)
	}
	started("a") // a's append; b is decided (nothing to do: c-0 is unfrozen in the state ahead of the log)
	pl.Release(errInjected)
	if err := <-a; domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("the unfreeze whose append failed: %v, want unavailable", err)
	}
	started("b, decided again on the reloaded state,")
	pl.Release(nil)
	if err := <-b; err != nil {
		t.Fatalf("the unfreeze refused ahead of the failed append: %v, want it decided again and done", err)
	}
	cu, _, _, err := domain.NewService(mem, domain.Options{Clock: domaintest.NewClock(t0)}).Customer(ctx, "c-0")
	if err != nil || cu.Frozen {
		t.Fatalf("c-0 after a failed and a done unfreeze: %+v %v, want unfrozen", cu, err)
	}
}

// TestPipelineDecidesAgainAfterAFailedAppend: a round started while the append before it is in
// flight expects that append's revision; when that append fails, the round's append fails too, and
// its command is decided again on the state reloaded from the log, and done.
func TestPipelineDecidesAgainAfterAFailedAppend(t *testing.T) {
	mem := domaintest.NewMemoryLog()
	pipelineWorld(t, mem, 2)
	pl := domaintest.NewPipelinedLog(mem, true)
	defer pl.Close()
	svc := domain.NewService(pl, domain.Options{Clock: domaintest.NewClock(t0), MaxGroup: 1})
	ctx := context.Background()
	stream := domain.ChannelStream("dist-1")
	run := func(c cmd) <-chan error {
		out := make(chan error, 1)
		go func() { _, err := c(ctx, svc); out <- err }()
		return out
	}
	started := func(what string) {
		if !pl.Started(30 * time.Second) {
			t.Fatalf("%s never appended", what)
		}
	}
	first := run(freeze(op("dist-1"), "c-1", domain.FreezeAccountAndResource))
	started("the first freeze")
	a := run(unfreeze(op("dist-1"), "c-0", domain.FreezeAccount))
	for domain.QueuedForTest(svc, stream) < 1 {
		runtime.Gosched()
	}
	d := run(unfreeze(op("dist-1"), "c-1", domain.FreezeAccountAndResource))
	for domain.QueuedForTest(svc, stream) < 2 {
		runtime.Gosched()
	}
	pl.Release(nil)
	if err := <-first; err != nil {
		t.Fatalf("first freeze: %v", err)
	}
	started("a")
	started("d, ahead of a's outcome,")
	pl.Release(errInjected) // a fails
	pl.Release(nil)         // d's first append: it expected a's revision
	if err := <-a; domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("the unfreeze whose append failed: %v, want unavailable", err)
	}
	started("d, decided again,")
	pl.Release(nil)
	if err := <-d; err != nil {
		t.Fatalf("the unfreeze started after the failed append: %v, want it decided again and done", err)
	}
	replay := domain.NewService(mem, domain.Options{Clock: domaintest.NewClock(t0)})
	for id, want := range map[string]bool{"c-0": true, "c-1": false} {
		if cu, _, _, err := replay.Customer(ctx, id); err != nil || cu.Frozen != want {
			t.Fatalf("%s: frozen %v (%v), want %v", id, cu.Frozen, err, want)
		}
	}
}

// TestPipelineFailuresLoseNothing: many writers on one channel over a PipelinedLog that fails
// every seventh channel append. Every command answered done is in the log, every one answered
// unavailable is not, and each customer's state from a replay is the one its writer was told.
func TestPipelineFailuresLoseNothing(t *testing.T) {
	const writers, perWriter, ops = 16, 2, 60
	mem := domaintest.NewMemoryLog()
	pipelineWorld(t, mem, writers*perWriter)
	var appends atomic.Int64
	mem.BeforeAppend = func(stream string, _ []domain.NewEvent) error {
		if stream == domain.ChannelStream("dist-1") && appends.Add(1)%7 == 0 {
			return errInjected
		}
		return nil
	}
	pl := domaintest.NewPipelinedLog(mem, false)
	defer pl.Close()
	svc := domain.NewService(pl, domain.Options{Clock: domaintest.NewClock(t0)})
	ctx := context.Background()
	frozen := make([]map[string]bool, writers)
	var done, failed atomic.Int64
	var wg sync.WaitGroup
	for g := range writers {
		frozen[g] = map[string]bool{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ids []string
			for k := range perWriter {
				id := fmt.Sprintf("c-%d", g*perWriter+k)
				ids, frozen[g][id] = append(ids, id), true
			}
			for i := range ops {
				id := ids[i%len(ids)]
				c := unfreeze(op("dist-1"), id, domain.FreezeAccount)
				if !frozen[g][id] {
					c = freeze(op("dist-1"), id, domain.FreezeAccount)
				}
				res, err := c(ctx, svc)
				switch {
				case err == nil:
					if len(res.Events) != 1 {
						t.Errorf("%s: done with %d events", id, len(res.Events))
					}
					frozen[g][id] = !frozen[g][id]
					done.Add(1)
				case domain.ErrorCode(err) == domain.CodeUnavailable:
					failed.Add(1)
				default:
					t.Errorf("%s: %v", id, err)
				}
			}
		}()
	}
	wg.Wait()
	if done.Load() == 0 || failed.Load() == 0 || pl.MaxInFlight() < 2 {
		t.Fatalf("done %d, unavailable %d, most appends in flight %d: the pipeline and its failures were not exercised", done.Load(), failed.Load(), pl.MaxInFlight())
	}
	mem.BeforeAppend = nil
	replay := domain.NewService(mem, domain.Options{Clock: domaintest.NewClock(t0)})
	for g := range writers {
		for id, want := range frozen[g] {
			cu, _, _, err := replay.Customer(ctx, id)
			if err != nil || cu.Frozen != want {
				t.Errorf("%s after a replay: frozen %v (%v), its writer was told %v", id, cu.Frozen, err, want)
			}
		}
	}
	t.Logf("%d done, %d unavailable, at most %d appends in flight", done.Load(), failed.Load(), pl.MaxInFlight())
}
