package projections

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
)

// billingSteps appends random billing events for customers (of randomLog's partners): usage, late
// usage dated in the previous month, monthly and one-time budgets, removals, resources with and
// without expiry (some past 2262), removals of resources, and jumps of the ledger's clock across
// month ends, so monthly spend and budget periods change with the reference time.
func billingSteps(l *ledger, r *rand.Rand, customers []string, partnerOf map[string]string, steps int) {
	l.t.Helper()
	billing := domain.Actor{Name: "billing", Role: domain.RoleBilling}
	rec := 0
	for step := 0; step < steps; step++ {
		id := customers[r.IntN(len(customers))]
		ch := l.channel(partnerOf[id])
		switch k := r.IntN(20); {
		case k < 8:
			var rs []domain.UsageRecord
			for n := 1 + r.IntN(3); n > 0; n-- {
				rec++
				at := l.now.Add(-time.Duration(r.IntN(72)) * time.Hour) // late records cross month ends
				rs = append(rs, domain.UsageRecord{RecordID: fmt.Sprintf("u-%d", rec), Amount: domain.Money(r.IntN(50000)), Time: at})
			}
			l.append(ch, billing, ev{domain.EventUsageRecorded, domain.UsageRecorded{CustomerID: id, Records: rs}})
		case k < 11:
			bt := []domain.BudgetType{domain.BudgetMonthly, domain.BudgetOneTime}[r.IntN(2)]
			b := domain.BudgetSet{CustomerID: id, Type: bt, Amount: domain.Money(1 + r.IntN(200000)), OnExhaustion: domain.ExhaustionAlert}
			if bt == domain.BudgetMonthly {
				b.Period = domain.Period(l.now.Add(time.Second))
			}
			l.append(ch, opsOf(partnerOf[id]), ev{domain.EventBudgetSet, b})
		case k < 12:
			l.append(ch, opsOf(partnerOf[id]), ev{domain.EventBudgetRemoved, domain.BudgetRemoved{CustomerID: id}})
		case k < 16:
			res := domain.ResourceReported{CustomerID: id, ResourceID: fmt.Sprintf("r-%d", r.IntN(4)), Service: "ecs", BillingMode: domain.BillingPayPerUse, Product: domain.ProductCloud}
			switch r.IntN(4) {
			case 0: // no expiry
			case 1:
				e := time.Date(2300+r.IntN(3), 1, 1, 0, 0, 0, 0, time.UTC) // past the reach of Unix nanoseconds
				res.ExpiresAt = &e
			default:
				e := l.now.Add(time.Duration(r.IntN(90*24)) * time.Hour)
				res.ExpiresAt = &e
			}
			l.append(ch, billing, ev{domain.EventResourceReported, res})
		case k < 17:
			l.append(ch, billing, ev{domain.EventResourceRemoved, domain.ResourceRemoved{CustomerID: id, ResourceID: fmt.Sprintf("r-%d", r.IntN(4))}})
		case k < 18:
			l.now = l.now.Add(time.Duration(5+r.IntN(20)) * 24 * time.Hour)
		default:
			l.release(id, partnerOf[id])
		}
	}
}

// randomBillingFilter sets one or two random billing filters on f.
func randomBillingFilter(r *rand.Rand, f *SearchFilter) {
	pick := func(l ...string) string { return l[r.IntN(len(l))] }
	for n := 1 + r.IntN(2); n > 0; n-- {
		switch r.IntN(7) {
		case 0:
			f.MTDSpendMin = pick("0", "0.01", "100", "250.50", "400")
		case 1:
			f.MTDSpendMax = pick("0", "0.00", "99.99", "300", "1000")
		case 2:
			f.BudgetUsageMin = pick("0", "50", "75.00", "100", "81.2")
		case 3:
			f.BudgetUsageMax = pick("0.00", "10", "90", "100", "1000")
		case 4:
			f.BudgetType = pick(string(domain.BudgetMonthly), string(domain.BudgetOneTime), BudgetTypeNone)
		case 5:
			f.ResourceExpiresBefore = pick("2026-11-20T00:00:00Z", "2027-01-01T00:00:00Z", "2301-01-01T00:00:00Z", "1000-01-01T00:00:00Z", "9999-12-31T23:59:59Z")
		default:
			f.ResourceExpiresAfter = pick("2026-11-10T00:00:00Z", "2026-12-31T00:00:00Z", "2262-04-12T00:00:00Z", "2300-06-01T00:00:00Z", "0001-01-01T00:00:00Z")
		}
	}
}

