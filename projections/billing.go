package projections

// The billing read model (rules 12 to 18): per customer, its billing events (usage, resources,
// budget events, budget freezes and the reset's unfreeze) and their fold, domain.CustomerBilling,
// the very type the command service decides with, so counted spend, periods and thresholds read
// here are the domain's. Time travel folds the events before the cut; the present is kept folded.
// Per reseller, its quota and what its budgets use of it.
//
// Event bodies of billing events are decoded whole with domain.DecodeData (the fold needs their
// whole payload): by hand for usage records, which a billing feed writes by the thousand (issue
// 14), with encoding/json for the rest, rarer than status reads by far.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// billingModel is the state's billing part; nil until the first billing event.
type billingModel struct {
	cust   map[uint32]*billingCustomer // by customer index
	quotas map[string]*domain.Quota    // by reseller ID
}

// billingCustomer is one customer's billing events, in log order, and their fold.
type billingCustomer struct {
	present domain.CustomerBilling
	evs     []billingEvt
	history []uint32 // leaves of its budget adjustment record (GET .../budget/history)
}

// billingEvt is one event the fold takes, as its checkpoint keeps it.
type billingEvt struct {
	leaf  uint32
	at    int64
	actor string
	typ   string
	data  any // a pointer to a domain payload type
}

func isBillingEvent(typ string) bool {
	switch typ {
	case domain.EventUsageRecorded, domain.EventResourceReported, domain.EventResourceRemoved, domain.EventBudgetSet,
		domain.EventBudgetRemoved, domain.EventBudgetThresholdReached, domain.EventBudgetReset, domain.EventPartnerQuotaSet:
		return true
	}
	return false
}

// billingApply applies a billing event (or a customer event the billing model also needs: a
// release naming resources, budget freezes and the reset's unfreeze, for the adjustment record).
func (s *state) billingApply(rec *eventstore.RecordedEvent, leaf uint32, t int64, d *decoded) error {
	if !isBillingEvent(rec.Type) && !s.billingAlsoNeeds(rec.Type, d) {
		return nil
	}
	data, err := domain.DecodeData(rec.Type, rec.Data)
	if err != nil {
		return err
	}
	return s.billingFold(billingEvt{leaf: leaf, at: t, actor: string(d.actorName), typ: rec.Type, data: data})
}

// billingAlsoNeeds: a customer event of the adjustment record (a budget freeze, the system's unfreeze
// at a reset) or a release that names resources. (An accepted disassociation, which ends the
// budget, rule 20, is folded by applyRules19And20.)
func (s *state) billingAlsoNeeds(typ string, d *decoded) bool {
	switch typ {
	case domain.EventCustomerFrozen:
		return string(d.origin) == string(domain.OriginBudget)
	case domain.EventCustomerUnfrozen:
		return string(d.reason) == domain.BudgetResetReason && string(d.actorName) == domain.SystemActor.Name
	case domain.EventCustomerResourcesRelease:
		return true
	}
	return false
}

func (s *state) billingFold(ev billingEvt) error {
	if s.bill == nil {
		s.bill = &billingModel{cust: map[uint32]*billingCustomer{}, quotas: map[string]*domain.Quota{}}
	}
	bm := s.bill
	if q, ok := ev.data.(*domain.PartnerQuotaSet); ok {
		qs := bm.quota(q.PartnerID)
		qs.Monthly, qs.OneTime = q.MonthlyQuota, q.OneTimeQuota
		bm.quotaEvt(ev)
		return nil
	}
	id := customerOfPayload(ev.data)
	ci, ok := s.lookup(id)
	if !ok {
		return fmt.Errorf("unknown customer %q", id)
	}
	bc := bm.cust[ci]
	if _, ends := ev.data.(*domain.DisassociationAccepted); ends {
		if bc == nil {
			return nil // no budget to end: the acceptance is not part of the billing record
		}
		if _, ok := bc.present.Budget(); !ok {
			return nil
		}
	}
	if bc == nil {
		bc = &billingCustomer{}
		bm.cust[ci] = bc
	}
	// Quotas: a setting is charged to its reseller, a replacement, a removal or the end of the
	// association (rule 20) gives it back.
	switch d := ev.data.(type) {
	case *domain.BudgetSet, *domain.BudgetRemoved, *domain.DisassociationAccepted:
		if old, ok := bc.present.Budget(); ok && old.ChargedTo != "" {
			bm.quota(old.ChargedTo).MonthlyAllocated, bm.quota(old.ChargedTo).OneTimeAllocated = charge(bm.quota(old.ChargedTo), old.Type, -old.Amount)
		}
		if set, ok := d.(*domain.BudgetSet); ok && set.ChargedTo != "" {
			q := bm.quota(set.ChargedTo)
			q.MonthlyAllocated, q.OneTimeAllocated = charge(q, set.Type, set.Amount)
		}
	}
	switch ev.data.(type) {
	case *domain.UsageRecorded, *domain.ResourceReported, *domain.ResourceRemoved, *domain.CustomerResourcesReleased:
	default:
		bc.history = append(bc.history, ev.leaf)
	}
	bc.present.Apply(ev.data, time.Unix(0, ev.at).UTC(), domain.Actor{Name: ev.actor})
	s.noteBilling(ci, &bc.present, ev.data)
	bc.evs = append(bc.evs, ev)
	return nil
}

