package domain_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
)

// idemHeap is what a Service's remembered idempotency keys cost: keyed freezes and unfreezes
// (n in all, one event and one key each) by 64 clients in one channel on the in-memory log, then the
// heap the live service holds (live) and a restarted service that loaded the channel holds (loaded),
// each divided by n. Both figures include the channel's small fixed state (64 customers).
func idemHeap(tb testing.TB, l domain.EventLog, n int) (live, loaded float64) {
	tb.Helper()
	const clients = 64
	ctx := context.Background()
	svc := domain.NewService(l, domain.Options{})
	dist := op("dist-m")
	if _, err := reg(platform, "dist-m", domain.PartnerDistributor, "")(ctx, svc); err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < clients; i++ {
		if _, err := assoc(dist, fmt.Sprintf("c-m%d", i), "dist-m")(ctx, svc); err != nil {
			tb.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for k := 0; k < clients; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c-m%d", k)
			for i := k; i < n; i += clients {
				m := domain.Meta{Actor: dist, RequestID: uuid.NewString(), IdempotencyKey: uuid.NewString()}
				var err error
				if (i/clients)%2 == 0 { // customers start frozen (rule 1)
					_, err = svc.UnfreezeCustomer(ctx, domain.UnfreezeCustomer{Meta: m, CustomerID: id, Reason: "paid", UnfreezeType: acct})
				} else {
					_, err = svc.FreezeCustomer(ctx, domain.FreezeCustomer{Meta: m, CustomerID: id, Reason: "overdue invoice", FreezeType: acct})
				}
				if err != nil {
					tb.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
	heap := func() float64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc)
	}
	withLive := heap()
	runtime.KeepAlive(svc)
	svc = nil
	logOnly := heap()
	svc = domain.NewService(l, domain.Options{})
	if err := svc.QueryChannel(ctx, domain.ChannelStream("dist-m"), func(c *domain.Channel) {
		if got := c.Revision() + 1; got != int64(1+2*clients+n) {
			tb.Errorf("loaded %d events, want %d", got, 1+2*clients+n)
		}
	}); err != nil {
		tb.Fatal(err)
	}
	withLoaded := heap()
	runtime.KeepAlive(svc)
	runtime.KeepAlive(l)
	return (withLive - logOnly) / float64(n), (withLoaded - logOnly) / float64(n)
}

// BenchmarkIdempotencyKeyHeap reports the heap each remembered idempotency key costs (see idemHeap);
// one iteration is 100,000 keyed commands, on the in-memory log (mem: the stored events' data and
// metadata are shared with the log, so not counted) and on the embedded store (store, unsynced).
func BenchmarkIdempotencyKeyHeap(b *testing.B) {
	for _, name := range []string{"mem", "store"} {
		b.Run(name, func(b *testing.B) {
			var live, loaded float64
			for i := 0; i < b.N; i++ {
				var l domain.EventLog = domaintest.NewMemoryLog()
				if name == "store" {
					_, l = openStore(b, false)
				}
				live, loaded = idemHeap(b, l, 100_000)
			}
			b.ReportMetric(live, "B/key-live")
			b.ReportMetric(loaded, "B/key-loaded")
		})
	}
}

// TestIdempotencyKeyHeap: a remembered key costs a small fixed amount (about 75 bytes; it was about
// 680 bytes on the embedded store, 290 on the in-memory log, while the full events were kept), in
// the running service and after a restart. The bound leaves room for map growth and noise.
func TestIdempotencyKeyHeap(t *testing.T) {
	live, loaded := idemHeap(t, domaintest.NewMemoryLog(), 20_000)
	t.Logf("%.1f B/key live, %.1f B/key loaded", live, loaded)
	if live > 160 || loaded > 160 {
		t.Fatalf("a remembered idempotency key costs %.1f bytes (live) and %.1f (loaded): want at most 160", live, loaded)
	}
}
