package projections

import (
	"strconv"
	"strings"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// CustomerStatus is a customer's status, exactly the "Status shape" of docs/HTTP-API.md. Nullable
// fields are pointers (JSON null): the freeze fields when the customer is ACTIVE, the retention
// deadline unless the customer's own freeze is ACCOUNT_AND_RESOURCE with resources not yet released.
//
//   - DistributorID is the reseller's distributor for a reseller's customer, the partner itself for a
//     distributor's direct customer, and "" for a solution provider's customer.
//   - ManagedBy is the partner that may freeze and unfreeze it (rule 2): the distributor of a
//     reseller's customer unless the reseller holds the freeze delegation, otherwise the partner.
//   - State, FreezeType, Origin, Reason, FrozenBy, FrozenAt are the customer's own state; FrozenAt is
//     the time of the freeze in force (of the upgrade, for an ACCOUNT freeze upgraded to
//     ACCOUNT_AND_RESOURCE).
//   - Effective* apply the partner cascade (rule 7): under a frozen partner (its own partner, or the
//     distributor of its reseller) it is FROZEN, ACCOUNT_AND_RESOURCE, origin "partner"; otherwise the
//     effective state is the own state.
//   - ResourcesReleased stays true once resources were released (rule 8), also after an unfreeze.
//   - Position is that of the last event that changed this status: the customer's own events, its
//     partner's freezes, unfreezes and delegation changes, and its distributor's freezes and unfreezes.
//
// Tags and the string pointers are shared with the read models (no allocation per lookup): callers
// must not modify what they point to.
type CustomerStatus struct {
	CustomerID          string   `json:"customer_id"`
	Name                string   `json:"name"`
	PartnerID           string   `json:"partner_id"`
	DistributorID       string   `json:"distributor_id"`
	ManagedBy           string   `json:"managed_by"`
	State               string   `json:"state"`
	FreezeType          *string  `json:"freeze_type"`
	Origin              *string  `json:"origin"`
	Reason              *string  `json:"reason"`
	FrozenBy            *string  `json:"frozen_by"`
	FrozenAt            *string  `json:"frozen_at"`
	EffectiveState      string   `json:"effective_state"`
	EffectiveFreezeType *string  `json:"effective_freeze_type"`
	EffectiveOrigin     *string  `json:"effective_origin"`
	ResourcesReleased   bool     `json:"resources_released"`
	RetentionDeadline   *string  `json:"retention_deadline"`
	Tags                []string `json:"tags"`
	AccountManager      string   `json:"account_manager"`
	AssociatedAt        string   `json:"associated_at"`
	Position            string   `json:"position"`
	// Phase 2 (rules 12, 13, 15): the deployment's currency, month-to-date spend, the budget (null if
	// none), the number of resources and the earliest expiry of those not released.
	Currency       string      `json:"currency"`
	MTDSpend       string      `json:"mtd_spend"`
	Budget         *BudgetInfo `json:"budget"`
	Resources      int         `json:"resources"`
	EarliestExpiry *string     `json:"earliest_expiry"`
	// Personal is the customer's personal data in clear text (rule 21), nil when it has none, after
	// its erasure (PersonalDataErased), or when the key store cannot open it. It is the present's
	// also for as_of reads: the read models keep no clear text of earlier values.
	Personal           *PersonalData `json:"personal"`
	PersonalDataErased bool          `json:"personal_data_erased"`
	// Associated is false once a disassociation was accepted (rule 20); Disassociation is the
	// latest disassociation request and its outcome, nil if none (rules19_20.go).
	Associated     bool                `json:"associated"`
	Disassociation *DisassociationInfo `json:"disassociation"`
}

// Delegation is a reseller's delegated permissions (rule 6).
type Delegation struct {
	Freeze bool `json:"freeze"`
	Budget bool `json:"budget"`
}

// PartnerStatus is a partner as GET /v1/partners/{id} shows it. Frozen is the partner's own freeze;
// EffectiveFrozen is also true for a reseller under a frozen distributor (rule 7). The Frozen*
// fields describe the partner's own freeze (null when not frozen). Delegation is set for resellers
// only. Position is that of the last event that changed the partner (registration, freeze, unfreeze,
// delegation) or, for a reseller, its distributor's freeze state.
type PartnerStatus struct {
	PartnerID       string      `json:"partner_id"`
	Name            string      `json:"name"`
	Type            string      `json:"type"`
	ParentID        string      `json:"parent_id"`
	Frozen          bool        `json:"frozen"`
	FrozenReason    *string     `json:"frozen_reason"`
	FrozenBy        *string     `json:"frozen_by"`
	FrozenAt        *string     `json:"frozen_at"`
	EffectiveFrozen bool        `json:"effective_frozen"`
	Delegation      *Delegation `json:"delegation"`
	RegisteredAt    string      `json:"registered_at"`
	Position        string      `json:"position"`
	// VerificationRequired: the partner's critical operations need a verification code (rule 19).
	VerificationRequired bool `json:"verification_required"`
}

// AsOf selects the moment a read answers for. The zero value is "now" (everything applied).
// Position: the state just after the event at that position (inclusive). Time: the state after
// the longest log prefix whose events all happened at or before Time (with event times that grow
// along the log, simply every event up to Time). Set at most one.
type AsOf struct {
	Time     *time.Time
	Position *eventstore.Position
}

// IsNow reports whether a is the present.
func (a AsOf) IsNow() bool { return a.Time == nil && a.Position == nil }

// ParseAsOf parses the API's as_of parameter: "" (now), an RFC 3339 time, or "position:N" with N a
// position as Position.String writes it. A malformed value is a *domain.Error with code invalid.
func ParseAsOf(s string) (AsOf, error) {
	if s == "" {
		return AsOf{}, nil
	}
	if rest, ok := strings.CutPrefix(s, "position:"); ok {
		p, err := eventstore.ParsePosition(rest)
		if err != nil {
			return AsOf{}, domain.Errorf(domain.CodeInvalid, "as_of %q: %v", s, err)
		}
		return AsOf{Position: &p}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return AsOf{}, domain.Errorf(domain.CodeInvalid, "as_of %q is neither an RFC 3339 time nor position:N", s)
	}
	t = t.UTC()
	return AsOf{Time: &t}, nil
}

var (
	stateActive = domain.StateActive
	stateFrozen = domain.StateFrozen
	sevStr      = [...]*string{nil, ptr(string(domain.FreezeAccount)), ptr(string(domain.FreezeAccountAndResource))}
	originPart  = ptr(string(domain.OriginPartner))
)

func ptr(s string) *string { return &s }

// appendTime appends Unix nanoseconds formatted as leaf.TimeFormat (RFC 3339, UTC,
// milliseconds), by hand for years 0 to 9999: time.Format parses its layout on every call, which
// was a third of a status lookup.
func appendTime(b []byte, ns int64) []byte {
	t := time.Unix(0, ns).UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, leaf.TimeFormat)
	}
	h, mi, s := t.Clock()
	var f [24]byte
	put := func(at, v, width int) {
		for i := at + width - 1; i >= at; i-- {
			f[i] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	f[4] = '-'
	put(5, int(mo), 2)
	f[7] = '-'
	put(8, d, 2)
	f[10] = 'T'
	put(11, h, 2)
	f[13] = ':'
	put(14, mi, 2)
	f[16] = ':'
	put(17, s, 2)
	f[19] = '.'
	put(20, t.Nanosecond()/1e6, 3)
	f[23] = 'Z'
	return append(b, f[:]...)
}

func fmtTime(ns int64) string { return string(appendTime(make([]byte, 0, 24), ns)) }

// appendPosition appends p as eventstore.Position.String writes it.
func appendPosition(b []byte, p eventstore.Position) []byte {
	b = strconv.AppendUint(b, p.Commit, 10)
	if p.Commit != p.Prepare {
		b = strconv.AppendUint(append(b, '/'), p.Prepare, 10)
	}
	return b
}

func fmtTimePtr(ns int64) *string {
	if ns == 0 {
		return nil
	}
	s := fmtTime(ns)
	return &s
}

// cut resolves a to a number of leaves. A position after the applied one is an error (not yet
// applied: wait first); a time in the future is "now".
func (s *state) cut(a AsOf) (uint32, error) {
	switch {
	case a.Position != nil:
		if s.applied().Less(*a.Position) {
			return 0, domain.Errorf(domain.CodeUnavailable, "position %s is not applied yet (applied: %s)", a.Position, s.applied())
		}
		return s.cutAtPosition(*a.Position), nil
	case a.Time != nil:
		return s.cutAtTime(*a.Time), nil
	}
	return s.leaves(), nil
}

// status builds the status of the view; id is the customer's ID ("" to read it from the arena).
func (s *state) status(v *view, id string, retention time.Duration) CustomerStatus {
	c := v.c
	if id == "" {
		id = s.cid(c)
	}
	pos := eventstore.Position{Commit: c.lastCommit, Prepare: s.pos.prepareOf(c.lastLeaf, c.lastCommit)}
	if v.lastLeaf != c.lastLeaf {
		pos = s.pos.at(v.lastLeaf)
	}
	// Every text the status needs but the read models do not hold as a string (the name, times,
	// the position) goes into one string: one allocation, plus one for the pointed-to times.
	var buf [128]byte
	b := append(buf[:0], s.cnameBytes(c)...)
	nameEnd := len(b)
	b = appendTime(b, v.own.associatedAt)
	assocEnd := len(b)
	b = appendPosition(b, pos)
	posEnd := len(b)
	f := v.own.freeze
	var deadline int64
	frozenEnd := posEnd
	if f != nil {
		b = appendTime(b, f.time)
		frozenEnd = len(b)
		if f.sev == sevAll && !v.own.released {
			if deadline = f.deadline; deadline == 0 {
				deadline = f.time + int64(retention)
			}
			b = appendTime(b, deadline)
		}
	}
	text := string(b)
	st := CustomerStatus{
		CustomerID:     id,
		Name:           text[:nameEnd],
		PartnerID:      v.p.id,
		ManagedBy:      v.managedBy(),
		State:          stateActive,
		EffectiveState: stateActive,
		AccountManager: s.str(c.accountManager),
		AssociatedAt:   text[nameEnd:assocEnd],
		Position:       text[assocEnd:posEnd],
	}
	switch {
	case v.parent != nil:
		st.DistributorID = v.parent.id
	case v.p.typ == ptypeDistributor:
		st.DistributorID = v.p.id
	}
	st.Tags = s.tagStrs[c.tags]
	st.ResourcesReleased = v.own.released
	if f != nil {
		st.State = stateFrozen
		st.FreezeType = sevStr[f.sev]
		st.Origin, st.Reason, st.FrozenBy = s.strPtr(f.origin), s.strPtr(f.reason), s.strPtr(f.actor)
		times := &[2]string{text[posEnd:frozenEnd]}
		st.FrozenAt = &times[0]
		if deadline != 0 {
			times[1] = text[frozenEnd:]
			st.RetentionDeadline = &times[1]
		}
		st.EffectiveState, st.EffectiveFreezeType, st.EffectiveOrigin = stateFrozen, st.FreezeType, st.Origin
	}
	if v.inherit != nil {
		st.EffectiveState, st.EffectiveFreezeType, st.EffectiveOrigin = stateFrozen, sevStr[sevAll], originPart
	}
	statusBilling(&st, s.billingAt(v.ci, v.cut), s.refAt(v.cut), s.currency)
	s.statusPersonal(&st, v.ci)
	s.rules1920Status(&st, v)
	return st
}

// refAt is the moment month-to-date spend and budget periods are taken at for a read at cut: the
// clock's now for the present, the time of the cut's last event for the past.
func (s *state) refAt(cut uint32) time.Time {
	if cut >= s.leaves() || cut == 0 {
		if s.clock == nil {
			return time.Now().UTC()
		}
		return s.clock.Now().UTC()
	}
	return time.Unix(0, s.maxTime[cut-1]).UTC()
}

func (s *state) partnerStatus(pi uint32, cut uint32) (PartnerStatus, bool) {
	p := &s.partners[pi]
	ps := p.at(cut)
	if !ps.exists || p.typ == ptypeUnknown {
		return PartnerStatus{}, false
	}
	out := PartnerStatus{
		PartnerID:    p.id,
		Name:         p.name,
		Type:         partnerTypeNames[p.typ],
		RegisteredAt: fmtTime(p.regTime),
	}
	last := ps.lastLeaf
	if f := ps.freeze; f != nil {
		out.Frozen, out.EffectiveFrozen = true, true
		out.FrozenReason, out.FrozenBy, out.FrozenAt = s.strPtr(f.reason), s.strPtr(f.actor), fmtTimePtr(f.time)
	}
	if p.parent != noPartner {
		q := &s.partners[p.parent]
		out.ParentID = q.id
		if qs := q.at(cut); qs.exists {
			if qs.freeze != nil {
				out.EffectiveFrozen = true
			}
			if l := q.freezeLeaf(cut); l > last {
				last = l
			}
		}
	}
	if p.typ == ptypeReseller {
		out.Delegation = &Delegation{Freeze: ps.deleg&delegFreeze != 0, Budget: ps.deleg&delegBudget != 0}
	}
	out.Position = s.pos.at(last).String()
	out.VerificationRequired = s.rules1920.verificationAt(pi, cut)
	return out, true
}