// quotaEvt keeps a quota event in the model's own list, for the checkpoint.
func (bm *billingModel) quotaEvt(ev billingEvt) {
	bc := bm.cust[quotaSlot]
	if bc == nil {
		bc = &billingCustomer{}
		bm.cust[quotaSlot] = bc
	}
	bc.evs = append(bc.evs, ev)
}

// quotaSlot is the cust key under which quota events are kept (no customer has this index).
const quotaSlot = ^uint32(0)

func (bm *billingModel) quota(id string) *domain.Quota {
	q := bm.quotas[id]
	if q == nil {
		q = &domain.Quota{}
		bm.quotas[id] = q
	}
	return q
}

func charge(q *domain.Quota, t domain.BudgetType, amount domain.Money) (monthly, oneTime domain.Money) {
	if t == domain.BudgetMonthly {
		return domain.AddMoney(q.MonthlyAllocated, amount), q.OneTimeAllocated
	}
	return q.MonthlyAllocated, domain.AddMoney(q.OneTimeAllocated, amount)
}

func customerOfPayload(data any) string {
	switch d := data.(type) {
	case *domain.UsageRecorded:
		return d.CustomerID
	case *domain.ResourceReported:
		return d.CustomerID
	case *domain.ResourceRemoved:
		return d.CustomerID
	case *domain.BudgetSet:
		return d.CustomerID
	case *domain.BudgetRemoved:
		return d.CustomerID
	case *domain.BudgetThresholdReached:
		return d.CustomerID
	case *domain.BudgetReset:
		return d.CustomerID
	case *domain.CustomerFrozen:
		return d.CustomerID
	case *domain.CustomerUnfrozen:
		return d.CustomerID
	case *domain.CustomerResourcesReleased:
		return d.CustomerID
	case *domain.DisassociationAccepted:
		return d.CustomerID
	}
	return ""
}

// billingAt is customer ci's billing state as of cut (nil when it has none).
func (s *state) billingAt(ci, cut uint32) *domain.CustomerBilling {
	if s.bill == nil {
		return nil
	}
	bc := s.bill.cust[ci]
	if bc == nil {
		return nil
	}
	if len(bc.evs) == 0 || bc.evs[len(bc.evs)-1].leaf < cut {
		return &bc.present
	}
	var b domain.CustomerBilling
	for _, ev := range bc.evs {
		if ev.leaf >= cut {
			break
		}
		b.Apply(ev.data, time.Unix(0, ev.at).UTC(), domain.Actor{Name: ev.actor})
	}
	return &b
}

// refTime is the moment a read as of a answers for: the as-of time, the time of the cut's last
// event for a position, the clock's now for the present. Month-to-date spend and the budget period
// are taken at it.
func (s *state) refTime(a AsOf, cut uint32, now time.Time) time.Time {
	switch {
	case a.Time != nil:
		return *a.Time
	case a.Position != nil:
		if cut == 0 {
			return time.Time{}
		}
		return time.Unix(0, s.maxTime[cut-1]).UTC()
	}
	return now
}