// bruteBilling is the billing filters' meaning, decided from a status alone.
func bruteBilling(t *testing.T, st CustomerStatus, f SearchFilter) bool {
	t.Helper()
	money := func(s string) int64 {
		m, err := domain.ParseMoney("x", s)
		if err != nil {
			t.Fatal(err)
		}
		return int64(m)
	}
	bound := func(s string, open int64) int64 {
		if s == "" {
			return open
		}
		return money(s)
	}
	if f.MTDSpendMin != "" || f.MTDSpendMax != "" {
		if m := money(st.MTDSpend); m < bound(f.MTDSpendMin, 0) || m > bound(f.MTDSpendMax, math.MaxInt64) {
			return false
		}
	}
	if f.BudgetUsageMin != "" || f.BudgetUsageMax != "" {
		if st.Budget == nil {
			return false
		}
		if u := money(st.Budget.UsagePercent); u < bound(f.BudgetUsageMin, 0) || u > bound(f.BudgetUsageMax, math.MaxInt64) {
			return false
		}
	}
	switch f.BudgetType {
	case "":
	case BudgetTypeNone:
		if st.Budget != nil {
			return false
		}
	default:
		if st.Budget == nil || st.Budget.Type != f.BudgetType {
			return false
		}
	}
	if f.ResourceExpiresAfter != "" || f.ResourceExpiresBefore != "" {
		if st.EarliestExpiry == nil {
			return false
		}
		e, err := time.Parse(time.RFC3339Nano, *st.EarliestExpiry)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range []struct {
			s     string
			after bool
		}{{f.ResourceExpiresAfter, true}, {f.ResourceExpiresBefore, false}} {
			if b.s == "" {
				continue
			}
			bt, _ := time.Parse(time.RFC3339Nano, b.s)
			if (b.after && !e.After(bt)) || (!b.after && !e.Before(bt)) {
				return false
			}
		}
	}
	return true
}

