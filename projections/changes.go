package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/internal/jsonwire"
)

// Change is one item of the change feed (shared/API.md, "Change feed and webhooks"): customer
// CustomerID's status just after the event at Position (leaf Index), because of that event.
//
// An event yields an item for every customer whose status fields shown here (effective or own)
// it changed: the customer a customer event names, or each customer below a frozen or unfrozen
// partner whose effective status the cascade changed (rule 7; a distributor's cascade reaches its
// resellers' customers). ID is the item's feed ID: the position, or "POSITION.N" for the N-th item
// (from 0) when the event yields several for the viewer (ChangeCursor's text form).
//
// The string pointers are shared with the read models: callers must not modify what they point to.
type Change struct {
	ID                  string      `json:"id"`
	Position            string      `json:"position"`
	Index               uint64      `json:"index"`
	CustomerID          string      `json:"customer_id"`
	PartnerID           string      `json:"partner_id"`
	EffectiveState      string      `json:"effective_state"`
	EffectiveFreezeType *string     `json:"effective_freeze_type"`
	EffectiveOrigin     *string     `json:"effective_origin"`
	State               string      `json:"state"`
	FreezeType          *string     `json:"freeze_type"`
	Origin              *string     `json:"origin"`
	Cause               ChangeCause `json:"cause"`

	// raw is the item's JSON after its "id" member, shared by every reader of the event
	// (changecache.go), or nil: AppendJSON then encodes the item itself.
	raw []byte
}

// AppendJSON appends the item's JSON to dst: byte for byte what json.Marshal(c) writes, from the
// encoding shared by every reader of the event when there is one.
func (c *Change) AppendJSON(dst []byte) []byte {
	if c.raw == nil {
		b, _ := json.Marshal(c) // a Change always encodes
		return append(dst, b...)
	}
	dst = append(dst, `{"id":`...)
	dst = jsonwire.AppendString(dst, c.ID, jsonwire.HTMLSafe)
	return append(dst, c.raw...)
}

// ChangeCause is the event behind a Change: its type, the partner it froze or unfroze (partner
// events only) and who appended it.
type ChangeCause struct {
	EventType string       `json:"event_type"`
	PartnerID string       `json:"partner_id,omitempty"`
	Actor     domain.Actor `json:"actor"`
}

// ChangeViewer is whose changes a reader yields. Scope is a partner whose subtree is seen, as for
// VisibleTo ("" sees every customer). CustomerID, when set, restricts the feed further to that one
// customer: the seam for the customer role (phase 2), which sees only itself.
type ChangeViewer struct {
	Scope      string
	CustomerID string
}

// changeBudget is how many candidate customers a reader examines per hold of the read models'
// lock: a 100k-customer cascade is computed in slices, so the applier (and so writers' read-backs)
// waits at most one slice.
const changeBudget = 4096

// maxKeptItems is the largest Next result whose slice a reader keeps for the next call.
const maxKeptItems = 1024

// ChangeReader reads the change feed for one viewer, in log order, from a cursor. It holds no
// items beyond what Next returns and one look-ahead item, and per event in progress only where it
// is in the candidate lists: memory stays bounded in a cascade of any size.
//
// A ChangeReader is not safe for concurrent use; any number may run at once, each with its own
// cursor, reading the log from the store and the status from the read models (which must have
// applied an event before a reader yields its items: a reader never runs ahead of them).
type ChangeReader struct {
	m      *ReadModels
	viewer ChangeViewer
	cursor ChangeCursor // after the last item returned (or the last event finished)
	start  ChangeCursor // the cursor given; resolved on the first Next
	begun  bool

	scan    eventstore.Position     // events up to here are in pending or done
	sub     eventstore.Subscription // from scan, opened by the first fill
	pending []eventstore.RecordedEvent
	ev      *changeEvent
	cached  changeEvent // ev, when it is a cached event
	dec     decoded
	buf     []Change // Next's result, reused
}

