package domain

// The budget decisions (rules 14 to 18): setting and removing a budget (its budget manager, within
// a reseller's quota), the system's follow-ups of a change in counted spend (thresholds, the budget
// freeze), the monthly reset, and a distributor's quotas.
//
// Follow-ups. budgetFollowUps is a pure function of the channel state: after any event that can
// change a budget's counted spend or setting (usage.recorded, budget.set, budget.reset) the service
// appends, in the same append and as the system actor, exactly the events it returns, and the
// history validator requires exactly those to come next in the stream. So a threshold fires once per
// setting and period (its bit is set by its own event, and only budget.set and budget.reset clear
// the bits), a budget freeze only follows recorded spend that reached 100 % of a freeze budget, and
// out-of-order or concurrent records change nothing of that: they are decided one group at a time
// in the channel's order.

import (
	"fmt"
	"time"
)

// BudgetResetReason is the reason of the system's unfreeze at a monthly reset (rule 17).
const BudgetResetReason = "monthly budget reset (rule 17)"

// budgetFreezeReason names spend and amount (DOMAIN.md: "budget exhausted: 1,020.00 of 1,000.00").
func budgetFreezeReason(spend, amount Money) string {
	return "budget exhausted: " + spend.Grouped() + " of " + amount.Grouped()
}

// budgetFollowUps returns the system events due for customer id: after a reset (afterReset), the
// unfreeze of a budget freeze; then each threshold newly reached, in order; then, at 100 % under a
// freeze policy, the budget freeze unless the customer is frozen.
func (c *Channel) budgetFollowUps(id string, afterReset bool) []pendingEvent {
	cu := c.customers[id]
	b := c.bills[id]
	if cu == nil || b == nil || b.budget == nil {
		return nil
	}
	bu := b.budget
	frozen := cu.Frozen
	var out []pendingEvent
	if afterReset && frozen && cu.Origin == OriginBudget {
		out = append(out, pendingEvent{EventCustomerUnfrozen, &CustomerUnfrozen{CustomerID: id, UnfreezeType: cu.FreezeType, Reason: BudgetResetReason}})
		frozen = false
	}
	counted := b.counted()
	for i, t := range Thresholds {
		if bu.Reached&(1<<i) != 0 || !reachedPercent(counted, bu.Amount, uint64(t)) {
			continue
		}
		out = append(out, pendingEvent{EventBudgetThresholdReached, &BudgetThresholdReached{
			CustomerID: id, Threshold: t, Period: bu.Period, CountedSpend: counted, Amount: bu.Amount}})
		if t == 100 && bu.OnExhaustion == ExhaustionFreeze && !frozen {
			out = append(out, pendingEvent{EventCustomerFrozen, &CustomerFrozen{
				CustomerID: id, FreezeType: FreezeAccount, Origin: OriginBudget, Reason: budgetFreezeReason(counted, bu.Amount)}})
		}
	}
	return out
}

// decideBudgetReset restores customer id's monthly budget when now is in a later month than the
// one it counts (rule 17): budget.reset to now's month (the follow-ups come after it).
func (c *Channel) decideBudgetReset(id string, now time.Time) ([]pendingEvent, error) {
	b := c.bills[id]
	if !b.resetDue(now) {
		return nil, Errorf(CodeConflict, "rule 17: customer %q has no monthly budget whose month has ended by %s", id, now.UTC().Format(time.RFC3339Nano))
	}
	return []pendingEvent{{EventBudgetReset, &BudgetReset{CustomerID: id, Period: Period(now), PreviousPeriod: b.budget.Period}}}, nil
}

// budgetManaged returns customer id if the actor is its budget manager (rules 14 and 3).
func (c *Channel) budgetManaged(a Actor, id string) (*Customer, error) {
	if err := checkWriter(a); err != nil {
		return nil, err
	}
	if err := checkID("customer_id", id); err != nil {
		return nil, err
	}
	if a.Role != RolePartner {
		return nil, Errorf(CodeForbidden, "rule 14: the platform manages partners, not customers' budgets")
	}
	if _, err := c.actingPartner(a); err != nil {
		return nil, err
	}
	cu := c.customers[id]
	if cu == nil || cu.Disassociated || (cu.PartnerID != a.PartnerID && cu.DistributorID != a.PartnerID) {
		return nil, Errorf(CodeNotFound, "customer %q not found", id)
	}
	if m := c.managerOf(*cu, PermissionBudget); m != a.PartnerID {
		if cu.DistributorID == a.PartnerID {
			return nil, Errorf(CodeForbidden, "rule 14: distributor %q delegated the budget permission to reseller %q, which now sets customer %q's budget", a.PartnerID, cu.PartnerID, id)
		}
		return nil, Errorf(CodeForbidden, "rule 14: customer %q's budget is set by its distributor %q; reseller %q has no budget permission", id, m, a.PartnerID)
	}
	return cu, nil
}

// BudgetSpec is a budget to set (rule 15).
type BudgetSpec struct {
	Type         BudgetType
	Amount       Money
	OnExhaustion Exhaustion
}

func (b BudgetSpec) check() error {
	switch b.Type {
	case BudgetMonthly, BudgetOneTime:
	default:
		return Errorf(CodeInvalid, "rule 15: a budget type is monthly or one_time, not %q", truncateString(string(b.Type), 40))
	}
	switch b.OnExhaustion {
	case ExhaustionFreeze, ExhaustionAlert:
	default:
		return Errorf(CodeInvalid, "rule 15: on_exhaustion is freeze or alert, not %q", truncateString(string(b.OnExhaustion), 40))
	}
	if b.Amount <= 0 || b.Amount > MaxAmount {
		return Errorf(CodeInvalid, "rule 15: a budget amount is more than 0 and at most %s, not %s", MaxAmount, b.Amount)
	}
	return nil
}