// BudgetInfo is a customer's budget as GET .../budget and the status show it (docs/HTTP-API.md).
type BudgetInfo struct {
	Type              string  `json:"type"`
	Amount            string  `json:"amount"`
	OnExhaustion      string  `json:"on_exhaustion"`
	SetAt             string  `json:"set_at"`
	SetBy             string  `json:"set_by"`
	Period            *string `json:"period"`
	CountedSpend      string  `json:"counted_spend"`
	UsagePercent      string  `json:"usage_percent"`
	ThresholdsReached []int   `json:"thresholds_reached"`
	Exhausted         bool    `json:"exhausted"`
}

// CustomerBudget is GET /v1/customers/{id}/budget.
type CustomerBudget struct {
	CustomerID string      `json:"customer_id"`
	Currency   string      `json:"currency"`
	MTDSpend   string      `json:"mtd_spend"`
	Budget     *BudgetInfo `json:"budget"`
}

func budgetInfo(b *domain.CustomerBilling, at time.Time) *BudgetInfo {
	v, ok := b.View(at)
	if !ok {
		return nil
	}
	out := &BudgetInfo{
		Type: string(v.Type), Amount: v.Amount.String(), OnExhaustion: string(v.OnExhaustion),
		SetAt: fmtTime(v.SetAt.UnixNano()), SetBy: v.SetBy, CountedSpend: v.CountedSpend.String(),
		UsagePercent: v.UsagePercent, ThresholdsReached: v.Thresholds, Exhausted: v.Exhausted,
	}
	if v.Period != "" {
		p := v.Period
		out.Period = &p
	}
	return out
}

// Budget returns customer id's budget and month-to-date spend as of a. Errors as Status.
func (m *ReadModels) Budget(id string, a AsOf) (CustomerBudget, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, err := m.viewLocked(id, a)
	if err != nil {
		return CustomerBudget{}, err
	}
	ci, _ := m.st.lookup(id)
	cut, _ := m.st.cut(a)
	at := m.st.refTime(a, cut, m.opts.Clock.Now())
	b := m.st.billingAt(ci, cut)
	_ = v // the customer exists at a
	return CustomerBudget{CustomerID: id, Currency: m.opts.Currency, MTDSpend: b.MonthToDate(at).String(), Budget: budgetInfo(b, at)}, nil
}

// ResourceInfo is one resource of GET /v1/customers/{id}/resources. AffectedByFreeze says whether
// the customer's effective freeze (own or cascaded) makes it unusable now: an ACCOUNT_AND_RESOURCE
// freeze reaches every product but marketplace SaaS and licences (rules 9, 13).
type ResourceInfo struct {
	ResourceID       string  `json:"resource_id"`
	Service          string  `json:"service"`
	BillingMode      string  `json:"billing_mode"`
	Product          string  `json:"product"`
	ExpiresAt        *string `json:"expires_at"`
	AffectedByFreeze bool    `json:"affected_by_freeze"`
	Released         bool    `json:"released"`
}

// ResourcePage is a page of a customer's resources, by resource ID; NextCursor is the last ID
// shown when more follow.
type ResourcePage struct {
	Resources  []ResourceInfo
	NextCursor string
}

// Resources lists customer id's resources after cursor (a resource ID, "" for the start), at most
// limit (1 to 1000). Errors as Status.
func (m *ReadModels) Resources(id string, a AsOf, cursor string, limit int) (ResourcePage, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, err := m.viewLocked(id, a)
	if err != nil {
		return ResourcePage{}, err
	}
	ci, _ := m.st.lookup(id)
	cut, _ := m.st.cut(a)
	var out ResourcePage
	for _, r := range m.st.billingAt(ci, cut).Resources() {
		if r.ID <= cursor {
			continue
		}
		if len(out.Resources) == limit {
			out.NextCursor = out.Resources[limit-1].ResourceID
			break
		}
		out.Resources = append(out.Resources, resourceInfo(&v, r))
	}
	if out.Resources == nil {
		out.Resources = []ResourceInfo{}
	}
	return out, nil
}

func resourceInfo(v *view, r domain.Resource) ResourceInfo {
	ri := ResourceInfo{ResourceID: r.ID, Service: r.Service, BillingMode: string(r.BillingMode), Product: string(r.Product), Released: r.Released}
	if !r.ExpiresAt.IsZero() {
		ri.ExpiresAt = fmtWallTimePtr(r.ExpiresAt)
	}
	ri.AffectedByFreeze = v.effSev == sevAll && r.Product.AffectedByResourceFreeze()
	return ri
}

