package projections

import (
	"github.com/freezeledger/freezeledger/domain"
)

// Timeline is a customer's effective state over time (GET /v1/customers/{id}/timeline): one
// interval per run of the same effective state, freeze type and origin, oldest first. It is the
// run-length encoding of the effective state (the status's effective_* fields) read after every
// event of the log from the customer's association on: the customer's own events and the freezes
// and unfreezes of its partner and of its partner's distributor (rule 7's cascade) each may begin
// an interval. An event that leaves the effective state as it was (an own unfreeze under a frozen
// partner, a delegation change, a resource release) begins none.
//
// The association and its default freeze (rule 1) are two events: between them the customer is
// ACTIVE, so a timeline begins with an ACTIVE interval of zero length (both events have the same
// time) unless its partner was frozen.
type Timeline struct {
	CustomerID string             `json:"customer_id"`
	Intervals  []TimelineInterval `json:"intervals"`
}

// TimelineInterval is one run of an effective state. From is the time of the event that began it
// (Cause), To that of the event that ended it, nil for the current interval.
type TimelineInterval struct {
	From                string        `json:"from"`
	To                  *string       `json:"to"`
	EffectiveState      string        `json:"effective_state"`
	EffectiveFreezeType *string       `json:"effective_freeze_type"`
	EffectiveOrigin     *string       `json:"effective_origin"`
	Cause               TimelineCause `json:"cause"`
}

// TimelineCause is the event that began an interval. Kind is CauseOwn for the customer's own event,
// CausePartner for a freeze or unfreeze of its partner or distributor (PartnerID names it).
// CauseNone is for an interval no recorded event began; phase 1 has none. Actor is the principal
// name, Reason the freeze's or unfreeze's reason (nil for other events), Index the event's leaf.
type TimelineCause struct {
	Kind      string  `json:"kind"`
	PartnerID string  `json:"partner_id,omitempty"`
	Index     uint64  `json:"index"`
	Position  string  `json:"position"` // the event's log position (an extension: as_of=position:N shows the state after it)
	EventType string  `json:"event_type"`
	Actor     string  `json:"actor"`
	Reason    *string `json:"reason"`
}

// Cause kinds.
const (
	CauseOwn     = "own"
	CausePartner = "partner"
	CauseNone    = "none"
)

// effective is an effective state: severity (sevNone: ACTIVE) and the own freeze's origin
// (interned), or a cascade (rule 7).
type effective struct {
	sev     uint8
	cascade bool
	origin  uint32
}

// Timeline returns customer id's timeline. Errors: not_found.
func (m *ReadModels) Timeline(id string) (Timeline, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.st
	ci, ok := s.lookup(id)
	if !ok {
		return Timeline{}, domain.Errorf(domain.CodeNotFound, "customer %q not found", id)
	}
	c := &s.customers[ci]
	own := s.transOf(c)
	p := &s.partners[c.partner]
	var parent *partner
	var ptr []ptrans
	if p.parent != noPartner {
		parent = &s.partners[p.parent]
		ptr = parent.trans
	}
	out := Timeline{CustomerID: id, Intervals: make([]TimelineInterval, 0, len(own)+len(p.trans)+len(ptr))}
	var froms []int64 // each interval's start, formatted at the end in one string
	var (
		ownSev                   uint8
		ownOrigin                uint32
		pFrozen, parFrozen, born bool
		gone                     bool // disassociated (rule 20): no cascade until associated again
		cur                      effective
	)
	i, j, k := 0, 0, 0 // next own transition, partner transition, distributor transition
	for i < len(own) || j < len(p.trans) || k < len(ptr) {
		// The next event in log order among the three lists.
		var leaf uint32 = ^uint32(0)
		src := -1
		if i < len(own) {
			leaf, src = own[i].leaf, 0
		}
		if j < len(p.trans) && p.trans[j].leaf < leaf {
			leaf, src = p.trans[j].leaf, 1
		}
		if k < len(ptr) && ptr[k].leaf < leaf {
			leaf, src = ptr[k].leaf, 2
		}
		cause := TimelineCause{Kind: CauseOwn, Index: uint64(leaf)}
		var at int64
		switch src {
		case 0:
			t := &own[i]
			i++
			at = t.time
			cause.Actor = s.str(t.actor)
			switch t.kind {
			case kindAssociated:
				ownSev, born, gone = sevNone, true, false
				cause.EventType = domain.EventCustomerAssociated
			case kindFrozen:
				ownSev, ownOrigin = t.sev, t.origin
				cause.EventType, cause.Reason = domain.EventCustomerFrozen, s.strPtr(t.reason)
			case kindUnfrozen:
				ownSev = sevNone
				cause.EventType, cause.Reason = domain.EventCustomerUnfrozen, s.strPtr(t.reason)
			case kindDisassociated:
				ownSev, gone = sevNone, true
				cause.EventType, cause.Reason = domain.EventDisassociationAccepted, s.strPtr(t.reason)
			default:
				cause.EventType = domain.EventCustomerResourcesRelease
			}
		default:
			var q *partner
			var tr *ptrans
			var frozen *bool
			if src == 1 {
				q, tr, frozen = p, &p.trans[j], &pFrozen
				j++
			} else {
				q, tr, frozen = parent, &ptr[k], &parFrozen
				k++
			}
			if tr.kind == kindDelegation {
				continue
			}
			*frozen = tr.kind == kindFrozen
			at = tr.time
			cause = TimelineCause{Kind: CausePartner, PartnerID: q.id, Index: uint64(leaf), Actor: s.str(tr.actor), Reason: s.strPtr(tr.reason),
				EventType: domain.EventPartnerFrozen}
			if tr.kind == kindUnfrozen {
				cause.EventType = domain.EventPartnerUnfrozen
			}
		}
		if !born {
			continue // the partner's events before the association set the cascade only
		}
		next := effective{sev: ownSev, origin: ownOrigin}
		switch {
		case (pFrozen || parFrozen) && !gone:
			next = effective{sev: sevAll, cascade: true}
		case ownSev == sevNone:
			next = effective{}
		}
		if len(out.Intervals) > 0 && next == cur {
			continue
		}
		cur = next
		froms = append(froms, at)
		cause.Position = s.pos.at(leaf).String()
		iv := TimelineInterval{EffectiveState: stateActive, Cause: cause}
		if next.sev != sevNone {
			iv.EffectiveState, iv.EffectiveFreezeType = stateFrozen, sevStr[next.sev]
			iv.EffectiveOrigin = originPart
			if !next.cascade {
				iv.EffectiveOrigin = s.strPtr(next.origin)
			}
		}
		out.Intervals = append(out.Intervals, iv)
	}
	// One allocation for every time; an interval's To is the next one's From.
	buf := make([]byte, 0, 24*len(froms))
	ends := make([]int, len(froms))
	for n, ns := range froms {
		buf = appendTime(buf, ns)
		ends[n] = len(buf)
	}
	text := string(buf)
	for n := range out.Intervals {
		iv := &out.Intervals[n]
		start := 0
		if n > 0 {
			start = ends[n-1]
			out.Intervals[n-1].To = &iv.From
		}
		iv.From = text[start:ends[n]]
	}
	return out, nil
}