// changeEvent is the event a reader is in the middle of.
type changeEvent struct {
	pos    eventstore.Position
	posStr string
	leaf   uint32
	cause  ChangeCause
	meta   []byte // the event's metadata until its actor is decoded into cause (read-only: shared)
	kind   changeKind
	cust   []byte   // the customer of a customer event
	groups []uint32 // partners whose customers are candidates (partner events)
	gi, k  int      // next candidate: s.partners[groups[gi]].customers[k]
	// cascade state of groups[gi] before and after the event, computed once per group.
	casBefore, casAfter bool
	casFor              int
	n                   int  // items found for the viewer so far
	skip                int  // items to find but not return (resuming after item skip-1)
	scanned             bool // every candidate examined
	queue               []queuedChange
	// set, when the event's items are cached (changecache.go): the reader filters them, from
	// set.items[k] on, instead of examining candidates (n and skip count as above); visible is
	// how many of them the viewer sees, -1 until counted.
	set     *changeSet
	visible int
}

// queuedChange is an item found but not yet returned: item 0 waits until it is known whether the
// event yields several items (then its ID is "POSITION.0") or one ("POSITION"); at most two wait.
type queuedChange struct {
	n  int
	ch Change
}

func (ev *changeEvent) done() bool { return ev.scanned && len(ev.queue) == 0 }

// Changes returns a reader of viewer's changes after cursor after; Close it when done. The cursor
// is checked on the first Next: a position not yet in the store is an invalid error then.
func (m *ReadModels) Changes(viewer ChangeViewer, after ChangeCursor) *ChangeReader {
	return &ChangeReader{m: m, viewer: viewer, cursor: after, start: after}
}

// Cursor is the reader's place: after the last item Next returned, or after the last event it
// finished. Passing it to Changes resumes exactly there.
func (r *ChangeReader) Cursor() ChangeCursor { return r.cursor }

