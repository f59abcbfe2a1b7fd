package projections

import (
	"github.com/freezeledger/freezeledger/domain"
)

// Which customers' status an event changes, and what it became: the derivation behind the change
// feed (changes.go). Nothing here is stored: an event's changes are recomputed from the read models'
// transitions whenever a reader passes it, by comparing each candidate customer's status just
// before the event (cut = its leaf) with its status just after (cut = leaf+1).
//
// Candidates are the customer a customer event names, or every customer below a partner whose
// freeze or unfreeze the event is: the partner's own customers and, for a distributor, its
// resellers' customers (rule 7). Other events (registrations, delegation changes, reservations)
// change no customer's freeze status. customer.associated yields no item either: the domain always
// appends the association freeze (rule 1) right after it, in the same append, and that freeze is a
// new customer's first item; an item for the instant in between would show a new customer as ACTIVE.

// feedStatus is the part of a customer's status the feed compares and shows.
type feedStatus struct {
	exists    bool
	own       *ctrans // the customer's own freeze in force, nil when ACTIVE
	inherited bool    // under a frozen partner (its own, or its reseller's distributor)
}

func (a feedStatus) equal(b feedStatus) bool {
	if a.exists != b.exists || a.inherited != b.inherited || (a.own == nil) != (b.own == nil) {
		return false
	}
	return a.own == nil || (a.own.sev == b.own.sev && a.own.origin == b.own.origin)
}

// underFrozenPartner reports whether customers of partner pi are effectively frozen by a partner
// at cut: pi itself, or pi's distributor, is frozen (view's cascade, rule 7).
func (s *state) underFrozenPartner(pi, cut uint32) bool {
	if pi == noPartner {
		return false
	}
	p := &s.partners[pi]
	if p.at(cut).freeze != nil {
		return true
	}
	return p.parent != noPartner && s.partners[p.parent].at(cut).freeze != nil
}

// aroundCustomerEvent is customer c's own status just before and just after its transition at
// leaf (inherited left false for the caller to set). It walks c's transitions once, from the
// newest back to the one at leaf, then folds from there and from the one before it: customerAt
// twice would walk the newer transitions twice, which costs a reader that lags behind a customer
// changing often.
func (s *state) aroundCustomerEvent(c *customer, leaf uint32) (was, now feedStatus) {
	k := noTrans
	if c.ntrans > 0 {
		k = c.last
	}
	for k != noTrans && s.ctrans[k].leaf > leaf {
		k = s.ctrans[k].prev
	}
	if k == noTrans || s.ctrans[k].leaf != leaf {
		// No transition at leaf (the event was not applied): unchanged.
		o := s.customerAt(c, leaf)
		st := feedStatus{exists: o.exists, own: o.freeze}
		return st, st
	}
	return s.ownFrom(s.ctrans[k].prev), s.ownFrom(k)
}

// ownFrom folds a customer's transitions from k (its newest one at the cut) back: what customerAt
// does after finding k, for the fields the feed shows. noTrans: the customer did not exist.
func (s *state) ownFrom(k uint32) feedStatus {
	if k == noTrans {
		return feedStatus{}
	}
	st := feedStatus{exists: true}
	for ; k != noTrans; k = s.ctrans[k].prev {
		t := &s.ctrans[k]
		switch t.kind {
		case kindFrozen:
			st.own = t
			return st
		case kindUnfrozen, kindAssociated:
			return st
		}
	}
	return st
}

// changeKind says what an event type can change.
type changeKind uint8

const (
	changesNothing  changeKind = iota
	changesCustomer            // the customer the event names
	changesPartner             // every customer below the partner the event names
)

func changeKindOf(eventType string) changeKind {
	switch eventType {
	case domain.EventCustomerFrozen, domain.EventCustomerUnfrozen, domain.EventCustomerResourcesRelease:
		return changesCustomer
	case domain.EventPartnerFrozen, domain.EventPartnerUnfrozen:
		return changesPartner
	}
	return changesNothing
}

// cascadeGroups lists the partners whose customers a freeze or unfreeze of partner pi may change:
// pi, then (for a distributor) its resellers in registration order. The order is fixed for a given
// log prefix, which keeps item numbers stable across reads.
func (s *state) cascadeGroups(pi uint32) []uint32 {
	groups := []uint32{pi}
	if s.partners[pi].typ != ptypeDistributor {
		return groups
	}
	for i := range s.partners {
		if s.partners[i].parent == pi && uint32(i) != pi {
			groups = append(groups, uint32(i))
		}
	}
	return groups
}

// associatedPartnerAt is the partner customer c was associated with at cut (noPartner when it
// was not associated then). The change feed decides every item's tenancy, partner_id and cascade
// with it, never with the customer's partner now: an item stays in the subtree it was in when it
// happened. Phase 1 has no re-association (rule 10: an ID is associated once), so it is c.partner;
// disassociation (rule 20) must make it answer from the customer's association history.
func (s *state) associatedPartnerAt(c *customer, cut uint32) uint32 {
	_ = cut
	return c.partner
}

// change builds the feed item of customer c whose status after the event is st and whose
// partner at the event was pi.
func (s *state) change(c *customer, st feedStatus, pi uint32) Change {
	ch := Change{
		CustomerID:     s.cid(c),
		PartnerID:      s.partners[pi].id,
		State:          stateActive,
		EffectiveState: stateActive,
	}
	if f := st.own; f != nil {
		ch.State, ch.FreezeType, ch.Origin = stateFrozen, sevStr[f.sev], s.strPtr(f.origin)
		ch.EffectiveState, ch.EffectiveFreezeType, ch.EffectiveOrigin = stateFrozen, ch.FreezeType, ch.Origin
	}
	if st.inherited {
		ch.EffectiveState, ch.EffectiveFreezeType, ch.EffectiveOrigin = stateFrozen, sevStr[sevAll], originPart
	}
	return ch
}
