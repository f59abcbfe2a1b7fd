package projections

// The search's billing filters (rules 12 to 17): month-to-date spend, budget usage and type, and the
// earliest resource expiry. Each decides on what the customer's status shows at the search's cut:
// the billing read model's fold as of the cut (billingAt), at the status's reference time (refAt),
// so a search as of a past moment is the search over that log prefix. None has an index: alone, a
// billing filter walks the customers from the cursor on until a page is full (docs/BENCHMARKS.md),
// except that mtd_spend_min above 0 and the resource expiry bounds skip the blocks of customers
// where nobody can match (the zone maps of searchzones.go).

import (
	"math"
	"math/bits"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// compileBillingFilters returns the billing filters of f. Errors: invalid, naming the parameter.
func compileBillingFilters(f *SearchFilter) ([]customerFilter, error) {
	var out []customerFilter
	if f.MTDSpendMin != "" || f.MTDSpendMax != "" {
		mf := &mtdSpendFilter{lo: 0, hi: math.MaxInt64}
		var err error
		if f.MTDSpendMin != "" {
			if mf.lo, err = domain.ParseMoney("mtd_spend_min", f.MTDSpendMin); err != nil {
				return nil, err
			}
		}
		if f.MTDSpendMax != "" {
			if mf.hi, err = domain.ParseMoney("mtd_spend_max", f.MTDSpendMax); err != nil {
				return nil, err
			}
		}
		out = append(out, mf)
	}
	if f.BudgetUsageMin != "" || f.BudgetUsageMax != "" {
		bf := budgetUsageFilter{0, math.MaxInt64}
		var err error
		if f.BudgetUsageMin != "" {
			if bf.lo, err = ParsePercent("budget_usage_min", f.BudgetUsageMin); err != nil {
				return nil, err
			}
		}
		if f.BudgetUsageMax != "" {
			if bf.hi, err = ParsePercent("budget_usage_max", f.BudgetUsageMax); err != nil {
				return nil, err
			}
		}
		out = append(out, bf)
	}
	switch f.BudgetType {
	case "":
	case string(domain.BudgetMonthly), string(domain.BudgetOneTime), BudgetTypeNone:
		out = append(out, budgetTypeFilter{f.BudgetType})
	default:
		return nil, domain.Errorf(domain.CodeInvalid, "budget_type %q is not monthly, one_time or none", f.BudgetType)
	}
	if f.ResourceExpiresAfter != "" || f.ResourceExpiresBefore != "" {
		var rf resourceExpiryFilter
		for _, t := range []struct {
			name, s string
			dst     *time.Time
			has     *bool
		}{{"resource_expires_after", f.ResourceExpiresAfter, &rf.after, &rf.hasAfter}, {"resource_expires_before", f.ResourceExpiresBefore, &rf.before, &rf.hasBefore}} {
			if t.s == "" {
				continue
			}
			tm, err := time.Parse(time.RFC3339Nano, t.s)
			if err != nil {
				return nil, domain.Errorf(domain.CodeInvalid, "%s is not an RFC 3339 time", t.name)
			}
			*t.dst, *t.has = tm, true
		}
		out = append(out, rf)
	}
	return out, nil
}

// ParsePercent parses a budget usage percentage as the status writes it ("81.20"): digits,
// optionally a point and one or two fraction digits, at least 0, in hundredths of a percent. Errors
// are invalid, naming field.
func ParsePercent(field, s string) (int64, error) {
	m, err := domain.ParseMoney(field, s)
	if err != nil {
		return 0, domain.Errorf(domain.CodeInvalid, "%s is not a percentage (a decimal such as \"81.20\", at least 0, at most 1000000000000, at most 2 fraction digits)", field)
	}
	return int64(m), nil
}

// mtdSpendFilter: the month-to-date spend at the reference time is in [lo, hi]. It keeps the
// reference month of the last cut it saw (one search has one cut), so that a page does not format
// the month once per candidate.
type mtdSpendFilter struct {
	lo, hi domain.Money
	month  *refMonth
}

type refMonth struct {
	cut    uint32
	period string
}

func (*mtdSpendFilter) index(*state) ([][]uint32, bool) { return nil, false }
func (*mtdSpendFilter) stateful() bool                  { return true }
func (f *mtdSpendFilter) match(s *state, ci uint32, _ *customer, v *view) bool {
	if f.month == nil || f.month.cut != v.cut {
		f.month = &refMonth{v.cut, domain.Period(s.refAt(v.cut))}
	}
	spend := s.billingAt(ci, v.cut).Spend(f.month.period)
	return spend >= f.lo && spend <= f.hi
}

// budgetUsageFilter: the budget's usage_percent, in hundredths of a percent, is in [lo, hi].
type budgetUsageFilter struct{ lo, hi int64 }

func (budgetUsageFilter) index(*state) ([][]uint32, bool) { return nil, false }
func (budgetUsageFilter) stateful() bool                  { return true }
func (f budgetUsageFilter) match(s *state, ci uint32, _ *customer, v *view) bool {
	b, ok := s.billingAt(ci, v.cut).View(s.refAt(v.cut))
	if !ok {
		return false
	}
	u := usageHundredths(b.CountedSpend, b.Amount)
	return u >= f.lo && u <= f.hi
}

// usageHundredths is domain.UsagePercent as a number: spend ÷ amount in hundredths of a percent,
// rounded down, saturated at math.MaxInt64 (TestUsageHundredthsEqualsUsagePercent holds the two
// equal).
func usageHundredths(spend, amount domain.Money) int64 {
	if amount <= 0 || spend < 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(spend), 10000)
	if hi >= uint64(amount) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(amount))
	return int64(min(q, math.MaxInt64))
}

// budgetTypeFilter: the budget's type is typ, or the customer has none (BudgetTypeNone).
type budgetTypeFilter struct{ typ string }

func (budgetTypeFilter) index(*state) ([][]uint32, bool) { return nil, false }
func (budgetTypeFilter) stateful() bool                  { return true }
func (f budgetTypeFilter) match(s *state, ci uint32, _ *customer, v *view) bool {
	b, ok := s.billingAt(ci, v.cut).Budget()
	if !ok {
		return f.typ == BudgetTypeNone
	}
	return string(b.Type) == f.typ
}

// resourceExpiryFilter: the earliest expiry of the resources not released is strictly after after
// and strictly before before, each when given. The times are compared as time.Time, not as Unix
// nanoseconds (unixNanos): an expiry may be any RFC 3339 time up to 9999, and saturating both it and
// a bound past 2262 would make them equal.
type resourceExpiryFilter struct {
	after, before       time.Time
	hasAfter, hasBefore bool
}

func (resourceExpiryFilter) index(*state) ([][]uint32, bool) { return nil, false }
func (resourceExpiryFilter) stateful() bool                  { return true }
func (f resourceExpiryFilter) match(s *state, ci uint32, _ *customer, v *view) bool {
	e := s.billingAt(ci, v.cut).EarliestExpiry()
	return !e.IsZero() && (!f.hasAfter || e.After(f.after)) && (!f.hasBefore || e.Before(f.before))
}