// ResourceOperations is the operations view of one resource: its billing mode and product decide
// (rules 9, 13), and a released resource allows nothing but view.
func (m *ReadModels) ResourceOperations(id, resourceID string, a AsOf) (Operations, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, err := m.viewLocked(id, a)
	if err != nil {
		return Operations{}, err
	}
	ci, _ := m.st.lookup(id)
	cut, _ := m.st.cut(a)
	r, ok := m.st.billingAt(ci, cut).Resource(resourceID)
	if !ok {
		return Operations{}, domain.Errorf(domain.CodeNotFound, "resource %q of customer %q not found", resourceID, id)
	}
	q := OperationsQuery{BillingMode: string(r.BillingMode), Product: string(r.Product)}
	if r.Product == domain.ProductCloud {
		q.Product = ProductCloud
	}
	mode, err := validateOpsQuery(&q)
	if err != nil {
		return Operations{}, err
	}
	out := Operations{CustomerID: id, BillingMode: q.BillingMode, Product: q.Product, EffectiveState: effectiveState(&v),
		Operations: make([]OperationCheck, len(OperationNames))}
	for i, op := range OperationNames {
		out.Operations[i] = m.st.check(&v, op, mode, q.Product)
		if r.Released {
			out.Operations[i] = releasedCheck(out.Operations[i], "resource "+r.ID+" was released at the end of its retention period (rule 8)")
		}
	}
	return out, nil
}

// releasedOps are the operations a released resource no longer allows (it is gone): everything but
// view, rename and purchase, which are the account's.
var releasedOps = opBit(OpUnsubscribe) | opBit(OpModifySpec) | opBit(OpRenew) | opBit(OpChangeBillingMode) | opBit(OpOperate) | opBit(OpDelete)

// releasedCheck denies a released resource's operation when a freeze does not already.
func releasedCheck(c OperationCheck, why string) OperationCheck {
	if !c.Allowed || opBit(c.Operation)&releasedOps == 0 {
		return c
	}
	return OperationCheck{Operation: c.Operation, Allowed: false, Reason: c.Operation + " denied: " + why}
}

// QuotaInfo is GET /v1/partners/{id}/quota.
type QuotaInfo struct {
	PartnerID        string `json:"partner_id"`
	Currency         string `json:"currency"`
	MonthlyQuota     string `json:"monthly_quota"`
	OneTimeQuota     string `json:"one_time_quota"`
	MonthlyAllocated string `json:"monthly_allocated"`
	OneTimeAllocated string `json:"one_time_allocated"`
}

// Quota returns reseller id's quota (rule 18). Errors: not_found for an unknown partner, invalid
// for a partner that is not a reseller.
func (m *ReadModels) Quota(id string) (QuotaInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	pi, ok := m.st.partnerIdx[id]
	if !ok || m.st.partners[pi].typ == ptypeUnknown {
		return QuotaInfo{}, domain.Errorf(domain.CodeNotFound, "partner %q not found", id)
	}
	var q domain.Quota
	if m.st.bill != nil && m.st.bill.quotas[id] != nil {
		q = *m.st.bill.quotas[id]
	}
	return QuotaInfo{PartnerID: id, Currency: m.opts.Currency, MonthlyQuota: q.Monthly.String(), OneTimeQuota: q.OneTime.String(),
		MonthlyAllocated: q.MonthlyAllocated.String(), OneTimeAllocated: q.OneTimeAllocated.String()}, nil
}

