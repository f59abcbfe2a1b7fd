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

// gated is a service over a gated PipelinedLog (each append waits for Release) on pipelineWorld
// with two customers, deciding one command per round (MaxGroup 1), so that a test orders rounds
// and appends exactly.
type gated struct {
	t   *testing.T
	mem *domaintest.MemoryLog
	pl  *domaintest.PipelinedLog
	svc *domain.Service
}

func newGated(t *testing.T) *gated {
	g := &gated{t: t, mem: domaintest.NewMemoryLog()}
	pipelineWorld(t, g.mem, 2)
	g.pl = domaintest.NewPipelinedLog(g.mem, true)
	t.Cleanup(g.pl.Close)
	g.svc = domain.NewService(g.pl, domain.Options{Clock: domaintest.NewClock(t0), MaxGroup: 1})
	return g
}

// run starts c; its outcome comes on the channel.
func (g *gated) run(c cmd) <-chan error {
	out := make(chan error, 1)
	go func() { _, err := c(context.Background(), g.svc); out <- err }()
	return out
}

// queued spins until n requests wait in dist-1's queue.
func (g *gated) queued(n int) {
	for domain.QueuedForTest(g.svc, domain.ChannelStream("dist-1")) < n {
		runtime.Gosched()
	}
}

// started waits for the next append to be started, failing the test if it never is.
func (g *gated) started(what string) {
	if !g.pl.Started(30 * time.Second) {
		g.t.Fatalf("%s never appended", what)
	}
}

// frozen checks each customer's state in a replay of the log.
func (g *gated) frozen(want map[string]bool) {
	replay := domain.NewService(g.mem, domain.Options{Clock: domaintest.NewClock(t0)})
	for id, w := range want {
		if cu, _, _, err := replay.Customer(context.Background(), id); err != nil || cu.Frozen != w {
			g.t.Fatalf("%s in a replay: frozen %v (%v), want %v", id, cu.Frozen, err, w)
		}
	}
}

// TestPipelineAnswersOnlyWhatIsDurable: on a PipelinedLog, a refusal decided while the append it
// rests on is in flight waits for it; when that append fails, the refused command is decided again
// on the state reloaded from the log, and succeeds.
func TestPipelineAnswersOnlyWhatIsDurable(t *testing.T) {
	g := newGated(t)
	first := g.run(unfreeze(op("dist-1"), "c-1", domain.FreezeAccount))
	g.started("the first unfreeze") // its append waits at the gate; the worker waits for it
	a := g.run(unfreeze(op("dist-1"), "c-0", domain.FreezeAccount))
	g.queued(1)
	b := g.run(unfreeze(op("dist-1"), "c-0", domain.FreezeAccount))
	g.queued(2)
	g.pl.Release(nil)
	if err := <-first; err != nil {
		t.Fatalf("first unfreeze: %v", err)
	}
	g.started("a") // a's append; b is decided (nothing to do: c-0 is unfrozen in the state ahead of the log)
	g.pl.Release(errInjected)
	if err := <-a; domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("the unfreeze whose append failed: %v, want unavailable", err)
	}
	g.started("b, decided again on the reloaded state,")
	g.pl.Release(nil)
	if err := <-b; err != nil {
		t.Fatalf("the unfreeze refused ahead of the failed append: %v, want it decided again and done", err)
	}
	g.frozen(map[string]bool{"c-0": false})
}

// TestPipelineDecidesAgainAfterAFailedAppend: a round started while the append before it is in
// flight expects that append's revision; when that append fails, the round's append fails too, and
// its command is decided again on the state reloaded from the log, and done.
func TestPipelineDecidesAgainAfterAFailedAppend(t *testing.T) {
	g := newGated(t)
	first := g.run(freeze(op("dist-1"), "c-1", domain.FreezeAccountAndResource))
	g.started("the first freeze")
	a := g.run(unfreeze(op("dist-1"), "c-0", domain.FreezeAccount))
	g.queued(1)
	d := g.run(unfreeze(op("dist-1"), "c-1", domain.FreezeAccountAndResource))
	g.queued(2)
	g.pl.Release(nil)
	if err := <-first; err != nil {
		t.Fatalf("first freeze: %v", err)
	}
	g.started("a")
	g.started("d, ahead of a's outcome,")
	g.pl.Release(errInjected) // a fails
	g.pl.Release(nil)         // d's first append: it expected a's revision
	if err := <-a; domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("the unfreeze whose append failed: %v, want unavailable", err)
	}
	g.started("d, decided again,")
	g.pl.Release(nil)
	if err := <-d; err != nil {
		t.Fatalf("the unfreeze started after the failed append: %v, want it decided again and done", err)
	}
	g.frozen(map[string]bool{"c-0": true, "c-1": false})
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
