package domain

// The channel's billing state and its apply (rules 12 to 18): each customer's CustomerBilling, the
// usage record index, and the resellers' quotas, all journaled like the rest of the channel.

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// Quota is a reseller's budget quotas (rule 18; 0 until its distributor sets them) and the sums of
// the budgets charged to them.
type Quota struct {
	Monthly          Money
	OneTime          Money
	MonthlyAllocated Money
	OneTimeAllocated Money
}

// Billing returns a copy of customer id's billing state (nil when it has none).
func (c *Channel) Billing(id string) *CustomerBilling {
	b := c.bills[id]
	if b == nil {
		return nil
	}
	return b.clone()
}

// billingSubject is the customer (or, for a quota, the partner) a billing event is about.
func billingSubject(data any) string {
	switch d := data.(type) {
	case *UsageRecorded:
		return d.CustomerID
	case *ResourceReported:
		return d.CustomerID
	case *ResourceRemoved:
		return d.CustomerID
	case *BudgetSet:
		return d.CustomerID
	case *BudgetRemoved:
		return d.CustomerID
	case *BudgetThresholdReached:
		return d.CustomerID
	case *BudgetReset:
		return d.CustomerID
	case *PartnerQuotaSet:
		return d.PartnerID
	case *CustomerResourcesReleased:
		return d.CustomerID
	}
	return ""
}

// applyBilling is apply for the billing events (total, like apply).
func (c *Channel) applyBilling(id string, data any, at time.Time, ec eventCtx) {
	var actor Actor
	if ec.meta != nil {
		actor = ec.meta.Actor
	}
	switch d := data.(type) {
	case *PartnerQuotaSet:
		if p := c.touchPartner(d.PartnerID); p != nil {
			p.Quota.Monthly, p.Quota.OneTime = d.MonthlyQuota, d.OneTimeQuota
		}
		return
	case *BudgetSet:
		c.uncharge(id)
		if d.ChargedTo != "" {
			if p := c.touchPartner(d.ChargedTo); p != nil {
				p.Quota.charge(d.Type, d.Amount)
			}
		}
	case *BudgetRemoved:
		c.uncharge(id)
	case *UsageRecorded:
		for _, r := range d.Records {
			k := recordKey(r.RecordID)
			if _, ok := c.records[k]; !ok {
				if c.j != nil {
					c.j.records = append(c.j.records, k)
				}
				c.records[k] = recordContent(d.CustomerID, r)
			}
		}
	}
	if _, ok := c.customers[id]; !ok {
		return // about no customer of this channel: nothing to keep
	}
	c.touchBilling(id).Apply(data, at, actor)
}

// associated reports whether customer id is a customer of this channel now: held and not
// disassociated (rule 20). Budgets and the billing feed act on those only.
func (c *Channel) associated(id string) bool {
	cu := c.customers[id]
	return cu != nil && !cu.Disassociated
}

// endBudget ends a customer's budget with its association (rule 20, part of apply): the amount
// goes back to the reseller's quota it was charged to, and the billing state folds the acceptance
// (CustomerBilling.Apply: no budget). Spend and resources stay, as its history does.
func (c *Channel) endBudget(d *DisassociationAccepted, at time.Time) {
	if _, ok := c.bills[d.CustomerID].Budget(); !ok {
		return
	}
	c.uncharge(d.CustomerID)
	c.touchBilling(d.CustomerID).Apply(d, at, Actor{})
}

// uncharge takes customer id's current budget off the quota it was charged to.
func (c *Channel) uncharge(id string) {
	b := c.bills[id]
	if b == nil || b.budget == nil || b.budget.ChargedTo == "" {
		return
	}
	if p := c.touchPartner(b.budget.ChargedTo); p != nil {
		p.Quota.charge(b.budget.Type, -b.budget.Amount)
	}
}

func (q *Quota) charge(t BudgetType, amount Money) {
	if t == BudgetMonthly {
		q.MonthlyAllocated = AddMoney(q.MonthlyAllocated, amount)
	} else {
		q.OneTimeAllocated = AddMoney(q.OneTimeAllocated, amount)
	}
}

// touchBilling returns customer id's billing state ready to change (created if absent): inside a
// group, a copy made on the group's first touch, so the journal keeps the value from before it.
func (c *Channel) touchBilling(id string) *CustomerBilling {
	b := c.bills[id]
	if c.j == nil {
		if b == nil {
			b = &CustomerBilling{}
			c.bills[id] = b
		}
		return b
	}
	if c.j.bills == nil {
		c.j.bills = map[string]*CustomerBilling{}
	}
	if _, saved := c.j.bills[id]; saved {
		return b // already this group's own copy
	}
	c.j.bills[id] = b
	if b == nil {
		b = &CustomerBilling{}
	} else {
		b = b.clone()
	}
	c.bills[id] = b
	return b
}

// recordKey and recordContent are how the channel remembers a usage record (rule 12): the record
// ID's digest, and a digest of what it says (customer, amount, time), so that a retry is recognised
// as a duplicate and other content under the same ID is refused. 32 bytes a record, plus the map's
// share.
func recordKey(recordID string) idemID { return digest("usage record", recordID) }

func recordContent(customerID string, r UsageRecord) idemID {
	// digest(customerID, r.Amount.String(), r.Time.UTC().Format(time.RFC3339Nano)), without the
	// two strings: it runs twice for every record of the billing feed.
	var amount, at [48]byte
	a := r.Amount.AppendText(amount[:0])
	t := r.Time.UTC().AppendFormat(at[:0], time.RFC3339Nano)
	var buf [256]byte
	b := binary.AppendUvarint(buf[:0], uint64(len(customerID)))
	b = append(b, customerID...)
	b = binary.AppendUvarint(b, uint64(len(a)))
	b = append(b, a...)
	b = binary.AppendUvarint(b, uint64(len(t)))
	b = append(b, t...)
	sum := sha256.Sum256(b)
	return idemID(sum[:16])
}
