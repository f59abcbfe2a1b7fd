package domain_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// Rules 12 to 18 (the billing feed, budgets, quotas), on the world of fixture_test.go; the clock
// starts at t0 (2026-11-01 08:00 UTC). Every test ends by running the history validator on the log.

func codeOf(err error) domain.Code { return domain.ErrorCode(err) }

func TestRule12_UsageRecords(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.clock.Advance(24 * time.Hour)
	now := f.clock.Now()
	n := len(f.log.All())
	res, err := f.svc.RecordUsage(f.ctx, domain.RecordUsage{Meta: meta(billing), Records: []domain.UsageInput{
		rec("r-1", "c-d", "10.50", now.Add(-time.Hour)),
		rec("r-2", "c-r1", "1", now),
		rec("r-3", "c-d", "0.05", now.Add(4*time.Minute)),
		rec("r-1", "c-d", "10.50", now.Add(-time.Hour)),                            // the same record twice in one batch: a duplicate
		rec("r-4", "c-nobody", "1.00", now),                                        // unknown customer
		rec("r-5", "c-d", "1.00", now.Add(6*time.Minute)),                          // too far in the future
		rec("r-6", "c-d", "1.00", time.Date(2026, 9, 30, 23, 59, 59, 0, time.UTC)), // before the previous month
		rec("r-7", "c-d", "1.00", time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)),    // the previous month: late, accepted
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		dup  bool
		code domain.Code
	}{{}, {}, {}, {dup: true}, {code: domain.CodeNotFound}, {code: domain.CodeInvalid}, {code: domain.CodeInvalid}, {}}
	for i, w := range want {
		it := res.Items[i]
		if it.Duplicate != w.dup || codeOf(it.Err) != w.code {
			t.Errorf("record %d (%s): duplicate %v, error %v; want duplicate %v, code %q", i, it.RecordID, it.Duplicate, it.Err, w.dup, w.code)
		}
	}
	if got := strings.Join(f.typesAfter(n), ","); got != "usage.recorded,usage.recorded" {
		t.Fatalf("appended %s, want one usage.recorded per customer", got)
	}
	b := f.billingOf("c-d")
	if got := b.MonthToDate(now).String(); got != "10.55" {
		t.Errorf("month-to-date spend %s, want 10.55 (the October record counts for October)", got)
	}
	if got := b.Spend("2026-10").String(); got != "1.00" {
		t.Errorf("October spend %s, want 1.00", got)
	}

	// A retry is a duplicate and appends nothing; the same ID with other content is refused.
	n = len(f.log.All())
	res, err = f.svc.RecordUsage(f.ctx, domain.RecordUsage{Meta: meta(billing), Records: []domain.UsageInput{
		rec("r-1", "c-d", "10.50", now.Add(-time.Hour)),
		rec("r-2", "c-r1", "2.00", now),
		rec("r-3", "c-r1", "0.05", now.Add(4*time.Minute)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Items[0].Duplicate || res.Items[0].Err != nil {
		t.Errorf("retry: %+v, want a duplicate", res.Items[0])
	}
	for _, it := range res.Items[1:] {
		if codeOf(it.Err) != domain.CodeConflict || !strings.Contains(it.Err.Error(), "rule 12") {
			t.Errorf("record %s with other content: %v, want a rule 12 conflict", it.RecordID, it.Err)
		}
	}
	if len(f.log.All()) != n || res.Position != "" {
		t.Errorf("a batch of duplicates and refusals appended %d events, position %q", len(f.log.All())-n, res.Position)
	}

	// Batch-level refusals.
	if _, err := f.svc.RecordUsage(f.ctx, domain.RecordUsage{Meta: meta(op("dist-1")), Records: []domain.UsageInput{rec("r-9", "c-d", "1", now)}}); codeOf(err) != domain.CodeForbidden {
		t.Errorf("a partner reporting usage: %v, want forbidden", err)
	}
	big := make([]domain.UsageInput, domain.MaxUsageBatch+1)
	for i := range big {
		big[i] = rec(fmt.Sprintf("b-%d", i), "c-d", "1", now)
	}
	if _, err := f.svc.RecordUsage(f.ctx, domain.RecordUsage{Meta: meta(billing), Records: big}); codeOf(err) != domain.CodeInvalid {
		t.Errorf("1001 records: %v, want invalid", err)
	}
	if _, err := f.svc.RecordUsage(f.ctx, domain.RecordUsage{Meta: meta(billing), Records: big[:domain.MaxUsageBatch]}); err != nil {
		t.Errorf("1000 records: %v", err)
	}
	// The billing system may do nothing else.
	if _, err := freeze(billing, "c-d", acct)(f.ctx, f.svc); codeOf(err) != domain.CodeForbidden {
		t.Errorf("billing freezing a customer: %v, want forbidden", err)
	}
	f.restart() // the record index is rebuilt from the stream
	res, err = f.svc.RecordUsage(f.ctx, domain.RecordUsage{Meta: meta(billing), Records: []domain.UsageInput{rec("r-1", "c-d", "10.50", now.Add(-time.Hour))}})
	if err != nil || !res.Items[0].Duplicate {
		t.Errorf("retry after a restart: %+v, %v; want a duplicate", res.Items, err)
	}
	f.validate()
}

func TestRule12_IdempotencyKeyReturnsTheFirstResult(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	now := f.clock.Now()
	m := meta(billing)
	m.IdempotencyKey = "usage-1"
	cmd := domain.RecordUsage{Meta: m, Records: []domain.UsageInput{rec("k-1", "c-d", "1", now), rec("k-1", "c-d", "2", now), rec("k-2", "c-s", "1", now)}}
	first, err := f.svc.RecordUsage(f.ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	n := len(f.log.All())
	again, err := f.svc.RecordUsage(f.ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.log.All()) != n {
		t.Fatal("the retry appended events")
	}
	for i := range first.Items {
		a, b := first.Items[i], again.Items[i]
		if a.Duplicate != b.Duplicate || codeOf(a.Err) != codeOf(b.Err) {
			t.Errorf("item %d: first %+v, retry %+v", i, a, b)
		}
	}
	if first.Position != again.Position {
		t.Errorf("retry position %q, first %q", again.Position, first.Position)
	}
	f.validate()
}

func TestRule13_Resources(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	exp := t0.Add(30 * 24 * time.Hour)
	f.must(resource("c-d", "vm-1", domain.ProductCloud, &exp), resource("c-d", "saas-1", domain.ProductMarketplaceSaaS, nil),
		resource("c-d", "img-1", domain.ProductMarketplaceImage, nil), resource("c-d", "old-1", domain.ProductCloud, nil))
	n := len(f.log.All())
	f.must(resource("c-d", "vm-1", domain.ProductCloud, &exp)) // exactly as it is: nothing
	if len(f.log.All()) != n {
		t.Error("an unchanged report appended an event")
	}
	f.must(func(ctx contextT, s *domain.Service) (domain.Result, error) {
		return s.RemoveResource(ctx, domain.RemoveResource{Meta: meta(billing), CustomerID: "c-d", ResourceID: "old-1"})
	})
	if _, err := f.svc.RemoveResource(f.ctx, domain.RemoveResource{Meta: meta(billing), CustomerID: "c-d", ResourceID: "old-1"}); codeOf(err) != domain.CodeNotFound {
		t.Errorf("removing a removed resource: %v, want not_found", err)
	}
	if _, err := f.svc.ReportResource(f.ctx, domain.ReportResource{Meta: meta(billing), Resource: domain.ResourceReported{CustomerID: "c-d", ResourceID: "x", Service: "ecs", BillingMode: "weekly", Product: domain.ProductCloud}}); codeOf(err) != domain.CodeInvalid {
		t.Errorf("an unknown billing mode: %v, want invalid", err)
	}
	if _, err := f.svc.ReportResource(f.ctx, domain.ReportResource{Meta: meta(op("dist-1")), Resource: domain.ResourceReported{CustomerID: "c-d", ResourceID: "x", Service: "ecs", BillingMode: domain.BillingPayPerUse, Product: domain.ProductCloud}}); codeOf(err) != domain.CodeForbidden {
		t.Errorf("a partner reporting a resource: %v, want forbidden", err)
	}
	if got := f.billingOf("c-d").EarliestExpiry(); !got.Equal(exp) {
		t.Errorf("earliest expiry %v, want %v", got, exp)
	}
	// Rule 8 names what it released: all but marketplace SaaS and licences.
	f.must(freeze(op("dist-1"), "c-d", anr))
	f.clock.Advance(16 * 24 * time.Hour)
	if _, err := f.svc.ReleaseExpiredResources(f.ctx); err != nil {
		t.Fatal(err)
	}
	last := f.log.All()[len(f.log.All())-1]
	rel := decode[domain.CustomerResourcesReleased](t, last)
	if strings.Join(rel.Resources, ",") != "img-1,vm-1" {
		t.Errorf("released %v, want img-1,vm-1 (not the SaaS product)", rel.Resources)
	}
	f.must(unfreeze(op("dist-1"), "c-d", anr))
	b := f.billingOf("c-d")
	for id, want := range map[string]bool{"vm-1": true, "img-1": true, "saas-1": false} {
		if r, _ := b.Resource(id); r.Released != want {
			t.Errorf("after the unfreeze, %s released = %v, want %v", id, r.Released, want)
		}
	}
	if got := b.EarliestExpiry(); !got.IsZero() {
		t.Errorf("earliest expiry %v after vm-1 was released, want none", got)
	}
	f.validate()
}

func TestRule14_BudgetManager(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "a direct customer's partner sets its budget", when: budget(op("dist-1"), "c-d", domain.BudgetMonthly, "1000", domain.ExhaustionFreeze), then: []string{domain.EventBudgetSet}},
		{name: "the distributor sets a reseller's customer's budget", when: budget(op("dist-1"), "c-r1", domain.BudgetMonthly, "1000", domain.ExhaustionAlert), then: []string{domain.EventBudgetSet}},
		{name: "a reseller without the budget permission is refused", when: budget(op("res-1"), "c-r1", domain.BudgetMonthly, "10", domain.ExhaustionAlert), code: domain.CodeForbidden, rule: "rule 14"},
		{name: "the freeze permission is not the budget permission", given: []cmd{deleg(op("dist-1"), "res-1", true, false)},
			when: budget(op("res-1"), "c-r1", domain.BudgetMonthly, "10", domain.ExhaustionAlert), code: domain.CodeForbidden, rule: "rule 14"},
		{name: "with the budget permission the reseller sets it (within its quota), and the distributor no longer does",
			given: []cmd{deleg(op("dist-1"), "res-1", false, true), quota(op("dist-1"), "res-1", "100", "0"), budget(op("res-1"), "c-r1", domain.BudgetMonthly, "10", domain.ExhaustionAlert)},
			when:  budget(op("dist-1"), "c-r1", domain.BudgetMonthly, "10", domain.ExhaustionAlert), code: domain.CodeForbidden, rule: "rule 14"},
		{name: "a frozen partner sets no budget (rule 3)", given: []cmd{freezeP(platform, "dist-1")},
			when: budget(op("dist-1"), "c-d", domain.BudgetMonthly, "10", domain.ExhaustionAlert), code: domain.CodeActorFrozen},
		{name: "another channel's customer is not found", when: budget(op("dist-2"), "c-d", domain.BudgetMonthly, "10", domain.ExhaustionAlert), code: domain.CodeNotFound},
		{name: "the platform sets no budget", when: budget(platform, "c-d", domain.BudgetMonthly, "10", domain.ExhaustionAlert), code: domain.CodeForbidden},
		{name: "an amount of 0 is refused", when: budget(op("dist-1"), "c-d", domain.BudgetMonthly, "0", domain.ExhaustionAlert), code: domain.CodeInvalid},
		{name: "an unknown policy is refused", when: budget(op("dist-1"), "c-d", domain.BudgetMonthly, "1", "warn"), code: domain.CodeInvalid},
	})
}

func TestRule15_CountedSpend(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	now := f.clock.Now()
	f.must(usage(rec("a", "c-d", "100", now.Add(-time.Hour)), rec("early", "c-d", "1", now.Add(3*time.Minute))))
	f.clock.Advance(time.Minute)
	f.must(budget(op("dist-1"), "c-d", domain.BudgetOneTime, "1000", domain.ExhaustionAlert))
	v, _ := f.billingOf("c-d").View(f.clock.Now())
	if v.CountedSpend.String() != "1.00" || v.Period != "" {
		t.Errorf("one-time budget counts %s (period %q), want 1.00: only the record dated after it was set", v.CountedSpend, v.Period)
	}
	f.must(budget(op("dist-1"), "c-d", domain.BudgetMonthly, "1000", domain.ExhaustionAlert))
	v, _ = f.billingOf("c-d").View(f.clock.Now())
	if v.CountedSpend.String() != "101.00" || v.Period != "2026-11" || v.UsagePercent != "10.10" {
		t.Errorf("monthly budget: %+v, want 101.00 counted in 2026-11, 10.10 %%", v)
	}
	f.must(func(ctx contextT, s *domain.Service) (domain.Result, error) {
		return s.RemoveBudget(ctx, domain.RemoveBudget{Meta: meta(op("dist-1")), CustomerID: "c-d"})
	})
	if _, ok := f.billingOf("c-d").View(f.clock.Now()); ok {
		t.Error("the budget is still there after its removal")
	}
	if _, err := f.svc.RemoveBudget(f.ctx, domain.RemoveBudget{Meta: meta(op("dist-1")), CustomerID: "c-d"}); codeOf(err) != domain.CodeNotFound {
		t.Errorf("removing no budget: %v, want not_found", err)
	}
	f.validate()
}

func thresholdsOf(t *testing.T, f *fixture, customer string) []int {
	t.Helper()
	var out []int
	for _, ev := range f.log.All() {
		if ev.Type == domain.EventBudgetThresholdReached {
			if d := decode[domain.BudgetThresholdReached](t, ev); d.CustomerID == customer {
				out = append(out, d.Threshold)
				if m := metaOf(t, ev); m.Actor != domain.SystemActor {
					t.Errorf("threshold event by %+v, want the system", m.Actor)
				}
			}
		}
	}
	return out
}

func TestRule16_ThresholdsOncePerSettingAndPeriod(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	now := f.clock.Now()
	f.must(budget(op("dist-1"), "c-d", domain.BudgetMonthly, "100", domain.ExhaustionAlert))
	f.must(usage(rec("1", "c-d", "74.99", now)))
	if got := thresholdsOf(t, f, "c-d"); len(got) != 0 {
		t.Fatalf("thresholds %v at 74.99 %%", got)
	}
	f.must(usage(rec("2", "c-d", "0.01", now)))                                             // exactly 75 %
	f.must(usage(rec("3", "c-d", "20", now)))                                               // 95 %: 90
	f.must(usage(rec("4", "c-d", "1", now), rec("5", "c-d", "10", now)))                    // 106 %: 100
	f.must(usage(rec("6", "c-d", "50", now)))                                               // nothing more
	f.must(usage(rec("late", "c-d", "500", time.Date(2026, 10, 15, 0, 0, 0, 0, time.UTC)))) // a late October record: not this period
	if got := fmt.Sprint(thresholdsOf(t, f, "c-d")); got != "[75 90 100]" {
		t.Fatalf("thresholds %s, want [75 90 100] once each", got)
	}
	// A new setting re-arms; a threshold already passed when it is set is reached at once.
	n := len(f.log.All())
	f.must(budget(op("dist-1"), "c-d", domain.BudgetMonthly, "200", domain.ExhaustionAlert))
	if got := strings.Join(f.typesAfter(n), ","); got != "budget.set,budget.threshold_reached" {
		t.Errorf("setting a budget of 200 at 156 spent: %s, want the set and 75 at once", got)
	}
	if got := fmt.Sprint(thresholdsOf(t, f, "c-d")); got != "[75 90 100 75]" {
		t.Errorf("thresholds %s", got)
	}
	f.validate()
}

func TestRule16_ConcurrentRecordsFireEachThresholdOnce(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(unfreeze(op("dist-1"), "c-d", acct))
	f.must(budget(op("dist-1"), "c-d", domain.BudgetMonthly, "100", domain.ExhaustionFreeze))
	now := f.clock.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				// Out of order: times go backwards within the month.
				at := now.Add(-time.Duration(g*10+i) * time.Minute)
				if _, err := usage(rec(fmt.Sprintf("g%d-%d", g, i), "c-d", "2.5", at))(f.ctx, f.svc); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if got := fmt.Sprint(thresholdsOf(t, f, "c-d")); got != "[75 90 100]" {
		t.Errorf("thresholds %s under concurrency, want [75 90 100]", got)
	}
	freezes := 0
	for _, ev := range f.log.All() {
		if ev.Type == domain.EventCustomerFrozen && decode[domain.CustomerFrozen](t, ev).Origin == domain.OriginBudget {
			freezes++
		}
	}
	if freezes != 1 {
		t.Errorf("%d budget freezes, want 1", freezes)
	}
	f.validate()
}

func TestRule17_BudgetFreezeAndMonthlyReset(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(unfreeze(op("dist-1"), "c-d", acct), unfreeze(op("dist-1"), "c-r1", acct))
	now := f.clock.Now()
	f.must(budget(op("dist-1"), "c-d", domain.BudgetMonthly, "1000", domain.ExhaustionFreeze))
	f.must(budget(op("dist-1"), "c-r1", domain.BudgetOneTime, "10", domain.ExhaustionFreeze))
	n := len(f.log.All())
	f.must(usage(rec("1", "c-d", "1020", now)))
	if got := strings.Join(f.typesAfter(n), ","); got != "usage.recorded,budget.threshold_reached,budget.threshold_reached,budget.threshold_reached,customer.frozen" {
		t.Fatalf("at 102 %%: %s", got)
	}
	fr := f.log.All()[len(f.log.All())-1]
	d := decode[domain.CustomerFrozen](t, fr)
	if d.Origin != domain.OriginBudget || d.FreezeType != acct || d.Reason != "budget exhausted: 1,020.00 of 1,000.00" || metaOf(t, fr).Actor != domain.SystemActor {
		t.Errorf("budget freeze %+v by %+v", d, metaOf(t, fr).Actor)
	}
	f.must(usage(rec("2", "c-r1", "10", now)))
	if cu := f.customer("c-r1"); !cu.Frozen || cu.Origin != domain.OriginBudget {
		t.Errorf("one-time budget exhausted: %+v", cu)
	}

	// The reset: not a millisecond early, then once, at 00:00 UTC on the 1st.
	f.clock.Set(time.Date(2026, 11, 30, 23, 59, 59, 999e6, time.UTC))
	if k, err := f.svc.ResetBudgets(f.ctx); err != nil || k != 0 {
		t.Fatalf("reset before the month ended: %d, %v", k, err)
	}
	f.clock.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	n = len(f.log.All())
	if k, err := f.svc.ResetBudgets(f.ctx); err != nil || k != 1 {
		t.Fatalf("reset on the 1st: %d, %v; want 1 (the one-time budget never resets)", k, err)
	}
	if got := strings.Join(f.typesAfter(n), ","); got != "budget.reset,customer.unfrozen" {
		t.Errorf("the reset appended %s", got)
	}
	if k, _ := f.svc.ResetBudgets(f.ctx); k != 0 {
		t.Errorf("a second run reset %d budgets", k)
	}
	f.restart()
	if k, _ := f.svc.ResetBudgets(f.ctx); k != 0 {
		t.Errorf("after a restart a run reset %d budgets", k)
	}
	if cu := f.customer("c-d"); cu.Frozen {
		t.Errorf("c-d still frozen after the reset: %+v", cu)
	}
	if cu := f.customer("c-r1"); !cu.Frozen {
		t.Error("the one-time budget's freeze was lifted")
	}
	v, _ := f.billingOf("c-d").View(f.clock.Now())
	if v.Period != "2026-12" || v.CountedSpend != 0 || len(v.Thresholds) != 0 {
		t.Errorf("after the reset: %+v", v)
	}
	// A late November record does not count for December.
	f.must(usage(rec("late", "c-d", "999", time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC))))
	if v, _ := f.billingOf("c-d").View(f.clock.Now()); v.CountedSpend != 0 {
		t.Errorf("a late record counted %s in December", v.CountedSpend)
	}
	f.validate()
}

func TestRule17_ResetOnLeapDayAndLazily(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(unfreeze(op("dist-1"), "c-d", acct))
	f.clock.Set(time.Date(2028, 2, 28, 12, 0, 0, 0, time.UTC))
	f.must(budget(op("dist-1"), "c-d", domain.BudgetMonthly, "10", domain.ExhaustionFreeze))
	f.clock.Set(time.Date(2028, 2, 29, 23, 0, 0, 0, time.UTC)) // a leap day: still February
	f.must(usage(rec("1", "c-d", "10", f.clock.Now())))
	if k, _ := f.svc.ResetBudgets(f.ctx); k != 0 {
		t.Errorf("reset on February 29th: %d", k)
	}
	// No reset job ran: the first record of March resets the budget first, in the same append.
	f.clock.Set(time.Date(2028, 3, 1, 0, 0, 1, 0, time.UTC))
	n := len(f.log.All())
	f.must(usage(rec("2", "c-d", "1", f.clock.Now())))
	if got := strings.Join(f.typesAfter(n), ","); got != "budget.reset,customer.unfrozen,usage.recorded" {
		t.Errorf("the first March record: %s", got)
	}
	last := f.log.All()[n]
	if d := decode[domain.BudgetReset](t, last); d.Period != "2028-03" || d.PreviousPeriod != "2028-02" {
		t.Errorf("reset %+v", d)
	}
	f.validate()
}

func TestRule17_SettingABudgetMayUnfreeze(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	now := f.clock.Now()
	f.must(usage(rec("1", "c-d", "50", now)))
	set := func(a domain.Actor, amount string, unfreeze bool, reason string) error {
		_, err := f.svc.SetBudget(f.ctx, domain.SetBudget{Meta: meta(a), CustomerID: "c-d", Budget: domain.BudgetSpec{Type: domain.BudgetMonthly, Amount: money(t, amount), OnExhaustion: domain.ExhaustionFreeze}, Unfreeze: unfreeze, Reason: reason})
		return err
	}
	n := len(f.log.All())
	if err := set(op("dist-1"), "50", true, "new budget"); codeOf(err) != domain.CodeConflict || !strings.Contains(err.Error(), "rule 17") {
		t.Errorf("unfreezing under an exhausted freeze budget: %v", err)
	}
	if err := set(op("dist-1"), "100", true, ""); codeOf(err) != domain.CodeInvalid {
		t.Errorf("unfreeze without a reason: %v", err)
	}
	if len(f.log.All()) != n {
		t.Fatal("refusals appended events")
	}
	if err := set(op("dist-1"), "60", true, "new budget"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.typesAfter(n), ","); got != "budget.set,budget.threshold_reached,customer.unfrozen" {
		t.Errorf("set and unfreeze: %s", got)
	}
	if cu := f.customer("c-d"); cu.Frozen {
		t.Error("still frozen")
	}
	if err := set(op("dist-1"), "60", true, "again"); codeOf(err) != domain.CodeConflict {
		t.Errorf("unfreezing an active customer: %v, want conflict", err)
	}
	f.validate()
}

func TestRule17_AlertPolicyAndFrozenCustomers(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	now := f.clock.Now()
	f.must(unfreeze(op("dist-1"), "c-d", acct))
	f.must(budget(op("dist-1"), "c-d", domain.BudgetMonthly, "10", domain.ExhaustionAlert))
	f.must(budget(op("dist-1"), "c-r1", domain.BudgetMonthly, "10", domain.ExhaustionFreeze)) // c-r1 is still frozen (rule 1)
	n := len(f.log.All())
	f.must(usage(rec("1", "c-d", "20", now), rec("2", "c-r1", "20", now)))
	for _, ev := range f.log.All()[n:] {
		if ev.Type == domain.EventCustomerFrozen {
			t.Errorf("a freeze under an alert policy or of a frozen customer: %s", ev.Data)
		}
	}
	if cu := f.customer("c-r1"); cu.Origin != domain.OriginAssociation {
		t.Errorf("c-r1's freeze origin %s, want association", cu.Origin)
	}
	f.validate()
}

func TestRule18_Quotas(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(deleg(op("dist-1"), "res-1", false, true))
	if _, err := budget(op("res-1"), "c-r1", domain.BudgetMonthly, "1", domain.ExhaustionAlert)(f.ctx, f.svc); codeOf(err) != domain.CodeConflict {
		t.Errorf("a budget over the default quota of 0: %v, want conflict", err)
	}
	f.must(quota(op("dist-1"), "res-1", "100", "50"))
	for _, c := range []struct {
		who  domain.Actor
		r    string
		m, o string
		code domain.Code
	}{{op("res-1"), "res-1", "1", "1", domain.CodeForbidden}, {op("dist-2"), "res-1", "1", "1", domain.CodeNotFound}, {op("dist-1"), "dist-1", "1", "1", domain.CodeForbidden}} {
		_, err := quota(c.who, c.r, c.m, c.o)(f.ctx, f.svc)
		if codeOf(err) != c.code && !(c.code == domain.CodeNotFound && codeOf(err) == domain.CodeForbidden) {
			t.Errorf("%s setting %s's quota: %v, want %s", c.who.Name, c.r, err, c.code)
		}
	}
	f.must(budget(op("res-1"), "c-r1", domain.BudgetMonthly, "60", domain.ExhaustionAlert))
	f.must(budget(op("res-1"), "c-r1", domain.BudgetMonthly, "100", domain.ExhaustionAlert)) // replaces: 100, not 160
	if _, err := quota(op("dist-1"), "res-1", "99", "50")(f.ctx, f.svc); codeOf(err) != domain.CodeConflict {
		t.Errorf("lowering the quota below the allocation: %v, want conflict", err)
	}
	if p := f.partner("res-1"); p.Quota.MonthlyAllocated.String() != "100.00" {
		t.Errorf("allocated %s, want 100.00", p.Quota.MonthlyAllocated)
	}
	// Revoking the permission keeps the budget; the distributor then manages it (and frees the quota).
	f.must(deleg(op("dist-1"), "res-1", false, false))
	if _, ok := f.billingOf("c-r1").Budget(); !ok {
		t.Error("revoking the permission removed the budget")
	}
	f.must(budget(op("dist-1"), "c-r1", domain.BudgetMonthly, "5000", domain.ExhaustionAlert))
	if p := f.partner("res-1"); p.Quota.MonthlyAllocated != 0 {
		t.Errorf("allocated %s after the distributor replaced the budget, want 0", p.Quota.MonthlyAllocated)
	}
	f.validate()
}

func TestRule18_RacingBudgetsNeverExceedTheQuota(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(deleg(op("dist-1"), "res-1", false, true), quota(op("dist-1"), "res-1", "100", "0"))
	var ids []string
	for i := range 12 {
		id := fmt.Sprintf("c-q%d", i)
		ids = append(ids, id)
		f.must(assoc(op("res-1"), id, "res-1"))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := budget(op("res-1"), id, domain.BudgetMonthly, "30", domain.ExhaustionAlert)(f.ctx, f.svc)
			switch {
			case err == nil:
				mu.Lock()
				ok++
				mu.Unlock()
			case codeOf(err) != domain.CodeConflict:
				t.Error(err)
			}
		}()
	}
	wg.Add(1)
	go func() { // the distributor lowering the quota races them
		defer wg.Done()
		_, _ = quota(op("dist-1"), "res-1", "60", "0")(f.ctx, f.svc)
	}()
	wg.Wait()
	p := f.partner("res-1")
	if p.Quota.MonthlyAllocated > p.Quota.Monthly || p.Quota.MonthlyAllocated != money(t, "30")*domain.Money(ok) {
		t.Errorf("%d budgets of 30 set, allocated %s, quota %s", ok, p.Quota.MonthlyAllocated, p.Quota.Monthly)
	}
	if ok == 0 || ok > 3 {
		t.Errorf("%d budgets of 30 under a quota of at most 100", ok)
	}
	f.validate()
}

func TestValidatorRejectsForgedBudgetEvents(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(unfreeze(op("dist-1"), "c-d", acct), budget(op("dist-1"), "c-d", domain.BudgetMonthly, "100", domain.ExhaustionFreeze))
	f.must(usage(rec("1", "c-d", "50", f.clock.Now())))
	good := f.log.All()
	last := good[len(good)-1]
	forge := func(typ string, data any) []domain.StoredEvent {
		ev := last
		ev.ID = [16]byte{1, 2, 3}
		ev.Revision++
		ev.Position = "999999"
		ev.Type = typ
		ev.Data, _ = jsonMarshal(data)
		m := metaOf(t, last)
		m.Actor = domain.SystemActor
		m.SchemaVersion = 1
		ev.Metadata, _ = jsonMarshal(m)
		return append(append([]domain.StoredEvent{}, good...), ev)
	}
	for name, c := range map[string]struct {
		evs  []domain.StoredEvent
		rule string
	}{
		"a budget freeze at 50 %":  {forge(domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: "c-d", FreezeType: acct, Origin: domain.OriginBudget, Reason: "budget exhausted: 50.00 of 100.00"}), "rule 17"},
		"a threshold fired again":  {forge(domain.EventBudgetThresholdReached, domain.BudgetThresholdReached{CustomerID: "c-d", Threshold: 75, Period: "2026-11", CountedSpend: money(t, "50"), Amount: money(t, "100")}), "rule 16"},
		"a reset inside its month": {forge(domain.EventBudgetReset, domain.BudgetReset{CustomerID: "c-d", Period: "2026-11", PreviousPeriod: "2026-11"}), "rule 17"},
	} {
		err := domain.ValidateHistory(c.evs, domain.HistoryOptions{Retention: f.opts.Retention})
		var v *domain.Violation
		if !errors.As(err, &v) || v.Rule != c.rule || v.Position != "999999" {
			t.Errorf("%s: %v, want a %s violation at the forged event", name, err, c.rule)
		}
	}
	f.validate()
}

// TestCascadeStartsNoRetention is the decision of issue 14 (docs/RULES.md, "Retention under a
// partner cascade"): a partner freeze starts no retention for the customers below it, whose own
// state it does not change (rule 7); a customer's own ACCOUNT_AND_RESOURCE freeze under a frozen
// partner still runs its retention.
func TestCascadeStartsNoRetention(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(unfreeze(op("dist-1"), "c-r2", acct))
	f.must(freeze(op("dist-1"), "c-d", anr))
	f.must(freezeP(platform, "dist-1"))
	f.clock.Advance(16 * 24 * time.Hour)
	n, err := f.svc.ReleaseExpiredResources(f.ctx)
	if err != nil || n != 1 {
		t.Fatalf("released %d (%v), want 1: c-d's own freeze, not the cascade", n, err)
	}
	if cu := f.customer("c-r2"); cu.Frozen || cu.ResourcesReleased || !cu.RetentionDeadline.IsZero() {
		t.Errorf("a customer under the cascade: %+v", cu)
	}
	if cu := f.customer("c-d"); !cu.ResourcesReleased {
		t.Errorf("c-d's own ACCOUNT_AND_RESOURCE freeze was not released under the partner freeze: %+v", cu)
	}
	f.validate()
}
