package projections

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
	"github.com/freezeledger/freezeledger/eventstore"
)

// TestBillingZonesEqualScan: over three blocks of customers and more, where spend and resource
// expiries are rare in some blocks and absent from others, mtd_spend_min (alone, with mtd_spend_max,
// with a partner) and the resource expiry bounds, live and as of the middle of the log, find
// exactly the customers whose status's mtd_spend or earliest_expiry is in the bounds, page by page
// from any cursor; and so do read models loaded from a checkpoint (the zones are refolded).
func TestBillingZonesEqualScan(t *testing.T) {
	const n = 3*idBlockSize + 700
	r := rand.New(rand.NewPCG(12, 1))
	var evs []eventstore.RecordedEvent
	add := func(typ string, actor domain.Actor, data any) {
		d, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		p := uint64(len(evs) + 1)
		md, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: actor, Time: t0.Add(time.Duration(p) * time.Millisecond)})
		evs = append(evs, eventstore.RecordedEvent{ID: uuid.New(), Type: typ, Stream: "channel-x", Revision: p - 1,
			Position: eventstore.Position{Commit: p, Prepare: p}, Data: d, Metadata: md})
	}
	billing := domain.Actor{Name: "billing", Role: domain.RoleBilling}
	for _, d := range []string{"dist-a", "dist-b"} {
		add(domain.EventPartnerRegistered, platform, domain.PartnerRegistered{PartnerID: d, Name: d, Type: domain.PartnerDistributor})
	}
	cids := make([]string, n)
	for i := range cids {
		cids[i] = fmt.Sprintf("c-%05d", i)
		add(domain.EventCustomerAssociated, opsOf("dist-a"), domain.CustomerAssociated{CustomerID: cids[i], Name: cids[i], PartnerID: []string{"dist-a", "dist-b"}[i%2]})
	}
	// Block 0: many spend a little; block 1: none; block 2: one big spender; the open block: a few.
	// Some usage is dated in the previous month, so it counts for another month.
	rec := 0
	usage := func(ci int, amount domain.Money, at time.Time) {
		rec++
		add(domain.EventUsageRecorded, billing, domain.UsageRecorded{CustomerID: cids[ci], Records: []domain.UsageRecord{{RecordID: fmt.Sprint("u-", rec), Amount: amount, Time: at}}})
	}
	now := t0.Add(2 * time.Hour)
	for k := 0; k < 600; k++ {
		usage(r.IntN(idBlockSize), domain.Money(r.IntN(30000)), now)
	}
	usage(idBlockSize+5, 9_000_000, now.AddDate(0, -1, 0)) // block 1: last month only
	mid := len(evs)
	usage(2*idBlockSize+77, 5_000_000, now)
	usage(2*idBlockSize+77, 5_000_000, now)
	for k := 0; k < 5; k++ {
		usage(3*idBlockSize+r.IntN(700), domain.Money(100_000*(k+1)), now)
	}
	// Resources: block 0 expiring over the next 90 days, block 1 none, block 2 one past 2262 and
	// one removed again, the open block one re-reported without an expiry.
	resource := func(ci int, rid string, exp *time.Time) {
		add(domain.EventResourceReported, billing, domain.ResourceReported{CustomerID: cids[ci], ResourceID: rid, Service: "ecs",
			BillingMode: domain.BillingPayPerUse, Product: domain.ProductCloud, ExpiresAt: exp})
	}
	for k := 0; k < 300; k++ {
		e := now.Add(time.Duration(r.IntN(90*24)) * time.Hour)
		resource(r.IntN(idBlockSize), fmt.Sprint("r-", k), &e)
	}
	far, soon := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), now.Add(time.Hour)
	resource(2*idBlockSize+9, "r-far", &far)
	resource(2*idBlockSize+10, "r-soon", &soon)
	add(domain.EventResourceRemoved, billing, domain.ResourceRemoved{CustomerID: cids[2*idBlockSize+10], ResourceID: "r-soon"})
	resource(3*idBlockSize+1, "r-x", &soon)
	resource(3*idBlockSize+1, "r-x", nil)
	resource(3*idBlockSize+2, "r-y", &far)
	m := modelOf(evs)
	m.st.clock = domaintest.NewClock(now)
	st, err := readState(stateBytes(t, m))
	if err != nil {
		t.Fatal(err)
	}
	reloaded := &ReadModels{st: st, opts: m.opts, log: m.log, notify: make(chan struct{})}
	reloaded.st.clock = m.st.clock
	midPos := evs[mid-1].Position

	expiryCases := []struct{ after, before string }{
		{"", now.Add(30 * 24 * time.Hour).Format(time.RFC3339)}, {"", now.Add(2 * time.Hour).Format(time.RFC3339)},
		{now.Add(80 * 24 * time.Hour).Format(time.RFC3339), ""}, {"2200-01-01T00:00:00Z", ""}, {"2300-01-01T00:00:00Z", ""},
		{now.Format(time.RFC3339), now.Add(10 * 24 * time.Hour).Format(time.RFC3339)}, {"", "2000-01-01T00:00:00Z"},
	}
	inBounds := func(st CustomerStatus, after, before string) bool {
		if st.EarliestExpiry == nil {
			return false
		}
		e, err := time.Parse(time.RFC3339Nano, *st.EarliestExpiry)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := time.Parse(time.RFC3339, after)
		b, _ := time.Parse(time.RFC3339, before)
		return (after == "" || e.After(a)) && (before == "" || e.Before(b))
	}
	for _, models := range []*ReadModels{m, reloaded} {
		for _, c := range expiryCases {
			for _, asOf := range []AsOf{{}, {Position: &midPos}} {
				for _, from := range []int{0, 2*idBlockSize + 3, r.IntN(n)} {
					f := SearchFilter{ResourceExpiresAfter: c.after, ResourceExpiresBefore: c.before, AsOf: asOf, Limit: 1 + r.IntN(200)}
					want := []string{}
					for _, id := range cids[from:] {
						st, err := models.Status(id, asOf)
						if err != nil {
							t.Fatal(err)
						}
						if inBounds(st, c.after, c.before) {
							want = append(want, id)
						}
					}
					if from > 0 {
						f.Cursor = encodeCursor('c', uint64(from))
					}
					if got := searchPages(t, models, f, n); fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("expiry in (%s, %s) as of %v from %d: %d customers %v, want %d %v", c.after, c.before, asOf.Position, from, len(got), head(got), len(want), head(want))
					}
				}
			}
		}
		for _, c := range []struct{ lo, hi, partner string }{
			{"0.01", "", ""}, {"250", "", ""}, {"250", "", "dist-b"}, {"50000", "", ""}, {"50000", "99999", ""},
			{"100000", "", ""}, {"90000", "", ""}, {"3000", "4000", ""}, {"100000000", "", ""}, {"0", "0", ""},
		} {
			for _, asOf := range []AsOf{{}, {Position: &midPos}} {
				for _, from := range []int{0, idBlockSize + 3, r.IntN(n)} {
					f := SearchFilter{MTDSpendMin: c.lo, MTDSpendMax: c.hi, PartnerID: c.partner, AsOf: asOf, Limit: 1 + r.IntN(200)}
					lo, hi := domain.Money(0), domain.Money(1<<62)
					if c.lo != "" {
						lo, _ = domain.ParseMoney("lo", c.lo)
					}
					if c.hi != "" {
						hi, _ = domain.ParseMoney("hi", c.hi)
					}
					want := []string{}
					for _, id := range cids[from:] {
						s, err := models.Status(id, asOf)
						if err != nil {
							t.Fatal(err)
						}
						spend, _ := domain.ParseMoney("s", s.MTDSpend)
						if spend >= lo && spend <= hi && (c.partner == "" || s.PartnerID == c.partner) {
							want = append(want, id)
						}
					}
					if from > 0 {
						f.Cursor = encodeCursor('c', uint64(from))
					}
					if got := searchPages(t, models, f, n); fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("mtd_spend in [%s, %s] partner %q as of %v from %d: %d customers %v, want %d %v", c.lo, c.hi, c.partner, asOf.Position, from, len(got), head(got), len(want), head(want))
					}
				}
			}
		}
	}
}

// searchPages pages through search f; more than n customers in all fails the test.
func searchPages(t *testing.T, m *ReadModels, f SearchFilter, n int) []string {
	t.Helper()
	got := []string{}
	for next := "x"; next != ""; f.Cursor = next {
		cs, nc, err := m.SearchCustomers(f)
		if err != nil {
			t.Fatal(err)
		}
		got, next = append(got, ids(cs)...), nc
		if len(got) > n {
			t.Fatal("the search does not end")
		}
	}
	return got
}

func head(l []string) []string { return l[:min(len(l), 5)] }
