package projections

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// pageBench times fn (one page of a query) b.N times and reports the median and the 99th
// percentile of the single calls.
func pageBench(b *testing.B, fn func(r *rand.Rand) (int, error)) {
	r := rand.New(rand.NewPCG(7, 7))
	samples := make([]float64, 0, b.N)
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		k, err := fn(r)
		samples = append(samples, float64(time.Since(t).Nanoseconds()))
		if err != nil {
			b.Fatal(err)
		}
		n += k
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(samples[len(samples)/2]/1e6, "p50-ms")
	b.ReportMetric(samples[len(samples)*99/100]/1e6, "p99-ms")
	b.ReportMetric(float64(n)/float64(b.N), "results/page")
}

// BenchmarkSearch: one page of 100 customers, from a random cursor, for single filters and
// combinations over the benchmark log (target at 1 M customers: p99 < 10 ms).
func BenchmarkSearch(b *testing.B) {
	m, ids := modelsForLookups(b)
	yes, no := true, false
	mid := m.Applied()
	mid.Commit /= 2
	mid.Prepare = mid.Commit
	for _, c := range []struct {
		name string
		f    SearchFilter
	}{
		{"tag=silver", SearchFilter{Tag: "silver"}},
		{"partner_id=res-3-4", SearchFilter{PartnerID: "res-3-4"}},
		{"distributor_id=dist-3", SearchFilter{DistributorID: "dist-3"}},
		{"managed_by=dist-3", SearchFilter{ManagedBy: "dist-3"}},
		{"frozen=false", SearchFilter{Frozen: &no}},
		{"distributor_id=dist-3+tag=silver", SearchFilter{DistributorID: "dist-3", Tag: "silver"}},
		{"partner_id=res-3-4+frozen=false", SearchFilter{PartnerID: "res-3-4", Frozen: &no}},
		{"distributor_id=dist-3+association_type=direct", SearchFilter{DistributorID: "dist-3", AssociationType: AssociationDirect}},
		{"scope=dist-3+freeze_type=ACCOUNT_AND_RESOURCE", SearchFilter{Scope: "dist-3", FreezeType: "ACCOUNT_AND_RESOURCE"}},
		{"tag=gold+as_of=mid", SearchFilter{Tag: "gold", Frozen: &yes, AsOf: AsOf{Position: &mid}}},
		{"customer_id=prefix(1000)", SearchFilter{}},                           // the prefix of 1,000 consecutive IDs, set per call
		{"customer_id=prefix(10000)", SearchFilter{}},                          // of 10,000, from a random cursor
		{"customer_id=prefix(none)", SearchFilter{CustomerIDPrefix: "cust-x"}}, // matches nobody
		{"scope=dist-3+customer_id=prefix(1000)", SearchFilter{Scope: "dist-3"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			pageBench(b, func(r *rand.Rand) (int, error) {
				f := c.f
				f.Limit = 100
				switch c.name {
				case "customer_id=prefix(1000)", "scope=dist-3+customer_id=prefix(1000)":
					f.CustomerIDPrefix = ids[r.IntN(len(ids))][:9]
				case "customer_id=prefix(10000)":
					f.CustomerIDPrefix = ids[r.IntN(len(ids))][:8]
					f.Cursor = encodeCursor('c', uint64(r.IntN(len(ids))))
				default:
					f.Cursor = encodeCursor('c', uint64(r.IntN(len(ids))))
				}
				cs, _, err := m.SearchCustomers(f)
				return len(cs), err
			})
		})
	}
}

// BenchmarkPartnerHistoryPage: one page of 100 events of a reseller's history (with its
// principals' events), from a random cursor; the events are read from the store.
func BenchmarkPartnerHistoryPage(b *testing.B) {
	m, _ := modelsForLookups(b)
	leaves := m.Events()
	pageBench(b, func(r *rand.Rand) (int, error) {
		p, err := m.History(context.Background(), HistoryQuery{Kind: HistoryPartnerActivity, ID: "res-3-4", Limit: 100,
			Cursor: encodeCursor('h', uint64(r.Int64N(int64(leaves))))})
		return len(p.Events), err
	})
}

// BenchmarkAuditEventsPage: one page of 100 filtered audit events from a random position.
func BenchmarkAuditEventsPage(b *testing.B) {
	m, _ := modelsForLookups(b)
	head := m.Applied()
	for _, c := range []struct {
		name string
		q    AuditQuery
	}{
		{"actor=ops-res-3-4", AuditQuery{Actor: "ops-res-3-4"}},
		{"actor_partner_id=dist-3+type=customer.unfrozen", AuditQuery{ActorPartnerID: "dist-3", Types: []string{"customer.unfrozen"}}},
		{"type=customer.unfrozen", AuditQuery{Types: []string{"customer.unfrozen"}}},
		{"partner_id=res-3-4", AuditQuery{PartnerID: "res-3-4"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			pageBench(b, func(r *rand.Rand) (int, error) {
				q := c.q
				q.Limit = 100
				after := head
				after.Commit = uint64(r.Int64N(int64(head.Commit)))
				after.Prepare = after.Commit
				q.After = &after
				p, err := m.AuditEvents(context.Background(), q)
				return len(p.Events), err
			})
		})
	}
}
