package projections

import (
	"context"
	"fmt"
	"sort"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// VisibleTo reports whether customer customerID exists and lies in the subtree of viewer: its own
// partner is viewer, or its partner is a reseller of viewer. viewer "" (the platform, or an auditor
// or reader without a partner) sees every customer.
func (m *ReadModels) VisibleTo(viewer, customerID string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ci, ok := m.st.lookup(customerID)
	if !ok {
		return false
	}
	return m.st.partnerInScope(m.st.customers[ci].partner, viewer)
}

// PartnerVisibleTo reports whether partner partnerID exists and lies in the subtree of viewer: it is
// viewer, or a reseller of viewer. viewer "" sees every partner. (A distributor sees itself and its
// resellers; a reseller and a solution provider see themselves.)
func (m *ReadModels) PartnerVisibleTo(viewer, partnerID string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	pi, ok := m.st.partnerIdx[partnerID]
	if !ok || m.st.partners[pi].typ == ptypeUnknown {
		return false
	}
	return m.st.partnerInScope(pi, viewer)
}

func (s *state) partnerInScope(pi uint32, viewer string) bool {
	if viewer == "" {
		return true
	}
	p := &s.partners[pi]
	return p.id == viewer || (p.parent != noPartner && s.partners[p.parent].id == viewer)
}

// History kinds.
const (
	HistoryCustomer = "customer" // the customer's own events
	HistoryPartner  = "partner"  // events about the partner, its resellers and all their customers
	HistoryActor    = "actor"    // every event an actor (principal name) appended, reservations included
	// HistoryPartnerActivity is HistoryPartner's events and every event appended by the partner's
	// principals (actor.partner_id is the partner), reservations included: GET
	// /v1/partners/{id}/history. Every such event is about the partner's subtree, so a viewer that
	// sees the partner sees them all.
	HistoryPartnerActivity = "partner_activity"
)

// HistoryQuery selects a history. Viewer, when not empty, keeps only events about customers and
// partners visible to it (VisibleTo), which matters for actor histories (a platform operator acts
// across channels); reservation events are kept only for viewer "". The caller checks that the
// customer or partner itself is visible.
type HistoryQuery struct {
	Kind   string
	ID     string
	Viewer string
	Limit  int    // default DefaultLimit, at most MaxLimit
	Cursor string // NextCursor of the previous page
}

// HistoryPage is one page of a history, oldest first. NextCursor is "" at the end. With a Viewer, a
// page may hold fewer than Limit events and still have a NextCursor (at most 10×Limit events are
// examined per page).
type HistoryPage struct {
	Events     []leaf.Event
	NextCursor string
}

// History pages a history, oldest first, as leaf.Event values (leaf index, position, leaf hash),
// reading each event's body from the store. Errors: not_found (unknown customer, partner or actor:
// an actor is known once it has appended an event), invalid (bad kind or cursor), or the store's.
func (m *ReadModels) History(ctx context.Context, q HistoryQuery) (HistoryPage, error) {
	after := uint64(0)
	if q.Cursor != "" {
		n, ok := decodeCursor('h', q.Cursor)
		if !ok {
			return HistoryPage{}, domain.Errorf(domain.CodeInvalid, "cursor %q is not a cursor of this list", q.Cursor)
		}
		after = n
	}
	limit := pageLimit(q.Limit)
	scan := limit
	if q.Viewer != "" {
		scan = 10 * limit
	}
	var locs []leafLoc
	more := false

	m.mu.RLock()
	s := m.st
	var leaves []uint32
	switch q.Kind {
	case HistoryCustomer:
		ci, ok := s.lookup(q.ID)
		if !ok {
			m.mu.RUnlock()
			return HistoryPage{}, domain.Errorf(domain.CodeNotFound, "customer %q not found", q.ID)
		}
		tr := s.customerLeaves(ci)
		k := sort.Search(len(tr), func(i int) bool { return uint64(tr[i]) >= after })
		for ; k < len(tr) && len(leaves) <= scan; k++ {
			leaves = append(leaves, tr[k])
		}
	case HistoryPartnerActivity:
		pi, ok := s.partnerIdx[q.ID]
		if !ok || s.partners[pi].typ == ptypeUnknown {
			m.mu.RUnlock()
			return HistoryPage{}, domain.Errorf(domain.CodeNotFound, "partner %q not found", q.ID)
		}
		p := &s.partners[pi]
		leaves = mergeLeaves(p.hist, p.acted, uint32(min(after, uint64(s.leaves()))), scan+1)
	case HistoryPartner, HistoryActor:
		var list []uint32
		if q.Kind == HistoryPartner {
			pi, ok := s.partnerIdx[q.ID]
			if !ok || s.partners[pi].typ == ptypeUnknown {
				m.mu.RUnlock()
				return HistoryPage{}, domain.Errorf(domain.CodeNotFound, "partner %q not found", q.ID)
			}
			list = s.partners[pi].hist
		} else {
			ai, ok := s.actorIdx[s.strIdx[q.ID]]
			if q.ID == "" || !ok {
				m.mu.RUnlock()
				return HistoryPage{}, domain.Errorf(domain.CodeNotFound, "actor %q not found", q.ID)
			}
			list = s.actors[ai].leaves
		}
		k := sort.Search(len(list), func(i int) bool { return uint64(list[i]) >= after })
		end := min(len(list), k+scan+1)
		leaves = list[k:end]
	default:
		m.mu.RUnlock()
		return HistoryPage{}, domain.Errorf(domain.CodeInvalid, "history kind %q is not customer, partner, partner_activity or actor", q.Kind)
	}
	if len(leaves) > scan {
		leaves, more = leaves[:scan], true
	}
	locs = make([]leafLoc, len(leaves))
	for i, l := range leaves {
		locs[i] = leafLoc{leaf: l, stream: s.streamName(l), rev: s.pos.revision(l), pos: s.pos.at(l)}
	}
	m.mu.RUnlock()

	page := HistoryPage{Events: []leaf.Event{}}
	rd := leafReader{store: m.store, what: "history", locs: locs}
	for i, l := range locs {
		if len(page.Events) == limit {
			page.NextCursor = encodeCursor('h', uint64(l.leaf))
			return page, nil
		}
		rec, err := rd.event(ctx, i)
		if err != nil {
			return HistoryPage{}, err
		}
		if q.Viewer != "" && !m.eventVisible(rec, q.Viewer) {
			continue
		}
		ev, err := leafEvent(*rec, uint64(l.leaf))
		if err != nil {
			return HistoryPage{}, fmt.Errorf("projections: history: %w", err)
		}
		page.Events = append(page.Events, ev)
	}
	if more {
		page.NextCursor = encodeCursor('h', uint64(locs[len(locs)-1].leaf)+1)
	}
	return page, nil
}

// mergeLeaves returns up to n leaves of the union of the ascending lists a and b, from leaf from on,
// ascending and without repeats.
func mergeLeaves(a, b []uint32, from uint32, n int) []uint32 {
	a, b = a[searchU32(a, from):], b[searchU32(b, from):]
	out := make([]uint32, 0, min(n, len(a)+len(b)))
	for len(out) < n && (len(a) > 0 || len(b) > 0) {
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0] < b[0]):
			out, a = append(out, a[0]), a[1:]
		case len(a) == 0 || b[0] < a[0]:
			out, b = append(out, b[0]), b[1:]
		default:
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	return out
}

// eventVisible reports whether the event's subject (customer or partner) is visible to viewer.
func (m *ReadModels) eventVisible(rec *eventstore.RecordedEvent, viewer string) bool {
	var d decoded
	if decodeEvent(&d, rec.Data, nil) != nil {
		return false
	}
	switch {
	case len(d.customerID) > 0 && rec.Type != domain.EventIDReserved && rec.Type != domain.EventIDReservationReleased:
		return m.VisibleTo(viewer, string(d.customerID))
	case len(d.partnerID) > 0:
		return m.PartnerVisibleTo(viewer, string(d.partnerID))
	}
	return false
}

// leafEvent is the public shape of a stored event at leaf index index, with its leaf hash: the
// store's fields handed to the leaf format (projections needs nothing of the audit tree).
func leafEvent(rec eventstore.RecordedEvent, index uint64) (leaf.Event, error) {
	return leaf.FromRecord(leaf.Record{Position: rec.Position.String(), EventID: rec.ID.String(), Type: rec.Type,
		Stream: rec.Stream, Revision: rec.Revision, Data: rec.Data, Metadata: rec.Metadata}, index)
}
