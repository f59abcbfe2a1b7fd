package domain

// A customer's billing state (rules 12 to 17): its spend per month, its budget and its resources,
// folded from its billing events. The channel keeps one per customer with any billing event, and the
// read models fold the same type, so the two cannot disagree on counted spend, thresholds or periods.

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Period is the calendar month (UTC) of t as "2006-01", the period of a monthly budget.
func Period(t time.Time) string { return t.UTC().Format("2006-01") }

// monthStart is 00:00 UTC on the 1st of t's month.
func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Thresholds are the budget usage percentages that raise an alert (rule 16), in order.
var Thresholds = [...]int{75, 90, 100}

// Resource is a customer's resource as the billing system reported it (rule 13). ExpiresAt is zero
// when it has no expiry; Released is set when rule 8's release named it.
type Resource struct {
	ID          string
	Service     string
	BillingMode BillingMode
	Product     ProductKind
	ExpiresAt   time.Time
	Released    bool
}

// Budget is a customer's budget setting (rule 15) and what it reached in its period (rule 16).
type Budget struct {
	Type         BudgetType
	Amount       Money
	OnExhaustion Exhaustion
	SetAt        time.Time
	SetBy        string // the actor name
	ChargedTo    string // the reseller whose quota it uses (rule 18), "" for none
	Period       string // monthly: the month it counts; "" for one-time
	Reached      uint8  // bit i: Thresholds[i] reached in this setting and period

	oneTimeSpend Money // one-time: the records at or after SetAt
}

type monthSpend struct {
	period string
	sum    Money
}

type usageEntry struct {
	time   time.Time
	amount Money
}

// CustomerBilling is one customer's billing state. The zero value is empty. It is a value the
// channel copies on write (clone): methods that change it are used by apply only.
type CustomerBilling struct {
	months    []monthSpend // ascending by period, the last few months only
	future    []usageEntry // records dated after the event that recorded them (at most 5 minutes)
	budget    *Budget
	resources map[string]Resource
	records   int
}

// clone is a deep copy.
func (b *CustomerBilling) clone() *CustomerBilling {
	cp := *b
	cp.months = slices.Clone(b.months)
	cp.future = slices.Clone(b.future)
	if b.budget != nil {
		bb := *b.budget
		cp.budget = &bb
	}
	cp.resources = maps.Clone(b.resources)
	return &cp
}

// Budget returns the budget setting, or false when there is none.
func (b *CustomerBilling) Budget() (Budget, bool) {
	if b == nil || b.budget == nil {
		return Budget{}, false
	}
	return *b.budget, true
}

// Records is how many usage records the customer has.
func (b *CustomerBilling) Records() int {
	if b == nil {
		return 0
	}
	return b.records
}

// Spend is the sum of the records of month period ("2006-01").
func (b *CustomerBilling) Spend(period string) Money {
	if b == nil {
		return 0
	}
	for _, m := range b.months {
		if m.period == period {
			return m.sum
		}
	}
	return 0
}

// MonthToDate is the month-to-date expenditure at now: the sum of the records of now's month (rule 12).
func (b *CustomerBilling) MonthToDate(now time.Time) Money { return b.Spend(Period(now)) }

