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

// TestMTDSpendZonesEqualScan: over three blocks of customers and more, where spend is rare in some
// blocks and absent from others, mtd_spend_min (alone, with mtd_spend_max, with a partner), live
// and as of the middle of the log, finds exactly the customers whose status's mtd_spend is in the
// bounds, page by page from any cursor; and so do read models loaded from a checkpoint (the
// zones are refolded).
func TestMTDSpendZonesEqualScan(t *testing.T) {
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
	m := modelOf(evs)
	m.st.clock = domaintest.NewClock(now)
	st, err := readState(stateBytes(t, m))
	if err != nil {
		t.Fatal(err)
	}
	reloaded := &ReadModels{st: st, opts: m.opts, log: m.log, notify: make(chan struct{})}
	reloaded.st.clock = m.st.clock
	midPos := evs[mid-1].Position

	for _, models := range []*ReadModels{m, reloaded} {
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
					got := []string{}
					for next := "x"; next != ""; f.Cursor = next {
						var cs []CustomerStatus
						if cs, next, err = models.SearchCustomers(f); err != nil {
							t.Fatal(err)
						}
						got = append(got, ids(cs)...)
						if len(got) > n {
							t.Fatal("the search does not end")
						}
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("mtd_spend in [%s, %s] partner %q as of %v from %d: %d customers %v, want %d %v", c.lo, c.hi, c.partner, asOf.Position, from, len(got), head(got), len(want), head(want))
					}
				}
			}
		}
	}
}

func head(l []string) []string { return l[:min(len(l), 5)] }
