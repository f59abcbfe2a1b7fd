package domain

// The snapshot format's parts for phase 2's state (snapshot_codec.go is the layout): the usage
// record index (rule 12), a reseller's quota (rule 18), a customer's disassociation (rule 20) and
// its billing state (rules 12 to 17: records, month sums, future-dated records, budget,
// resources). A decoder takes the billing states and what they hold from slabs sized by the
// counts the snapshot writes before the customers.

import (
	"maps"
	"slices"
)

// encodeRecords is the records block: the usage record index, sorted by record ID digest.
func encodeRecords(c *Channel) *snapEncoder {
	r := &snapEncoder{b: make([]byte, 0, 8+len(c.records)*32)}
	ids := slices.SortedFunc(maps.Keys(c.records), compareIdemIDs)
	r.uvarint(uint64(len(ids)))
	for _, id := range ids {
		content := c.records[id]
		r.b = append(r.b, id[:]...)
		r.b = append(r.b, content[:]...)
	}
	return r
}

// decodeRecords reads the records block.
func decodeRecords(rd *snapDecoder) map[idemID]idemID {
	n := rd.count()
	records := make(map[idemID]idemID, n)
	for range n {
		var id, content idemID
		rd.fixed(id[:])
		rd.fixed(content[:])
		records[id] = content
	}
	return records
}

func (e *snapEncoder) quota(q Quota) {
	e.varint(int64(q.Monthly))
	e.varint(int64(q.OneTime))
	e.varint(int64(q.MonthlyAllocated))
	e.varint(int64(q.OneTimeAllocated))
}

func (d *snapDecoder) quota() Quota {
	return Quota{Monthly: Money(d.varint()), OneTime: Money(d.varint()), MonthlyAllocated: Money(d.varint()), OneTimeAllocated: Money(d.varint())}
}

func (e *snapEncoder) actor(a Actor) {
	e.str(a.Name)
	e.str(string(a.Role))
	e.str(a.PartnerID)
}

func (d *snapDecoder) actor() Actor {
	return Actor{Name: d.str(), Role: Role(d.str()), PartnerID: d.str()}
}

func (e *snapEncoder) disassociation(x *Disassociation) {
	e.actor(x.RequestedBy)
	e.flags(x.ByCustomer)
	e.time(x.RequestedAt)
	e.str(x.Reason)
	e.str(x.State)
	e.time(x.AnsweredAt)
	e.str(x.AnswerReason)
	e.time(x.ExpiresAt)
}

func (d *snapDecoder) disassociation() *Disassociation {
	x := &Disassociation{RequestedBy: d.actor()}
	x.ByCustomer = d.byte()&1 != 0
	x.RequestedAt = d.time()
	x.Reason, x.State = d.str(), d.str()
	x.AnsweredAt = d.time()
	x.AnswerReason = d.str()
	x.ExpiresAt = d.time()
	return x
}

// bill writes a customer's billing state: nil and empty slices and maps stay apart (optCount), the
// resources sorted by ID.
func (e *snapEncoder) bill(b *CustomerBilling) {
	e.uvarint(uint64(b.records))
	e.optCount(len(b.months), b.months == nil)
	for _, m := range b.months {
		e.str(m.period)
		e.varint(int64(m.sum))
	}
	e.optCount(len(b.future), b.future == nil)
	for _, u := range b.future {
		e.time(u.time)
		e.varint(int64(u.amount))
	}
	e.flags(b.budget != nil)
	if bu := b.budget; bu != nil {
		e.str(string(bu.Type))
		e.varint(int64(bu.Amount))
		e.str(string(bu.OnExhaustion))
		e.time(bu.SetAt)
		e.str(bu.SetBy)
		e.str(bu.ChargedTo)
		e.str(bu.Period)
		e.b = append(e.b, bu.Reached)
		e.varint(int64(bu.oneTimeSpend))
	}
	e.optCount(len(b.resources), b.resources == nil)
	for _, id := range sortedKeys(b.resources) {
		r := b.resources[id]
		e.str(id)
		e.flags(r.Released, r.ID != id)
		if r.ID != id {
			e.str(r.ID)
		}
		e.str(r.Service)
		e.str(string(r.BillingMode))
		e.str(string(r.Product))
		e.time(r.ExpiresAt)
	}
}