// Resources returns the resources, sorted by ID.
func (b *CustomerBilling) Resources() []Resource {
	if b == nil {
		return nil
	}
	out := make([]Resource, 0, len(b.resources))
	for _, r := range b.resources {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y Resource) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// ResourceCount is how many resources the customer has.
func (b *CustomerBilling) ResourceCount() int {
	if b == nil {
		return 0
	}
	return len(b.resources)
}

// Resource returns resource id.
func (b *CustomerBilling) Resource(id string) (Resource, bool) {
	if b == nil {
		return Resource{}, false
	}
	r, ok := b.resources[id]
	return r, ok
}

// EarliestExpiry is the earliest ExpiresAt of the resources not released (zero if none).
func (b *CustomerBilling) EarliestExpiry() time.Time {
	var out time.Time
	if b == nil {
		return out
	}
	for _, r := range b.resources {
		if !r.Released && !r.ExpiresAt.IsZero() && (out.IsZero() || r.ExpiresAt.Before(out)) {
			out = r.ExpiresAt
		}
	}
	return out
}

// counted is the counted spend of the current setting and period (rule 15).
func (b *CustomerBilling) counted() Money {
	if b.budget == nil {
		return 0
	}
	if b.budget.Type == BudgetMonthly {
		return b.Spend(b.budget.Period)
	}
	return b.budget.oneTimeSpend
}

// countedFor is what a budget of type t set at now would count at once.
func (b *CustomerBilling) countedFor(t BudgetType, now time.Time) Money {
	if b == nil {
		return 0
	}
	if t == BudgetMonthly {
		return b.Spend(Period(now))
	}
	var sum Money
	for _, u := range b.future {
		if !u.time.Before(now) {
			sum = AddMoney(sum, u.amount)
		}
	}
	return sum
}

// resetDue reports whether a monthly budget still counts a month before now's (rule 17).
func (b *CustomerBilling) resetDue(now time.Time) bool {
	return b != nil && b.budget != nil && b.budget.Type == BudgetMonthly && b.budget.Period < Period(now)
}

// BudgetView is a budget as reads show it at a moment: a monthly budget whose reset is due (the 1st
// has come, the system has not appended budget.reset yet) is shown as it will be after the reset.
type BudgetView struct {
	Budget
	CountedSpend Money
	UsagePercent string // two fraction digits
	Thresholds   []int  // reached, ascending
	Exhausted    bool
}

// View returns the budget at now, or false when there is none.
func (b *CustomerBilling) View(now time.Time) (BudgetView, bool) {
	if b == nil || b.budget == nil {
		return BudgetView{}, false
	}
	v := BudgetView{Budget: *b.budget, CountedSpend: b.counted()}
	if b.resetDue(now) {
		v.Period, v.Reached = Period(now), 0
		v.CountedSpend = b.Spend(v.Period)
	}
	v.UsagePercent = UsagePercent(v.CountedSpend, v.Amount)
	v.Thresholds = []int{}
	for i, t := range Thresholds {
		if v.Reached&(1<<i) != 0 {
			v.Thresholds = append(v.Thresholds, t)
		}
	}
	v.Exhausted = reachedPercent(v.CountedSpend, v.Amount, 100)
	return v, true
}

// keepMonths is how many months of spend are kept: the previous, the current and the next (a record
// may be dated up to 5 minutes ahead, past a month end), and one spare.
const keepMonths = 4

// Apply folds one billing event into the state. at is the event's time, actor its actor. Events of
// other types are ignored; like Channel.apply it never validates and never fails.
func (b *CustomerBilling) Apply(data any, at time.Time, actor Actor) {
	switch d := data.(type) {
	case *UsageRecorded:
		for _, r := range d.Records {
			b.records++
			b.addToMonth(Period(r.Time), r.Amount)
			if r.Time.After(at) {
				b.future = append(b.future, usageEntry{r.Time, r.Amount})
			}
			if bu := b.budget; bu != nil && bu.Type == BudgetOneTime && !r.Time.Before(bu.SetAt) {
				bu.oneTimeSpend = AddMoney(bu.oneTimeSpend, r.Amount)
			}
		}
		b.future = slices.DeleteFunc(b.future, func(u usageEntry) bool { return !u.time.After(at) })
	case *BudgetSet:
		nb := &Budget{Type: d.Type, Amount: d.Amount, OnExhaustion: d.OnExhaustion, SetAt: at, SetBy: actor.Name, ChargedTo: d.ChargedTo, Period: d.Period}
		if d.Type == BudgetOneTime {
			nb.oneTimeSpend = b.countedFor(BudgetOneTime, at)
		}
		b.budget = nb
	case *BudgetRemoved, *DisassociationAccepted: // a budget ends with the association (rule 20)
		b.budget = nil
	case *BudgetThresholdReached:
		if b.budget != nil {
			for i, t := range Thresholds {
				if t == d.Threshold {
					b.budget.Reached |= 1 << i
				}
			}
		}
	case *BudgetReset:
		if b.budget != nil {
			b.budget.Period, b.budget.Reached = d.Period, 0
		}
	case *ResourceReported:
		if b.resources == nil {
			b.resources = map[string]Resource{}
		}
		r := Resource{ID: d.ResourceID, Service: d.Service, BillingMode: d.BillingMode, Product: d.Product}
		if d.ExpiresAt != nil {
			r.ExpiresAt = d.ExpiresAt.UTC()
		}
		b.resources[d.ResourceID] = r
	case *ResourceRemoved:
		delete(b.resources, d.ResourceID)
	case *CustomerResourcesReleased:
		for _, id := range d.Resources {
			if r, ok := b.resources[id]; ok {
				r.Released = true
				b.resources[id] = r
			}
		}
	}
}

func (b *CustomerBilling) addToMonth(period string, amount Money) {
	i, found := slices.BinarySearchFunc(b.months, period, func(m monthSpend, p string) int { return strings.Compare(m.period, p) })
	if found {
		b.months[i].sum = AddMoney(b.months[i].sum, amount)
		return
	}
	b.months = slices.Insert(b.months, i, monthSpend{period, amount})
	if len(b.months) > keepMonths {
		b.months = slices.Delete(b.months, 0, len(b.months)-keepMonths)
	}
}

// releasable is the sorted IDs of the resources rule 8's release reaches (rule 13).
func (b *CustomerBilling) releasable() []string {
	if b == nil {
		return nil
	}
	var out []string
	for id, r := range b.resources {
		if !r.Released && r.Product.AffectedByResourceFreeze() {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