// BudgetHistory is a page of customer id's budget adjustment record (settings, removals,
// thresholds, resets, budget freezes, the reset's unfreezes, and an accepted disassociation that
// ended a budget), oldest first, as History pages
// are (same cursor form, limit 1 to 1000, bodies read back from the store). Errors as History.
func (m *ReadModels) BudgetHistory(ctx context.Context, id, cursor string, limit int) (HistoryPage, error) {
	after := uint64(0)
	if cursor != "" {
		n, ok := decodeCursor('h', cursor)
		if !ok {
			return HistoryPage{}, domain.Errorf(domain.CodeInvalid, "cursor %q is not a cursor of this list", cursor)
		}
		after = n
	}
	limit = pageLimit(limit)
	type loc struct {
		leaf   uint32
		stream string
		rev    uint64
		pos    eventstore.Position
	}
	m.mu.RLock()
	s := m.st
	ci, ok := s.lookup(id)
	if !ok {
		m.mu.RUnlock()
		return HistoryPage{}, domain.Errorf(domain.CodeNotFound, "customer %q not found", id)
	}
	var h []uint32
	if s.bill != nil && s.bill.cust[ci] != nil {
		h = s.bill.cust[ci].history
	}
	i, _ := slices.BinarySearch(h, uint32(min(after, uint64(^uint32(0)))))
	end := min(len(h), i+limit+1)
	locs := make([]loc, 0, end-i)
	for _, l := range h[i:end] {
		locs = append(locs, loc{leaf: l, stream: s.streamName(l), rev: s.pos.revision(l), pos: s.pos.at(l)})
	}
	m.mu.RUnlock()
	page := HistoryPage{Events: []leaf.Event{}}
	for _, l := range locs {
		if len(page.Events) == limit {
			page.NextCursor = encodeCursor('h', uint64(l.leaf))
			break
		}
		recs, err := m.store.ReadStream(ctx, l.stream, eventstore.Forwards, l.rev, 1)
		if err != nil {
			return HistoryPage{}, fmt.Errorf("projections: budget history: read %s@%d: %w", l.stream, l.rev, err)
		}
		if len(recs) != 1 || recs[0].Position != l.pos {
			return HistoryPage{}, fmt.Errorf("projections: budget history: %s@%d is not the event at position %s the read models applied (rebuild them)", l.stream, l.rev, l.pos)
		}
		ev, err := leafEvent(recs[0], uint64(l.leaf))
		if err != nil {
			return HistoryPage{}, fmt.Errorf("projections: budget history: %w", err)
		}
		page.Events = append(page.Events, ev)
	}
	return page, nil
}

const zeroMoney = "0.00"

// fmtWallTimePtr writes a reported time (an expiry: any RFC 3339 time from 0001 to 9999) as event
// times are written. Outside the reach of Unix nanoseconds (1677 to 2262) it does not go through
// them (they would wrap around), and 1970-01-01T00:00:00Z is a time like any other, not null.
func fmtWallTimePtr(t time.Time) *string {
	var s string
	if t.Before(minNanosTime) || t.After(maxNanosTime) {
		s = t.UTC().Format(leaf.TimeFormat)
	} else {
		s = fmtTime(t.UnixNano())
	}
	return &s
}

// statusBilling fills a status's phase 2 fields from the billing state at ref.
func statusBilling(st *CustomerStatus, b *domain.CustomerBilling, ref time.Time, currency string) {
	st.Currency = currency
	st.MTDSpend = zeroMoney
	if b == nil {
		return
	}
	st.MTDSpend = b.MonthToDate(ref).String()
	st.Budget = budgetInfo(b, ref)
	st.Resources = b.ResourceCount()
	if e := b.EarliestExpiry(); !e.IsZero() {
		st.EarliestExpiry = fmtWallTimePtr(e)
	}
}

// Checkpoint encoding: every billing event (leaf, time, actor, type, data as JSON) in customer
// order, then the quota events; Open folds them again.

func encodeBilling(e *encoder, s *state) {
	if s.bill == nil {
		e.u(0)
		return
	}
	keys := make([]uint32, 0, len(s.bill.cust))
	for k := range s.bill.cust {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var all []billingEvt
	for _, k := range keys {
		all = append(all, s.bill.cust[k].evs...)
	}
	// Leaves are unique (an event is one customer's or the quotas'): no stable sort needed.
	slices.SortFunc(all, func(a, b billingEvt) int { return cmp.Compare(a.leaf, b.leaf) })
	e.u(uint64(len(all)))
	for _, ev := range all {
		e.u(uint64(ev.leaf))
		e.i(ev.at)
		e.s(ev.actor)
		e.s(ev.typ)
		b, _ := domain.EncodeData(ev.data) // json.Marshal's bytes, by hand for usage records
		e.b(b)
	}
}

func decodeBilling(d *decoder, s *state) {
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		ev := billingEvt{leaf: d.u32(), at: d.i(), actor: d.s(), typ: d.s()}
		raw := d.bytes()
		if d.err != nil {
			return
		}
		data, err := domain.DecodeData(ev.typ, raw)
		if err != nil {
			d.err = err
			return
		}
		ev.data = data
		if err := s.billingFold(ev); err != nil {
			d.err = err
			return
		}
	}
}
