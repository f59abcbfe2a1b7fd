package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// BenchmarkChangeFanout: a distributor with 100,000 customers (FREEZELEDGER_BENCH_CUSTOMERS) is
// frozen; one op is the time from the append of the freeze to the last of its 100,000 items read by
// a subscriber that was waiting (Wait, then Next in batches of 256, as the SSE handler reads), and
// back for the unfreeze. live-before-MiB is the live heap (after a GC) before the first op,
// live-midway-MiB the largest live heap half-way through a fan-out: a subscriber must not hold
// memory in proportion to the cascade.
func BenchmarkChangeFanout(b *testing.B) {
	n := benchCustomers()
	st, err := embedded.Open(filepath.Join(b.TempDir(), "store"), embedded.Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ctx := context.Background()
	app := func(stream string, actor domain.Actor, evs ...ev) eventstore.Position {
		var data []eventstore.EventData
		for _, e := range evs {
			d, _ := json.Marshal(e.data)
			md, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: actor, Time: time.Now().UTC()})
			data = append(data, eventstore.EventData{ID: uuid.New(), Type: e.typ, Data: d, Metadata: md})
		}
		res, err := st.Append(ctx, stream, eventstore.Any, data...)
		if err != nil {
			b.Fatal(err)
		}
		return res.Position
	}
	ch := domain.ChannelStream("dist-1")
	app(ch, platform, ev{domain.EventPartnerRegistered, domain.PartnerRegistered{PartnerID: "dist-1", Name: "D", Type: domain.PartnerDistributor}})
	app(ch, platform, ev{domain.EventPartnerRegistered, domain.PartnerRegistered{PartnerID: "res-1", Name: "R", Type: domain.PartnerReseller, ParentID: "dist-1"}})
	var last eventstore.Position
	for i := 0; i < n; i += 500 {
		var evs []ev
		for j := i; j < min(n, i+500); j++ {
			id, p := fmt.Sprintf("c-%07d", j), "dist-1"
			if j%2 == 1 {
				p = "res-1"
			}
			evs = append(evs, ev{domain.EventCustomerAssociated, domain.CustomerAssociated{CustomerID: id, Name: "Customer " + id, PartnerID: p}},
				ev{domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: id, FreezeType: domain.FreezeAccount, Origin: domain.OriginAssociation, Reason: "new"}})
		}
		last = app(ch, opsOf("dist-1"), evs...)
	}
	m := openModels(b, st, b.TempDir())
	waitFor(b, m, last)
	r := m.Changes(ChangeViewer{}, ChangeCursor{Position: last, Item: WholeEvent})
	defer r.Close()
	if items, err := r.Next(ctx, 1); err != nil || len(items) != 0 {
		b.Fatalf("before the freeze: %v %d items", err, len(items))
	}
	var peak uint64
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		typ := domain.EventPartnerFrozen
		var data any = domain.PartnerFrozen{PartnerID: "dist-1", Reason: "bench"}
		if i%2 == 1 {
			typ, data = domain.EventPartnerUnfrozen, domain.PartnerUnfrozen{PartnerID: "dist-1", Reason: "bench"}
		}
		app(ch, platform, ev{typ, data})
		got := 0
		for got < n {
			items, err := r.Next(ctx, 256)
			if err != nil {
				b.Fatal(err)
			}
			if len(items) == 0 {
				if err := r.Wait(ctx); err != nil {
					b.Fatal(err)
				}
				continue
			}
			got += len(items)
			if got == n/2/256*256 { // half-way: what is live (the reader and its batch), after a GC
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
				b.StartTimer()
			}
		}
		if got != n {
			b.Fatalf("%d items, want %d", got, n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(base)/(1<<20), "live-before-MiB")
	b.ReportMetric(float64(peak)/(1<<20), "live-midway-MiB")
	b.ReportMetric(float64(n), "items/op")
}