func (d *snapDecoder) bill(s *billSlabs) *CustomerBilling {
	b := s.bill()
	b.records = int(d.uvarint())
	if n, isNil := d.optCount(); !isNil {
		b.months = s.monthSpends(n)
		for i := range b.months {
			b.months[i] = monthSpend{period: d.str(), sum: Money(d.varint())}
		}
	}
	if n, isNil := d.optCount(); !isNil {
		b.future = s.usageEntries(n)
		for i := range b.future {
			b.future[i] = usageEntry{time: d.time(), amount: Money(d.varint())}
		}
	}
	if d.byte()&1 != 0 {
		bu := s.budget()
		bu.Type, bu.Amount = BudgetType(d.str()), Money(d.varint())
		bu.OnExhaustion = Exhaustion(d.str())
		bu.SetAt = d.time()
		bu.SetBy, bu.ChargedTo, bu.Period = d.str(), d.str(), d.str()
		bu.Reached = d.byte()
		bu.oneTimeSpend = Money(d.varint())
		b.budget = bu
	}
	if n, isNil := d.optCount(); !isNil {
		b.resources = make(map[string]Resource, n)
		for range n {
			key := d.str()
			f := d.byte()
			r := Resource{ID: key, Released: f&1 != 0}
			if f&2 != 0 {
				r.ID = d.str()
			}
			r.Service, r.BillingMode, r.Product = d.str(), BillingMode(d.str()), ProductKind(d.str())
			r.ExpiresAt = d.time()
			b.resources[key] = r
		}
	}
	return b
}

// billSlabSizes counts what the billing states hold, for the decoder's slabs.
type billSlabSizes struct{ bills, budgets, months, future int }

func (z *billSlabSizes) add(b *CustomerBilling) {
	z.bills++
	if b.budget != nil {
		z.budgets++
	}
	z.months += len(b.months)
	z.future += len(b.future)
}

func (z *billSlabSizes) encode(e *snapEncoder) {
	e.uvarint(uint64(z.bills))
	e.uvarint(uint64(z.budgets))
	e.uvarint(uint64(z.months))
	e.uvarint(uint64(z.future))
}

// billSlabs are the slabs the decoded billing states are taken from. Each state's slices are
// capped to its own part (a later append copies them out), so one state's changes never reach
// another's. A slab that runs out (the counts are the snapshot's word) falls back on allocation.
type billSlabs struct {
	bills   []CustomerBilling
	budgets []Budget
	months  []monthSpend
	future  []usageEntry
}

// billSlabs reads the slab sizes and makes the slabs.
func (d *snapDecoder) billSlabs() billSlabs {
	nb, nbu, nm, nf := d.countOf(5), d.countOf(9), d.countOf(2), d.countOf(2) // the fewest bytes of each
	return billSlabs{bills: make([]CustomerBilling, nb), budgets: make([]Budget, nbu), months: make([]monthSpend, nm), future: make([]usageEntry, nf)}
}

func (s *billSlabs) bill() *CustomerBilling {
	if len(s.bills) == 0 {
		return &CustomerBilling{}
	}
	b := &s.bills[0]
	s.bills = s.bills[1:]
	return b
}

func (s *billSlabs) budget() *Budget {
	if len(s.budgets) == 0 {
		return &Budget{}
	}
	b := &s.budgets[0]
	s.budgets = s.budgets[1:]
	return b
}

func (s *billSlabs) monthSpends(n int) []monthSpend  { return takeSlab(&s.months, n) }
func (s *billSlabs) usageEntries(n int) []usageEntry { return takeSlab(&s.future, n) }

// takeSlab cuts the first n items off *slab, capped to n; a fresh slice when fewer are left.
func takeSlab[T any](slab *[]T, n int) []T {
	if n > len(*slab) {
		return make([]T, n)
	}
	out := (*slab)[:n:n]
	*slab = (*slab)[n:]
	return out
}