// Every billing filter, alone and combined with each other and with the phase-1 filters, as of any
// moment, finds exactly the customers whose status as of that moment passes it (customer by
// customer), page by page; and the search as of a moment equals the search over read models built
// from the log prefix up to it, their present clock set to the moment's reference time.
func TestSearchBillingFiltersEqualBruteForceAndPrefixReplay(t *testing.T) {
	for _, seed := range []uint64{5, 13} {
		l := newLedger(t)
		customers, _ := randomLog(l, seed, 120)
		partnerOf := map[string]string{}
		for _, e := range readAll(t, l.store) {
			if e.Type == domain.EventCustomerAssociated {
				d, _ := domain.DecodeData(e.Type, e.Data)
				a := d.(*domain.CustomerAssociated)
				partnerOf[a.CustomerID] = a.PartnerID
			}
		}
		r := rand.New(rand.NewPCG(seed, 7))
		billingSteps(l, r, customers, partnerOf, 400)
		evs := readAll(t, l.store)
		full := modelOf(evs)
		matched, checked := 0, 0
		for k := 1; k <= len(evs); k += 1 + r.IntN(20) {
			prefix := modelOf(evs[:k])
			prefix.st.clock = domaintest.NewClock(time.Unix(0, full.st.maxTime[k-1]))
			pos := evs[k-1].Position
			for i := 0; i < 5; i++ {
				var f SearchFilter
				if r.IntN(3) == 0 {
					f = randomFilter(r)
				}
				randomBillingFilter(r, &f)
				f.Limit = 1 + r.IntN(4)
				want := searchAll(t, prefix, f)
				at := f
				at.AsOf = AsOf{Position: &pos}
				if got := searchAll(t, full, at); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("seed %d: search %+v as of %s = %v; over the prefix: %v", seed, f, pos, got, want)
				}
				var brute []string
				for _, id := range bruteSearch(t, full, customers, at) {
					st, _ := full.Status(id, at.AsOf)
					if bruteBilling(t, st, f) {
						brute = append(brute, id)
					}
				}
				if fmt.Sprint(brute) != fmt.Sprint(want) && !(len(brute) == 0 && len(want) == 0) {
					t.Fatalf("seed %d: search %+v as of %s = %v; customer by customer: %v", seed, f, pos, want, brute)
				}
				f.Limit, at.Limit = MaxLimit, MaxLimit
				gotPage, _, err1 := full.SearchCustomers(at)
				wantPage, _, err2 := prefix.SearchCustomers(f)
				if err1 != nil || err2 != nil || !reflect.DeepEqual(gotPage, wantPage) {
					t.Fatalf("seed %d: statuses of search %+v as of %s differ from the prefix's (%v, %v)", seed, f, pos, err1, err2)
				}
				matched += len(want)
				checked++
			}
		}
		if checked < 200 || matched < checked {
			t.Fatalf("seed %d: only %d comparisons, %d matches", seed, checked, matched)
		}
	}
}