// Next returns up to limit items (limit <= 0 means 1000) that the read models have already applied,
// without waiting: an empty result means the reader has caught up (see Wait). The slice is the
// reader's: it is valid until the next Next or Close (the items themselves may be kept). Errors:
// invalid for a start cursor beyond the store's head, the store's read errors, ctx's error.
func (r *ChangeReader) Next(ctx context.Context, limit int) ([]Change, error) {
	if limit <= 0 {
		limit = 1000
	}
	if !r.begun {
		if err := r.begin(ctx); err != nil {
			return nil, err
		}
		r.begun = true
	}
	out := r.buf[:0]
	defer func() {
		if cap(out) <= maxKeptItems { // a cascade's big page is not kept
			r.buf = out[:0]
		}
	}()
	applied := r.m.Applied()
	for len(out) < limit {
		if r.ev == nil {
			if len(r.pending) == 0 {
				if err := r.fill(ctx); err != nil {
					return out, err
				}
				if len(r.pending) == 0 {
					break
				}
			}
			if applied.Less(r.pending[0].Position) {
				if applied = r.m.Applied(); applied.Less(r.pending[0].Position) {
					break // the store is ahead of the read models: wait for them (Wait)
				}
			}
			if changeKindOf(r.pending[0].Type) == changesNothing {
				// Most events (reservations, registrations) change no status: no lock, no decoding.
				r.cursor = ChangeCursor{Position: r.pending[0].Position, Item: WholeEvent}
				r.pending[0] = eventstore.RecordedEvent{}
				r.pending = r.pending[1:]
				continue
			}
			ev, err := r.open(&r.pending[0])
			r.pending[0] = eventstore.RecordedEvent{}
			r.pending = r.pending[1:]
			if err != nil {
				return out, err
			}
			r.ev = ev
		}
		if r.ev.set != nil {
			out = r.stepCached(out, limit)
		} else {
			out = r.step(out, limit)
		}
		if r.ev.done() {
			r.cursor = ChangeCursor{Position: r.ev.pos, Item: WholeEvent}
			r.ev = nil
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
	}
	return out, nil
}

// Wait returns once the read models have applied an event the reader has not read yet, or with
// ctx's error, or with an unavailable error after the read models were closed. It returns at once
// if Next stopped because of its limit rather than because it caught up.
func (r *ChangeReader) Wait(ctx context.Context) error {
	if r.ev != nil || !r.begun {
		return nil
	}
	pos, after := r.waitingFor()
	m := r.m
	for {
		m.mu.RLock()
		applied := m.st.applied()
		ok, ch, closed := pos.Less(applied) || (!after && pos == applied), m.notify, m.closed
		m.mu.RUnlock()
		if ok {
			return nil
		}
		if closed {
			return domain.Errorf(domain.CodeUnavailable, "the read models are closed")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// begin resolves the start cursor: a whole-event cursor reads after its position; a cursor after
// item N re-reads the event at its position and skips its first N+1 items.
func (r *ChangeReader) begin(ctx context.Context) error {
	head, err := r.m.store.Head(ctx)
	if err != nil {
		return err
	}
	if head.Less(r.start.Position) {
		return domain.Errorf(domain.CodeInvalid, "position %s is after the end of the log (%s)", r.start.Position, head)
	}
	r.scan = r.start.Position
	if r.start.Item < 0 {
		return nil
	}
	if err := r.m.WaitFor(ctx, r.start.Position); err != nil {
		return err
	}
	r.m.mu.RLock()
	s := r.m.st
	cut := s.cutAtPosition(r.start.Position)
	atEvent := cut > 0 && s.pos.at(cut-1) == r.start.Position
	prev := eventstore.Start
	if cut > 1 {
		prev = s.pos.at(cut - 2)
	}
	r.m.mu.RUnlock()
	if !atEvent {
		return domain.Errorf(domain.CodeInvalid, "%s names an item of the event at position %s, but no event is there", r.start, r.start.Position)
	}
	evs, err := r.m.store.ReadAll(ctx, prev, 1)
	if err != nil {
		return err
	}
	if len(evs) != 1 || evs[0].Position != r.start.Position {
		return fmt.Errorf("projections: changes: the store has no event at position %s, which the read models applied", r.start.Position)
	}
	ev, err := r.open(&evs[0])
	if err != nil {
		return err
	}
	ev.skip = r.start.Item + 1
	r.ev = ev
	return nil
}

// fill reads the next events into pending from the reader's subscription to the store, once the
// read models have applied something after scan. A subscription (not ReadAll) because a live one is
// served from the store's ring of recent events, shared by all subscribers: with many readers
// waking for each commit, ReadAll's per-call decoding and allocation was most of their cost.
func (r *ChangeReader) fill(ctx context.Context) error {
	if !r.scan.Less(r.m.Applied()) {
		return nil
	}
	if r.sub == nil {
		sub, err := r.m.store.SubscribeAll(ctx, r.scan)
		if err != nil {
			return err
		}
		r.sub = sub
	}
	evs, err := r.sub.Next(ctx)
	if err != nil {
		r.sub.Close()
		r.sub = nil
		return err
	}
	r.pending = evs
	if len(evs) > 0 {
		r.scan = evs[len(evs)-1].Position
	}
	return nil
}

// Close releases the reader's subscription to the store. The reader must not be used after it.
func (r *ChangeReader) Close() {
	if r.sub != nil {
		r.sub.Close()
		r.sub = nil
	}
	r.pending = nil
}

// waitingFor is the position the read models must have applied before the reader goes on: the
// first pending event's, or (none pending) anything after scan.
func (r *ChangeReader) waitingFor() (pos eventstore.Position, strictlyAfter bool) {
	if len(r.pending) > 0 {
		return r.pending[0].Position, false
	}
	return r.scan, true
}

// open prepares the reader to walk the changes of rec, an event the read models have applied:
// from the shared cache if the event is there; else the reader computes it, for every viewer and
// into the cache if it is small enough, or walks it itself.
func (r *ChangeReader) open(rec *eventstore.RecordedEvent) (*changeEvent, error) {
	cache := &r.m.changeSets
	if set := cache.get(rec.Position); set != nil && !set.big {
		return set.startAt(&r.cached), nil
	}
	ev, err := r.walk(rec)
	if err != nil || ev.scanned {
		return ev, err
	}
	set := cache.claim(rec.Position)
	if set == nil {
		return ev, nil // a big event, or another reader's slot now: walk it
	}
	if err := r.m.computeSet(set, ev); err != nil || set.big {
		return ev, err
	}
	return set.startAt(&r.cached), nil
}

// walk prepares the reader to examine the candidates of rec itself.
func (r *ChangeReader) walk(rec *eventstore.RecordedEvent) (*changeEvent, error) {
	ev := &changeEvent{pos: rec.Position, posStr: rec.Position.String(), kind: changeKindOf(rec.Type), casFor: -1}
	m := r.m
	m.mu.RLock()
	s := m.st
	cut := s.cutAtPosition(rec.Position)
	ok := cut > 0 && s.pos.at(cut-1) == rec.Position
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("projections: changes: event %s at position %s is not one the read models applied: the store differs from the read models (rebuild them)", rec.ID, rec.Position)
	}
	ev.leaf = cut - 1
	if ev.kind == changesNothing {
		ev.scanned = true
		return ev, nil
	}
	if err := decodeEvent(&r.dec, rec.Data, nil); err != nil {
		ev.scanned = true // the read models could not apply it either: it changed nothing
		return ev, nil
	}
	ev.cause.EventType = rec.Type
	ev.meta = rec.Metadata // the actor is decoded once an item is found: most viewers see none
	switch ev.kind {
	case changesCustomer:
		ev.cust = append([]byte(nil), r.dec.customerID...)
	case changesPartner:
		ev.cause.PartnerID = string(r.dec.partnerID)
		m.mu.RLock()
		if pi, ok := s.partnerIdx[ev.cause.PartnerID]; ok {
			ev.groups = s.cascadeGroups(pi)
		}
		m.mu.RUnlock()
	}
	return ev, nil
}

// decodeActor takes the actor from an event's metadata, with the read models' member scanner
// (encoding/json was most of the per-event cost with many subscribers); a missing or odd actor is
// empty.
func decodeActor(meta []byte) domain.Actor {
	var a domain.Actor
	_ = eachMember(meta, func(k, v []byte) error {
		if string(k) != "actor" {
			return nil
		}
		_ = eachMember(v, func(k, v []byte) error {
			s, err := strBytes(v)
			if err != nil {
				return nil
			}
			switch string(k) {
			case "name":
				a.Name = string(s)
			case "role":
				a.Role = domain.Role(s)
			case "partner_id":
				a.PartnerID = string(s)
			}
			return nil
		})
		return jsonwire.ErrStop
	})
	return a
}

// step moves the event in progress on, under one read lock: it examines up to changeBudget
// candidates and appends the viewer's items to out, up to limit in all.
func (r *ChangeReader) step(out []Change, limit int) []Change {
	ev := r.ev
	m := r.m
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.st
	budget := changeBudget
	for {
		out = r.emit(out, limit)
		if len(out) >= limit || ev.done() {
			return out
		}
		if !r.scan1(s, &budget) {
			return out // budget spent: the caller releases the lock and comes back
		}
	}
}

// stepCached moves a cached event on: the viewer's items among set.items, numbered among what it
// sees, up to limit in all. Past the last one it sees, the event is done. No lock is taken: the set
// is immutable.
func (r *ChangeReader) stepCached(out []Change, limit int) []Change {
	ev := r.ev
	items := ev.set.items
	if ev.visible < 0 { // first step: how many the viewer sees decides item 0's ID
		ev.visible = 0
		for i := range items {
			if r.viewer.sees(&items[i]) {
				ev.visible++
			}
		}
	}
	for ev.k < len(items) && len(out) < limit && ev.n < ev.visible {
		it := &items[ev.k]
		ev.k++
		if !r.viewer.sees(it) {
			continue
		}
		n := ev.n
		ev.n++
		if n < ev.skip {
			continue
		}
		ch := it.ch
		if ev.visible > 1 {
			ch.ID = ev.posStr + "." + strconv.Itoa(n)
		} else {
			ch.ID = ev.posStr
		}
		out = append(out, ch)
		r.cursor = ChangeCursor{Position: ev.pos, Item: n}
	}
	ev.scanned = ev.n >= ev.visible
	return out
}

// emit moves the queued items whose IDs are known to out, up to limit. Item 0's ID is known once a
// second item is found ("POSITION.0") or the scan ended without one ("POSITION").
func (r *ChangeReader) emit(out []Change, limit int) []Change {
	ev := r.ev
	for len(ev.queue) > 0 && len(out) < limit {
		it := &ev.queue[0]
		switch {
		case it.n > 0 || ev.n > 1:
			it.ch.ID = ev.posStr + "." + strconv.Itoa(it.n)
		case ev.scanned:
			it.ch.ID = ev.posStr
		default:
			return out
		}
		out = append(out, it.ch)
		r.cursor = ChangeCursor{Position: ev.pos, Item: it.n}
		ev.queue = ev.queue[1:]
	}
	return out
}

// scan1 examines candidates until it queues one item or the candidates end (ev.scanned); it
// reports false if the budget ran out first.
func (r *ChangeReader) scan1(s *state, budget *int) bool {
	ev := r.ev
	before, after := ev.leaf, ev.leaf+1
	found := func(ci uint32, st feedStatus, pi uint32) bool {
		n := ev.n
		ev.n++
		if n < ev.skip {
			return false
		}
		if ev.meta != nil {
			ev.cause.Actor, ev.meta = decodeActor(ev.meta), nil
		}
		ch := s.change(&s.customers[ci], st, pi)
		ch.Position, ch.Index, ch.Cause = ev.posStr, uint64(ev.leaf), ev.cause
		ev.queue = append(ev.queue, queuedChange{n: n, ch: ch})
		return true
	}
	if ev.kind == changesCustomer {
		ev.scanned = true
		ci, ok := s.lookupBytes(ev.cust)
		if !ok {
			return true
		}
		// Tenancy and cascade by the association in force at the event, not now (rule 20: a
		// customer may later move to another partner).
		c := &s.customers[ci]
		pb, pa := s.associatedPartnerAt(c, before), s.associatedPartnerAt(c, after)
		pi := pa
		if pi == noPartner {
			pi = pb // the event ended the association: its item belongs to the partner it ended
		}
		if r.sees(s, ci, pi) {
			was, now := s.aroundCustomerEvent(c, ev.leaf)
			was.inherited, now.inherited = s.underFrozenPartner(pb, before), s.underFrozenPartner(pa, after)
			if now.exists && !was.equal(now) {
				found(ci, now, pi)
			}
		}
		return true
	}
	for ev.gi < len(ev.groups) {
		pi := ev.groups[ev.gi]
		if ev.casFor != ev.gi {
			ev.casBefore, ev.casAfter, ev.casFor = s.underFrozenPartner(pi, before), s.underFrozenPartner(pi, after), ev.gi
		}
		// Only a change of the cascade can change a customer here, and the viewer must see the group.
		if ev.casBefore == ev.casAfter || !s.partnerInScope(pi, r.viewer.Scope) {
			ev.gi, ev.k = ev.gi+1, 0
			continue
		}
		custs := s.partners[pi].customers
		for ev.k < len(custs) {
			if *budget <= 0 {
				return false
			}
			*budget--
			ci := custs[ev.k]
			ev.k++
			if s.associatedPartnerAt(&s.customers[ci], before) != pi {
				continue // not pi's customer at the event (it moved here later, or away before)
			}
			if r.viewer.CustomerID != "" && !r.sees(s, ci, pi) {
				continue
			}
			// A partner event is no customer's transition: the own state is the same just before
			// and just after it, and the cascade changed (checked above): every customer that
			// existed then changed, and one fold gives its own state for both.
			o := s.customerAt(&s.customers[ci], before)
			if !o.exists {
				continue // associated after the event
			}
			if found(ci, feedStatus{exists: true, own: o.freeze, inherited: ev.casAfter}, pi) {
				return true
			}
		}
		ev.gi, ev.k = ev.gi+1, 0
	}
	ev.scanned = true
	return true
}

// sees reports whether the viewer sees an item of customer ci whose partner at the event was pi.
func (r *ChangeReader) sees(s *state, ci, pi uint32) bool {
	if r.viewer.CustomerID != "" && string(s.cidBytes(&s.customers[ci])) != r.viewer.CustomerID {
		return false
	}
	return pi != noPartner && s.partnerInScope(pi, r.viewer.Scope)
}
