package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/freezeledger/freezeledger/eventstore"
)

// The change feed's shared item cache. Every subscriber (an SSE or NDJSON stream, a long poll, a
// webhook's deliverer) reads the same events; without sharing, each one decoded the event, folded
// the customer's status before and after it and encoded the item's JSON for itself, and with 100
// subscribers that was most of a write's cost. So the first reader to reach an event computes its
// items once, for every viewer (the scope ""), encodes each item's JSON, and leaves them in a small
// ring keyed by position; the readers after it only filter them by tenancy and number what their
// viewer sees (ChangeReader.stepCached). It is an optimisation only: a reader that misses (the
// event was evicted, or yields too many items to keep) computes the event itself as before, with
// the same result (TestChangesEqualTimeTravelDifferences runs with the cache, without it, and with
// a tiny one).
//
// Memory is bounded: changeCacheSlots events of at most changeCacheMaxItems items each (a
// 100,000-customer cascade is never kept: its readers walk it in slices as before), about 600 bytes
// an item, so at most about 5 MiB and, with the usual one item per event, about 300 KiB.

const (
	changeCacheSlots    = 512 // a power of two
	changeCacheMaxItems = 16
)

// changeCache is the ring. The zero value is ready; slots are allocated on first use. Safe for
// concurrent use: slots are read and written atomically, and an entry is immutable once stored.
type changeCache struct {
	once  sync.Once
	slots []atomic.Pointer[changeSet]
	// Set by tests before first use: no cache at all (every reader computes its events itself),
	// fewer slots (a power of two) or fewer items per event than the defaults.
	disabled bool
	size     int
	maxItems int
}

// changeSet is one event's items for every viewer, in feed order. big: the event yields more
// than maxItems items; readers compute it themselves. The fields are written by the reader that
// claimed the slot, before it closes ready, and never after.
type changeSet struct {
	pos    eventstore.Position
	filled atomic.Bool // ready is closed (checked first: a closed channel's receive locks it)
	ready  chan struct{}
	posStr string
	leaf   uint32
	big    bool
	items  []cachedChange
}

// cachedChange is one item as every viewer's reader shares it.
type cachedChange struct {
	ch Change // ID empty: each viewer numbers the items it sees
	// seenBy are the scopes (besides "") that see the item: the customer's partner at the event
	// and that partner's distributor ("" when it has none).
	seenBy [2]string
}

func (c *changeCache) init() {
	c.once.Do(func() {
		if c.size <= 0 {
			c.size = changeCacheSlots
		}
		c.slots = make([]atomic.Pointer[changeSet], c.size)
		if c.maxItems <= 0 {
			c.maxItems = changeCacheMaxItems
		}
	})
}

// slot is pos's slot. Consecutive events must not share one (readers read a commit's events
// together): the embedded store's positions are a sequence (Commit == Prepare), which this takes
// modulo the ring's size; EventStoreDB's pairs are mixed.
func (c *changeCache) slot(pos eventstore.Position) *atomic.Pointer[changeSet] {
	v := pos.Commit ^ pos.Prepare
	v = (v ^ v>>30) * 0xbf58476d1ce4e5b9
	v = (v ^ v>>27) * 0x94d049bb133111eb
	return &c.slots[(pos.Commit^v^v>>31)&uint64(len(c.slots)-1)]
}

// get is the cached set of the event at pos, or nil. If another reader is computing it, get
// waits for that (a few microseconds: the readers of a busy feed all wake for the same commit, and
// one computes for all).
func (c *changeCache) get(pos eventstore.Position) *changeSet {
	if c.disabled {
		return nil
	}
	c.init()
	if s := c.slot(pos).Load(); s != nil && s.pos == pos {
		if !s.filled.Load() {
			<-s.ready
		}
		return s
	}
	return nil
}

// claim reserves pos's slot for the caller, which must then fill the set it returns and close
// its ready channel; nil if the cache is disabled or the event is there (or being computed)
// already.
func (c *changeCache) claim(pos eventstore.Position) *changeSet {
	if c.disabled {
		return nil
	}
	c.init()
	sl := c.slot(pos)
	old := sl.Load()
	if old != nil && old.pos == pos {
		return nil
	}
	s := &changeSet{pos: pos, ready: make(chan struct{})}
	if !sl.CompareAndSwap(old, s) {
		return nil // another reader claimed the slot just now (this event's, or a newer one's)
	}
	return s
}

// startAt puts ev (reused: a busy feed's readers pass an event per commit) at the start of the
// set's event.
func (s *changeSet) startAt(ev *changeEvent) *changeEvent {
	*ev = changeEvent{pos: s.pos, posStr: s.posStr, leaf: s.leaf, casFor: -1, set: s, visible: -1}
	return ev
}

// sees reports whether viewer v sees item c.
func (v ChangeViewer) sees(c *cachedChange) bool {
	if v.CustomerID != "" && c.ch.CustomerID != v.CustomerID {
		return false
	}
	return v.Scope == "" || v.Scope == c.seenBy[0] || v.Scope == c.seenBy[1]
}

// idPrefix is how json.Marshal begins every cached item (its ID empty).
var idPrefix = []byte(`{"id":""`)

// computeSet fills set (claimed) with the items of ev (just opened, nothing stepped) for every
// viewer, with the read models' lock taken per step as a reader takes it, and closes set.ready. It
// sets big instead if there are more than maxItems candidates (nothing is walked then) or items,
// or if an item does not encode (then with the error).
func (m *ReadModels) computeSet(set *changeSet, ev *changeEvent) (err error) {
	set.posStr, set.leaf = ev.posStr, ev.leaf
	defer func() {
		if err != nil {
			set.big, set.items = true, nil
		}
		set.filled.Store(true)
		close(set.ready)
	}()
	limit := m.changeSets.maxItems
	cp := *ev
	cp.queue = nil
	if cp.kind == changesPartner {
		m.mu.RLock()
		n := 0
		for _, g := range cp.groups {
			n += len(m.st.partners[g].customers)
		}
		m.mu.RUnlock()
		if n > limit {
			set.big = true
			return nil
		}
	}
	all := &ChangeReader{m: m, ev: &cp}
	var items []Change
	for !cp.done() {
		if items = all.step(items, limit+1); len(items) > limit {
			set.big = true
			return nil
		}
	}
	set.items = make([]cachedChange, len(items))
	m.mu.RLock()
	s := m.st
	for i := range items {
		it := &set.items[i]
		it.ch = items[i]
		it.ch.ID = ""
		if pi, ok := s.partnerIdx[it.ch.PartnerID]; ok {
			p := &s.partners[pi]
			it.seenBy[0] = p.id
			if p.parent != noPartner {
				it.seenBy[1] = s.partners[p.parent].id
			}
		}
	}
	m.mu.RUnlock()
	for i := range set.items {
		it := &set.items[i]
		b, err := json.Marshal(&it.ch)
		if err != nil || !bytes.HasPrefix(b, idPrefix) {
			return fmt.Errorf("projections: changes: encoding item %d of position %s: %v", i, ev.posStr, err)
		}
		it.ch.raw = b[len(idPrefix):]
	}
	return nil
}