// TestSearchBillingFilterBounds: the bounds of each filter on a customer whose values are known
// (spend 1,020.00 of a 1,000.00 monthly budget, usage 102.00 %, a resource expiring at exp): money
// and percentage bounds are inclusive, expiry bounds exclusive; a customer without billing has
// spend 0.00, no budget and no expiry.
func TestSearchBillingFilterBounds(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	l.associate("c-1", "dist-1", "", nil, "")
	l.associate("c-2", "dist-1", "", nil, "")
	ch := l.channel("dist-1")
	billing := domain.Actor{Name: "billing", Role: domain.RoleBilling}
	exp := time.Date(2026, 12, 24, 10, 0, 0, 0, time.UTC)
	l.append(ch, opsOf("dist-1"), ev{domain.EventBudgetSet, domain.BudgetSet{CustomerID: "c-1", Type: domain.BudgetMonthly, Amount: 100000, OnExhaustion: domain.ExhaustionAlert, Period: "2026-11"}})
	l.append(ch, billing, ev{domain.EventUsageRecorded, domain.UsageRecorded{CustomerID: "c-1", Records: []domain.UsageRecord{{RecordID: "u1", Amount: 102000, Time: t0}}}})
	pos := l.append(ch, billing, ev{domain.EventResourceReported, domain.ResourceReported{CustomerID: "c-1", ResourceID: "vm", Service: "ecs", BillingMode: domain.BillingPayPerUse, Product: domain.ProductCloud, ExpiresAt: &exp}})
	m := modelOf(readAll(t, l.store))
	m.st.clock = domaintest.NewClock(t0.Add(time.Hour))
	for _, c := range []struct {
		f    SearchFilter
		want string
	}{
		{SearchFilter{MTDSpendMin: "1020"}, "[c-1]"},
		{SearchFilter{MTDSpendMin: "1020.01"}, "[]"},
		{SearchFilter{MTDSpendMax: "1020.00"}, "[c-1 c-2]"},
		{SearchFilter{MTDSpendMax: "1019.99"}, "[c-2]"},
		{SearchFilter{MTDSpendMax: "0"}, "[c-2]"},
		{SearchFilter{MTDSpendMin: "2000", MTDSpendMax: "1"}, "[]"},
		{SearchFilter{BudgetUsageMin: "102"}, "[c-1]"},
		{SearchFilter{BudgetUsageMin: "102.01"}, "[]"},
		{SearchFilter{BudgetUsageMax: "102.00"}, "[c-1]"}, // c-2 has no budget, so no usage
		{SearchFilter{BudgetUsageMax: "101.99"}, "[]"},
		{SearchFilter{BudgetType: "monthly"}, "[c-1]"},
		{SearchFilter{BudgetType: "one_time"}, "[]"},
		{SearchFilter{BudgetType: "none"}, "[c-2]"},
		{SearchFilter{ResourceExpiresBefore: "2026-12-24T10:00:00Z"}, "[]"},
		{SearchFilter{ResourceExpiresBefore: "2026-12-24T10:00:00.000000001Z"}, "[c-1]"},
		{SearchFilter{ResourceExpiresAfter: "2026-12-24T10:00:00Z"}, "[]"},
		{SearchFilter{ResourceExpiresAfter: "2026-12-24T09:59:59Z"}, "[c-1]"},
		{SearchFilter{ResourceExpiresAfter: "0001-01-01T00:00:00Z", ResourceExpiresBefore: "9999-12-31T23:59:59Z"}, "[c-1]"},
		{SearchFilter{MTDSpendMin: "1", BudgetType: "monthly", ResourceExpiresAfter: "2026-12-01T00:00:00Z"}, "[c-1]"},
		{SearchFilter{MTDSpendMin: "1", Frozen: new(bool)}, "[]"}, // c-1 is still frozen at association
		{SearchFilter{BudgetType: "monthly", AsOf: AsOf{Position: &pos}}, "[c-1]"},
	} {
		got := searchAll(t, m, c.f)
		if got == nil {
			got = []string{}
		}
		if fmt.Sprint(got) != c.want {
			t.Errorf("search %+v = %v, want %s", c.f, got, c.want)
		}
	}
	// Next month the monthly spend is 0.00 and the budget counts December (its reset is due).
	m.st.clock = domaintest.NewClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if got := searchAll(t, m, SearchFilter{MTDSpendMax: "0", BudgetUsageMax: "0"}); fmt.Sprint(got) != "[c-1]" {
		t.Errorf("in December: %v", got)
	}
	for _, c := range []struct {
		f     SearchFilter
		param string
	}{
		{SearchFilter{MTDSpendMin: "-1"}, "mtd_spend_min"},
		{SearchFilter{MTDSpendMax: "1.001"}, "mtd_spend_max"},
		{SearchFilter{BudgetUsageMin: "NaN"}, "budget_usage_min"},
		{SearchFilter{BudgetUsageMax: "1e3"}, "budget_usage_max"},
		{SearchFilter{BudgetType: "weekly"}, "budget_type"},
		{SearchFilter{ResourceExpiresBefore: "soon"}, "resource_expires_before"},
		{SearchFilter{ResourceExpiresAfter: "2026-13-01T00:00:00Z"}, "resource_expires_after"},
	} {
		_, _, err := m.SearchCustomers(c.f)
		if domain.ErrorCode(err) != domain.CodeInvalid || !strings.Contains(err.Error(), c.param) {
			t.Errorf("search %+v: %v, want invalid naming %s", c.f, err, c.param)
		}
	}
}

// TestUsageHundredthsEqualsUsagePercent holds the filter's number equal to the status's string.
func TestUsageHundredthsEqualsUsagePercent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := []domain.Money{-1, 0, 1, 2, 3, 99, 100, 10000, domain.MaxAmount, math.MaxInt64 / 10000, math.MaxInt64 - 1, math.MaxInt64}
	for i := 0; i < 2000; i++ {
		vals = append(vals, domain.Money(r.Int64N(math.MaxInt64)), domain.Money(r.Int64N(1_000_000)))
	}
	for _, spend := range vals {
		for _, amount := range vals[:40] {
			if got, want := domain.Money(usageHundredths(spend, amount)).String(), domain.UsagePercent(spend, amount); got != want {
				t.Fatalf("usage of %d over %d: %s, UsagePercent says %s", spend, amount, got, want)
			}
		}
	}
}
