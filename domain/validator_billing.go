package domain

// The history validator's part for rules 12 to 18: the billing events are re-decided like every
// other command, and the system's follow-ups (thresholds, budget freezes, the unfreeze at a reset)
// must come next in their stream, exactly as budgetFollowUps decides them from the state replayed so
// far. So an export in which a budget freeze does not follow spend that reached 100 % of a freeze
// budget, a threshold fires twice, a reset happens inside its month, or a reseller's budgets exceed
// its quota fails, naming the event.

import (
	"bytes"
	"slices"
)

// expectedFollowUp is a system event the validator requires next in a stream.
type expectedFollowUp struct {
	typ  string
	data []byte // normalized
}

func (v *HistoryValidator) expectFollowUps(stream string, pend []pendingEvent) {
	for _, p := range pend {
		v.follow[stream] = append(v.follow[stream], expectedFollowUp{p.Type, normalized(p.Data)})
	}
}

// checkFollowUp checks ev against the follow-up its stream expects, if any (handled is then true).
func (v *HistoryValidator) checkFollowUp(c *Channel, ev *StoredEvent, meta *Metadata, data any, viol func(string, string, ...any) error) (handled bool, err error) {
	q := v.follow[ev.Stream]
	if len(q) == 0 {
		return false, nil
	}
	want := q[0]
	if ev.Type != want.typ || !bytes.Equal(normalized(data), want.data) || meta.Actor != SystemActor {
		rule := "rule 16"
		if want.typ != EventBudgetThresholdReached {
			rule = "rule 17"
		}
		return true, viol(rule, "the system's follow-up %s %s must come next (as the system actor), not %s %s by %q", want.typ, want.data, ev.Type, normalized(data), meta.Actor.Name)
	}
	if len(q) == 1 {
		delete(v.follow, ev.Stream)
	} else {
		v.follow[ev.Stream] = q[1:]
	}
	c.apply(ev.Type, data, eventCtx{meta: meta, stored: ev})
	return true, nil
}

// finishFollowUps reports a log that ends before the follow-ups its last events required.
func (v *HistoryValidator) finishFollowUps() error {
	streams := make([]string, 0, len(v.follow))
	for st := range v.follow {
		streams = append(streams, st)
	}
	if len(streams) == 0 {
		return nil
	}
	slices.Sort(streams)
	want := v.follow[streams[0]][0]
	return &Violation{Stream: streams[0], Type: want.typ, Rule: "rule 16", Reason: "the log ends before the system's follow-up " + want.typ + " " + string(want.data)}
}

// decideBilling re-decides a billing event: the events its command decides, the follow-ups to
// require after it, and refused, a violation found before any decision.
func (v *HistoryValidator) decideBilling(c *Channel, meta *Metadata, data any, viol func(string, string, ...any) error) (produced []pendingEvent, followUps func() []pendingEvent, refused, err error) {
	now := meta.Time
	a := meta.Actor
	switch d := data.(type) {
	case *UsageRecorded:
		produced, err = c.decideUsageEvent(a, d, now)
		followUps = func() []pendingEvent { return c.budgetFollowUps(d.CustomerID, false) }
	case *ResourceReported:
		produced, err = c.decideReportResource(a, *d)
		if err == nil && len(produced) == 0 {
			return nil, nil, viol("rule 13", "resource %q of customer %q is reported again exactly as it is", d.ResourceID, d.CustomerID), nil
		}
	case *ResourceRemoved:
		produced, err = c.decideRemoveResource(a, d.CustomerID, d.ResourceID)
	case *BudgetSet:
		produced, err = c.decideSetBudget(a, d.CustomerID, BudgetSpec{Type: d.Type, Amount: d.Amount, OnExhaustion: d.OnExhaustion}, now)
		followUps = func() []pendingEvent { return c.budgetFollowUps(d.CustomerID, false) }
	case *BudgetRemoved:
		produced, err = c.decideRemoveBudget(a, d.CustomerID)
	case *BudgetThresholdReached:
		return nil, nil, viol("rule 16", "threshold %d%% of customer %q does not follow spend or a setting that reached it (or it was reached before in this setting and period)", d.Threshold, d.CustomerID), nil
	case *BudgetReset:
		if a != SystemActor {
			return nil, nil, viol("rule 17", "budgets are reset by the system actor, not %q", a.Name), nil
		}
		produced, err = c.decideBudgetReset(d.CustomerID, now)
		followUps = func() []pendingEvent { return c.budgetFollowUps(d.CustomerID, true) }
	case *PartnerQuotaSet:
		produced, err = c.decideSetQuota(a, d.PartnerID, d.MonthlyQuota, d.OneTimeQuota)
		if err == nil && len(produced) == 0 {
			return nil, nil, viol("rule 18", "the quotas of %q are set again to what they are", d.PartnerID), nil
		}
	}
	return produced, followUps, nil, err
}

// checkQuotas is rule 18's invariant after an applied event: no reseller's budgets exceed its quota.
func (v *HistoryValidator) checkQuotas(c *Channel, data any, viol func(string, string, ...any) error) error {
	var id string
	switch d := data.(type) {
	case *BudgetSet:
		id = d.ChargedTo
	case *PartnerQuotaSet:
		id = d.PartnerID
	default:
		return nil
	}
	if p := c.partners[id]; p != nil {
		if err := p.quotaViolation(); err != nil {
			return viol("rule 18", "%v", err)
		}
	}
	return nil
}
