package projections

import (
	"context"
	"fmt"
	"sort"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// AuditQuery selects events of the whole log (GET /v1/audit/events with filters). Empty fields do
// not filter; the filters combine.
//
//   - Actor is the principal name (metadata.actor.name); ActorPartnerID its partner
//     (metadata.actor.partner_id).
//   - CustomerID: the customer's own events (its history). PartnerID: the events about the
//     partner, its resellers and all their customers (HistoryPartner).
//   - Types: the event types (any of them).
//   - From (inclusive) and To (exclusive): a position, or a time (the first event at or after it,
//     in the sense of AsOf: the log prefix whose events all happened before it); the zero AsOf is
//     an open end. After: only events strictly after this position (the paging cursor).
//
// Limit defaults to DefaultLimit and is capped at MaxLimit.
type AuditQuery struct {
	Actor          string
	ActorPartnerID string
	CustomerID     string
	PartnerID      string
	Types          []string
	From, To       AsOf
	After          *eventstore.Position
	Limit          int
}

// AuditPage is one page of events in log order. NextAfter is the position to pass as After for the
// next page, "" at the end.
type AuditPage struct {
	Events    []leaf.Event
	NextAfter string
}

// AuditEvents pages the events matching q, reading each event's body from the store. The
// candidates come from the shortest of the indexes the filters name (the actor's events, the
// actor partner's, the customer's, the partner's; the whole range otherwise), are intersected with
// the others, and the event type is checked on a one-byte code per event, so a page costs its
// events' reads, not a scan of the log. Errors: the store's.
func (m *ReadModels) AuditEvents(ctx context.Context, q AuditQuery) (AuditPage, error) {
	limit := pageLimit(q.Limit)
	var locs []leafLoc
	more := false

	m.mu.RLock()
	s := m.st
	lo, hi := s.auditBound(q.From, 0), s.auditBound(q.To, s.leaves())
	if q.After != nil {
		lo = max(lo, s.cutAtPosition(*q.After))
	}
	lists, none := s.auditLists(&q)
	want, anyType := map[uint8]bool{}, len(q.Types) == 0
	for _, t := range q.Types {
		if c, ok := s.typeIdx[t]; ok && c != typeUnindexed {
			want[c] = true
		}
	}
	if !anyType && len(s.types) > 255 {
		want[typeUnindexed] = true
	}
	if !none && lo < hi {
		// The shortest list drives; the others are walked alongside it.
		sort.Slice(lists, func(i, j int) bool { return len(lists[i]) < len(lists[j]) })
		for i := range lists {
			lists[i] = lists[i][searchU32(lists[i], lo):]
		}
		next := lo
		for len(locs) <= limit {
			var leaf uint32
			if len(lists) == 0 {
				if next >= hi {
					break
				}
				leaf, next = next, next+1
			} else {
				if len(lists[0]) == 0 || lists[0][0] >= hi {
					break
				}
				leaf, lists[0] = lists[0][0], lists[0][1:]
				in := true
				for i := 1; i < len(lists) && in; i++ {
					lists[i] = lists[i][searchU32(lists[i], leaf):]
					in = len(lists[i]) > 0 && lists[i][0] == leaf
				}
				if !in {
					continue
				}
			}
			code := s.etype[leaf]
			if !anyType && !want[code] {
				continue
			}
			locs = append(locs, leafLoc{leaf: leaf, stream: s.streamName(leaf), rev: s.pos.revision(leaf), pos: s.pos.at(leaf),
				check: !anyType && code == typeUnindexed})
		}
	}
	if len(locs) > limit {
		locs, more = locs[:limit], true
	}
	m.mu.RUnlock()

	page := AuditPage{Events: make([]leaf.Event, 0, len(locs))}
	rd := leafReader{store: m.store, what: "audit events", locs: locs}
	for i, l := range locs {
		rec, err := rd.event(ctx, i)
		if err != nil {
			return AuditPage{}, err
		}
		if l.check && !containsString(q.Types, rec.Type) {
			continue
		}
		ev, err := leafEvent(*rec, uint64(l.leaf))
		if err != nil {
			return AuditPage{}, fmt.Errorf("projections: audit events: %w", err)
		}
		page.Events = append(page.Events, ev)
	}
	if more {
		page.NextAfter = locs[len(locs)-1].pos.String()
	}
	return page, nil
}

// auditBound is the first leaf at or after bound a (open: def).
func (s *state) auditBound(a AsOf, def uint32) uint32 {
	switch {
	case a.Position != nil:
		p := *a.Position
		return uint32(sort.Search(s.pos.len(), func(i int) bool { return !s.pos.at(uint32(i)).Less(p) }))
	case a.Time != nil:
		ns := unixNanos(*a.Time)
		return uint32(sort.Search(len(s.maxTime), func(i int) bool { return s.maxTime[i] >= ns }))
	}
	return def
}

// auditLists returns the ascending leaf lists q's subject filters name; none is true when one of
// them names an actor, customer or partner the log does not know (nothing matches).
func (s *state) auditLists(q *AuditQuery) (lists [][]uint32, none bool) {
	if q.Actor != "" {
		ai, ok := s.actorIdx[s.strIdx[q.Actor]]
		if !ok {
			return nil, true
		}
		lists = append(lists, s.actors[ai].leaves)
	}
	if q.ActorPartnerID != "" {
		pi, ok := s.partnerIdx[q.ActorPartnerID]
		if !ok {
			return nil, true
		}
		lists = append(lists, s.partners[pi].acted)
	}
	if q.CustomerID != "" {
		ci, ok := s.lookup(q.CustomerID)
		if !ok {
			return nil, true
		}
		lists = append(lists, s.customerLeaves(ci))
	}
	if q.PartnerID != "" {
		pi, ok := s.partnerIdx[q.PartnerID]
		if !ok {
			return nil, true
		}
		lists = append(lists, s.partners[pi].hist)
	}
	return lists, false
}

func containsString(l []string, x string) bool {
	for _, y := range l {
		if y == x {
			return true
		}
	}
	return false
}

// EventTypes are the event types the domain writes, for validating a type filter.
var EventTypes = []string{
	domain.EventPartnerRegistered, domain.EventPartnerFrozen, domain.EventPartnerUnfrozen,
	domain.EventPartnerDelegationGranted, domain.EventPartnerDelegationRevoked,
	domain.EventCustomerAssociated, domain.EventCustomerFrozen, domain.EventCustomerUnfrozen,
	domain.EventCustomerResourcesRelease, domain.EventIDReserved, domain.EventIDReservationReleased,
}