// decideSetBudget decides budget.set for customer id (rules 14, 15, 18); the follow-ups come after it.
func (c *Channel) decideSetBudget(a Actor, id string, spec BudgetSpec, now time.Time) ([]pendingEvent, error) {
	cu, err := c.budgetManaged(a, id)
	if err != nil {
		return nil, err
	}
	if err := spec.check(); err != nil {
		return nil, err
	}
	ev := &BudgetSet{CustomerID: id, Type: spec.Type, Amount: spec.Amount, OnExhaustion: spec.OnExhaustion}
	if spec.Type == BudgetMonthly {
		ev.Period = Period(now)
	}
	if p := c.partners[a.PartnerID]; p != nil && p.Type == PartnerReseller {
		ev.ChargedTo = p.ID
		allocated, quota := p.Quota.MonthlyAllocated, p.Quota.Monthly
		if spec.Type == BudgetOneTime {
			allocated, quota = p.Quota.OneTimeAllocated, p.Quota.OneTime
		}
		if old, ok := c.bills[cu.ID].Budget(); ok && old.ChargedTo == p.ID && old.Type == spec.Type {
			allocated -= old.Amount
		}
		if AddMoney(allocated, spec.Amount) > quota {
			return nil, Errorf(CodeConflict, "rule 18: reseller %q's %s budgets would add up to %s, over its %s quota of %s",
				p.ID, spec.Type, AddMoney(allocated, spec.Amount), quotaName(spec.Type), quota)
		}
	}
	return []pendingEvent{{EventBudgetSet, ev}}, nil
}

func quotaName(t BudgetType) string {
	if t == BudgetMonthly {
		return "monthly_quota"
	}
	return "one_time_quota"
}

// decideRemoveBudget decides budget.removed (rules 14, 15).
func (c *Channel) decideRemoveBudget(a Actor, id string) ([]pendingEvent, error) {
	if _, err := c.budgetManaged(a, id); err != nil {
		return nil, err
	}
	if _, ok := c.bills[id].Budget(); !ok {
		return nil, Errorf(CodeNotFound, "customer %q has no budget", id)
	}
	return []pendingEvent{{EventBudgetRemoved, &BudgetRemoved{CustomerID: id}}}, nil
}

// checkBudgetUnfreeze is rule 17's condition for unfreezing in the budget command: the caller is
// also the freeze manager (decideUnfreezeCustomer checks that) and the new budget is not already
// exhausted under a freeze policy.
func (c *Channel) checkBudgetUnfreeze(id string, spec BudgetSpec, now time.Time) error {
	if spec.OnExhaustion == ExhaustionFreeze && reachedPercent(c.bills[id].countedFor(spec.Type, now), spec.Amount, 100) {
		return Errorf(CodeConflict, "rule 17: the new budget is already exhausted (%s of %s) under a freeze policy; it cannot unfreeze customer %q",
			c.bills[id].countedFor(spec.Type, now).Grouped(), spec.Amount.Grouped(), id)
	}
	return nil
}

// decideSetQuota decides a reseller's quotas (rule 18): by its own distributor; never below what its
// budgets already use.
func (c *Channel) decideSetQuota(a Actor, resellerID string, monthly, oneTime Money) ([]pendingEvent, error) {
	if err := checkWriter(a); err != nil {
		return nil, err
	}
	if err := checkID("partner_id", resellerID); err != nil {
		return nil, err
	}
	if a.Role != RolePartner {
		return nil, Errorf(CodeForbidden, "rule 18: only the reseller's own distributor sets its quotas")
	}
	if _, err := c.actingPartner(a); err != nil {
		return nil, err
	}
	r := c.partners[resellerID]
	if r == nil {
		return nil, Errorf(CodeNotFound, "partner %q not found", resellerID)
	}
	if r.Type != PartnerReseller || r.ParentID != a.PartnerID {
		return nil, Errorf(CodeForbidden, "rule 18: only the reseller's own distributor sets its quotas; %q is not a reseller of %q", resellerID, a.PartnerID)
	}
	for _, q := range [...]struct {
		name       string
		v, alloc   Money
		budgetType BudgetType
	}{{"monthly_quota", monthly, r.Quota.MonthlyAllocated, BudgetMonthly}, {"one_time_quota", oneTime, r.Quota.OneTimeAllocated, BudgetOneTime}} {
		if q.v < 0 || q.v > MaxAmount {
			return nil, Errorf(CodeInvalid, "rule 18: %s must be from 0 to %s", q.name, MaxAmount)
		}
		if q.v < q.alloc {
			return nil, Errorf(CodeConflict, "rule 18: %s %s is below the %s already allocated to reseller %q's %s budgets", q.name, q.v, q.alloc, resellerID, q.budgetType)
		}
	}
	if r.Quota.Monthly == monthly && r.Quota.OneTime == oneTime {
		return nil, nil
	}
	return []pendingEvent{{EventPartnerQuotaSet, &PartnerQuotaSet{PartnerID: resellerID, MonthlyQuota: monthly, OneTimeQuota: oneTime}}}, nil
}

// quotaViolation reports whether a reseller's budgets exceed its quota (rule 18), for the validator.
func (p *Partner) quotaViolation() error {
	if p.Quota.MonthlyAllocated > p.Quota.Monthly || p.Quota.OneTimeAllocated > p.Quota.OneTime {
		return fmt.Errorf("rule 18: reseller %q's budgets (monthly %s, one-time %s) exceed its quotas (%s, %s)",
			p.ID, p.Quota.MonthlyAllocated, p.Quota.OneTimeAllocated, p.Quota.Monthly, p.Quota.OneTime)
	}
	return nil
}
