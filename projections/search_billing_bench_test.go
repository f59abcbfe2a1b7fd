package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// billingBenchModels builds read models over a log of benchCustomers() customers of one distributor
// and its 10 resellers, each with one usage event this month (customer i spends (i mod 100) × 10.00),
// every third a monthly budget of 1,000.00, every fourth a resource expiring i hours after t0; the
// present is t0 + 1 h (a fixed clock). Built once per size.
func billingBenchModels(b *testing.B) (*ReadModels, int) {
	b.Helper()
	n := benchCustomers()
	benchModelsMu.Lock()
	defer benchModelsMu.Unlock()
	if m, ok := billingBench[n]; ok {
		return m, n
	}
	dir, err := os.MkdirTemp("", "projections-billing-bench-")
	if err != nil {
		b.Fatal(err)
	}
	benchDirs = append(benchDirs, dir)
	st, err := embedded.Open(filepath.Join(dir, "store"), embedded.Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	now, seq := t0, 0
	mk := func(typ string, actor domain.Actor, data any) eventstore.EventData {
		now = now.Add(time.Microsecond)
		seq++
		d, _ := json.Marshal(data)
		md, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: actor, Time: now, RequestID: "req-" + strconv.Itoa(seq)})
		return eventstore.EventData{ID: uuid.New(), Type: typ, Data: d, Metadata: md}
	}
	app := func(stream string, evs []eventstore.EventData) {
		if len(evs) == 0 {
			return
		}
		if _, err := st.Append(ctx, stream, eventstore.Any, evs...); err != nil {
			b.Fatal(err)
		}
	}
	ch := domain.ChannelStream("dist-0")
	partners := []string{"dist-0"}
	evs := []eventstore.EventData{mk(domain.EventPartnerRegistered, platform, domain.PartnerRegistered{PartnerID: "dist-0", Name: "D", Type: domain.PartnerDistributor})}
	for r := 0; r < 10; r++ {
		id := fmt.Sprintf("res-0-%d", r)
		partners = append(partners, id)
		evs = append(evs, mk(domain.EventPartnerRegistered, opsOf("dist-0"), domain.PartnerRegistered{PartnerID: id, Name: id, Type: domain.PartnerReseller, ParentID: "dist-0"}))
	}
	app(ch, evs)
	billing := domain.Actor{Name: "billing", Role: domain.RoleBilling}
	const chunk = 1000
	for start := 0; start < n; start += chunk {
		evs = evs[:0]
		for i := start; i < min(n, start+chunk); i++ {
			id := fmt.Sprintf("cust-%07d", i)
			p := partners[i%len(partners)]
			dist := ""
			if p != "dist-0" {
				dist = "dist-0"
			}
			evs = append(evs, mk(domain.EventCustomerAssociated, opsOf(p), domain.CustomerAssociated{CustomerID: id, Name: "Customer " + id, PartnerID: p, DistributorID: dist}))
			if i%3 == 0 {
				evs = append(evs, mk(domain.EventBudgetSet, opsOf("dist-0"), domain.BudgetSet{CustomerID: id, Type: domain.BudgetMonthly, Amount: 100000, OnExhaustion: domain.ExhaustionAlert, Period: "2026-11"}))
			}
			evs = append(evs, mk(domain.EventUsageRecorded, billing, domain.UsageRecorded{CustomerID: id, Records: []domain.UsageRecord{{RecordID: "u-" + id, Amount: domain.Money(i%100) * 1000, Time: t0}}}))
			if i%4 == 0 {
				e := t0.Add(time.Duration(i) * time.Hour)
				evs = append(evs, mk(domain.EventResourceReported, billing, domain.ResourceReported{CustomerID: id, ResourceID: "vm", Service: "ecs", BillingMode: domain.BillingYearlyMonthly, Product: domain.ProductCloud, ExpiresAt: &e}))
			}
		}
		app(ch, evs)
	}
	m, err := Open(st, "", Options{Clock: domaintest.NewClock(t0.Add(time.Hour))})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Rebuild(ctx); err != nil {
		b.Fatal(err)
	}
	billingBench[n] = m
	return m, n
}

var billingBench = map[int]*ReadModels{}

// BenchmarkSearchBilling: one page of 100 customers from a random cursor, for each billing filter
// alone (none has an index: a page walks customers from the cursor until it is full, so the cost is
// the share of customers that match) and with an indexed filter.
func BenchmarkSearchBilling(b *testing.B) {
	m, n := billingBenchModels(b)
	for _, c := range []struct {
		name string
		f    SearchFilter
	}{
		{"mtd_spend_min=500(50%)", SearchFilter{MTDSpendMin: "500"}},
		{"mtd_spend_min=990(1%)", SearchFilter{MTDSpendMin: "990"}},
		{"mtd_spend_min=2000(none)", SearchFilter{MTDSpendMin: "2000"}},
		{"mtd_spend_max=0(1%)", SearchFilter{MTDSpendMax: "0"}},
		{"budget_usage_min=90(3%)", SearchFilter{BudgetUsageMin: "90"}},
		{"budget_type=monthly(33%)", SearchFilter{BudgetType: "monthly"}},
		{"resource_expires_before(25%)", SearchFilter{ResourceExpiresBefore: "2100-01-01T00:00:00Z"}},
		{"partner_id=res-0-3+mtd_spend_min=500", SearchFilter{PartnerID: "res-0-3", MTDSpendMin: "500"}},
		{"mtd_spend_min=500+as_of=mid", SearchFilter{MTDSpendMin: "500"}}, // as of the middle of the log, set below
	} {
		b.Run(c.name, func(b *testing.B) {
			f := c.f
			f.Limit = 100
			if c.name == "mtd_spend_min=500+as_of=mid" {
				mid := m.Applied()
				mid.Commit /= 2
				mid.Prepare = mid.Commit
				f.AsOf = AsOf{Position: &mid}
			}
			pageBench(b, func(r *rand.Rand) (int, error) {
				f.Cursor = encodeCursor('c', uint64(r.IntN(n)))
				cs, _, err := m.SearchCustomers(f)
				return len(cs), err
			})
		})
	}
}
