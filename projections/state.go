package projections

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

// state is the whole in-memory read model. It is built only by apply, in log order, and is
// therefore a pure function of the log prefix it has seen; checkpoints serialise it exactly.
//
// Layout, chosen for size at a million customers (see docs/BENCHMARKS.md):
//   - every string that repeats (reasons, actor names, stream names, tags, account managers, origins)
//     is interned once in strs and referred to by a uint32;
//   - each customer is one small struct plus its transitions: one 32-byte record per event about it,
//     which is at once its time-travel history and its history index (the leaf of each event);
//   - per event (leaf) the log keeps its position, the running maximum of event times (for as-of-time
//     lookups by binary search), its stream and revision, so history pages are read back from the
//     store on demand (event bodies never live in the heap), and a one-byte event type code (the
//     audit events' type filter);
//   - leaf lists per actor, per partner (events about its subtree; events by its principals) and
//     per customer (its transitions) are the history and audit-filter indexes.
type state struct {
	strs   []string
	strIdx map[string]uint32

	// Per leaf (0-based index in global log order).
	pos     leafPositions // global position and stream revision (positions.go)
	maxTime []int64       // running maximum of event times (Unix ns) up to and including this leaf
	stream  []uint32      // stream code: an index into strs, or a reservation stream's (streams.go)
	etype   []uint8       // event type: an index into types, or typeUnindexed

	resLoc   []uint64 // customer reservation streams' IDs in resArena (streams.go)
	resArena []byte

	types   []string // event types by code; types[typeUnindexed] is ""
	typeIdx map[string]uint8

	partners   []partner
	partnerIdx map[string]uint32
	customers  []customer
	cindex     idTable    // customer ID -> index in customers
	arena      []byte     // customer IDs and names
	ctrans     []ctrans   // every customer transition; see customer.last
	tagSets    [][]uint32 // interned sets of tags; set 0 is empty
	tagStrs    [][]string // the same sets as strings, shared by every status that shows them
	tagSetIdx  map[string]uint32
	actors     []actorHist
	actorIdx   map[uint32]uint32 // actor name (interned) -> index in actors

	// Derived indexes, rebuilt from the customers when a checkpoint is loaded (searchindex.go).
	tagIndex map[uint32][]uint32 // tag (interned) -> customers with it, ascending
	idBlocks [][]uint32          // each complete block of idBlockSize customers, sorted by ID (searchprefix.go)
	created  []uint32            // per customer, the leaf that created it (its first association), ascending

	spendZones  map[string][]domain.Money // month -> per block of customers, the highest spend (searchzones.go)
	expiryZones []expiryZone              // per block of customers, the range of expiries reported (searchzones.go)

	lastID uuid.UUID // ID of the last applied event, to check a checkpoint against the store

	bill     *billingModel  // rules 12 to 18 (billing.go); nil until the first billing event
	clock    domain.Clock   // the present's time for month-to-date spend and budget periods (set by ReadModels)
	currency string         // the deployment's currency, shown with money
	pers     *personalModel // rule 21 (personal.go); nil until the first personal data
	keys     PersonalKeys   // opens sealed personal data (set by ReadModels); nil: none is shown

	scratch []byte // apply's scratch buffer

	decodeErrors uint64 // events that could not be decoded or referred to unknown subjects

	rules1920 rules1920State // verification switches and disassociation requests (rules19_20.go)
}

const noPartner = math.MaxUint32

// Transition kinds.
const (
	kindAssociated uint8 = iota + 1
	kindFrozen
	kindUnfrozen
	kindReleased
	kindDelegation
	kindDisassociated // the association ended (rule 20): the own freeze ends with it
)

// Freeze severities (freeze types), ordered.
const (
	sevNone    uint8 = 0
	sevAccount uint8 = 1
	sevAll     uint8 = 2 // ACCOUNT_AND_RESOURCE
)

// Partner types.
const (
	ptypeUnknown uint8 = iota
	ptypeDistributor
	ptypeReseller
	ptypeSolutionProvider
)

// Delegation bits.
const (
	delegFreeze uint8 = 1 << iota
	delegBudget
)

// ctrans is one event about a customer, in log order.
type ctrans struct {
	time     int64 // event time, Unix ns
	deadline int64 // retention deadline of an ACCOUNT_AND_RESOURCE freeze, Unix ns; 0 if none
	leaf     uint32
	reason   uint32
	actor    uint32
	origin   uint32
	prev     uint32 // the customer's previous transition in state.ctrans, noTrans for the first
	kind     uint8
	sev      uint8
}

type partner struct {
	id, name  string
	typ       uint8
	parent    uint32 // index of the distributor of a reseller, noPartner otherwise
	regLeaf   uint32
	regTime   int64
	trans     []ptrans
	customers []uint32 // customer indices, ascending
	hist      []uint32 // leaves of events about this partner, its resellers and all their customers
	acted     []uint32 // leaves of events whose actor's partner_id is this partner
	resold    []uint32 // customers of this distributor's resellers, ascending (derived)
}

// ptrans is a freeze, unfreeze or delegation change of a partner, in log order.
type ptrans struct {
	time   int64
	leaf   uint32
	reason uint32
	actor  uint32
	kind   uint8
	deleg  uint8 // delegation after a kindDelegation transition
}

type actorHist struct {
	name   uint32
	leaves []uint32
}

func newState() *state {
	s := &state{
		strIdx:     map[string]uint32{"": 0},
		strs:       []string{""},
		partnerIdx: map[string]uint32{},
		cindex:     newIDTable(0),
		tagSets:    [][]uint32{nil},
		tagStrs:    [][]string{{}},
		tagSetIdx:  map[string]uint32{"": 0},
		actorIdx:   map[uint32]uint32{},
		types:      []string{""},
		typeIdx:    map[string]uint8{"": typeUnindexed},
		tagIndex:   map[uint32][]uint32{},
	}
	return s
}

func (s *state) intern(b []byte) uint32 {
	if i, ok := s.strIdx[string(b)]; ok {
		return i
	}
	str := string(b)
	i := uint32(len(s.strs))
	s.strs = append(s.strs, str)
	s.strIdx[str] = i
	return i
}

func (s *state) internString(str string) uint32 {
	if i, ok := s.strIdx[str]; ok {
		return i
	}
	i := uint32(len(s.strs))
	s.strs = append(s.strs, str)
	s.strIdx[str] = i
	return i
}

func (s *state) str(i uint32) string { return s.strs[i] }

// strPtr points into the string table: its elements are written once, before any reader can see
// their index, and never again (a grown table leaves the old array to the pointers into it).
func (s *state) strPtr(i uint32) *string { return &s.strs[i] }

func (s *state) strsOf(ids []uint32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = s.strs[id]
	}
	return out
}

// applied is the position of the last applied event (Start when none).
func (s *state) applied() eventstore.Position {
	if s.pos.len() == 0 {
		return eventstore.Start
	}
	return s.pos.at(uint32(s.pos.len() - 1))
}

func (s *state) leaves() uint32 { return uint32(s.pos.len()) }

var errTooManyEvents = errors.New("projections: more than 2^32-1 events; the read models index leaves with 32 bits")

// apply adds one event at the next leaf. Every event is counted (it gets a leaf), also one that
// cannot be decoded; such an event changes nothing else, and apply returns an error describing it
// for the log. apply never fails half-way: the per-leaf arrays always grow by one.
func (s *state) apply(rec *eventstore.RecordedEvent, d *decoded) error {
	if s.pos.len() >= math.MaxUint32 {
		return errTooManyEvents
	}
	leaf := uint32(s.pos.len())
	derr := decodeEvent(d, rec.Data, rec.Metadata)
	t := d.time
	if t == 0 {
		t = rec.Created.UnixNano()
	}
	mt := t
	if leaf > 0 && s.maxTime[leaf-1] > mt {
		mt = s.maxTime[leaf-1]
	}
	s.pos.add(rec.Position, rec.Revision)
	s.maxTime = append(s.maxTime, mt)
	s.stream = append(s.stream, s.streamCode(rec.Stream))
	s.etype = append(s.etype, s.typeCode(rec.Type))
	s.lastID = rec.ID
	if derr != nil {
		s.decodeErrors++
		return fmt.Errorf("event %s (%s) at position %s: %w", rec.ID, rec.Type, rec.Position, derr)
	}
	actor := s.intern(d.actorName)
	if actor != 0 {
		ai, ok := s.actorIdx[actor]
		if !ok {
			ai = uint32(len(s.actors))
			s.actors = append(s.actors, actorHist{name: actor})
			s.actorIdx[actor] = ai
		}
		s.actors[ai].leaves = append(s.actors[ai].leaves, leaf)
	}
	if len(d.actorPartner) > 0 {
		pi := s.partnerRef(d.actorPartner, leaf, t)
		s.partners[pi].acted = append(s.partners[pi].acted, leaf)
	}
	var err error
	switch rec.Type {
	case domain.EventPartnerRegistered:
		err = s.partnerRegistered(leaf, t, d)
	case domain.EventPartnerFrozen, domain.EventPartnerUnfrozen, domain.EventPartnerDelegationGranted, domain.EventPartnerDelegationRevoked:
		err = s.partnerChanged(rec.Type, leaf, t, actor, d)
	case domain.EventCustomerAssociated:
		err = s.customerAssociated(leaf, t, actor, d)
		if err == nil && (len(d.personal) > 0 || s.pers != nil) {
			ci, _ := s.lookupBytes(d.customerID)
			err = s.personalAssociated(ci, d.personal)
		}
	case domain.EventCustomerFrozen, domain.EventCustomerUnfrozen, domain.EventCustomerResourcesRelease:
		err = s.customerChanged(rec.Type, leaf, t, actor, d)
		if err == nil {
			err = s.billingApply(rec, leaf, t, d)
		}
	case domain.EventUsageRecorded, domain.EventResourceReported, domain.EventResourceRemoved, domain.EventBudgetSet,
		domain.EventBudgetRemoved, domain.EventBudgetThresholdReached, domain.EventBudgetReset, domain.EventPartnerQuotaSet:
		err = s.billingApply(rec, leaf, t, d)
	case domain.EventCustomerPersonalDataChanged, domain.EventCustomerPersonalDataErased:
		err = s.personalEvent(rec.Type, rec.Data, d)
	case domain.EventPartnerVerificationSet, domain.EventDisassociationRequested, domain.EventDisassociationAccepted,
		domain.EventDisassociationRejected, domain.EventDisassociationLapsed:
		err = s.applyRules19And20(rec, leaf, t, actor)
	default:
		// Reservation events (and types this version does not know) only take their leaf.
	}
	if err != nil {
		s.decodeErrors++
		return fmt.Errorf("event %s (%s) at position %s: %w", rec.ID, rec.Type, rec.Position, err)
	}
	return nil
}

func partnerType(b []byte) uint8 {
	switch string(b) {
	case string(domain.PartnerDistributor):
		return ptypeDistributor
	case string(domain.PartnerReseller):
		return ptypeReseller
	case string(domain.PartnerSolutionProvider):
		return ptypeSolutionProvider
	}
	return ptypeUnknown
}

var partnerTypeNames = [...]string{"", string(domain.PartnerDistributor), string(domain.PartnerReseller), string(domain.PartnerSolutionProvider)}

// partnerRef finds a partner, creating a placeholder (type unknown) for an ID never registered, so
// that events about it are still indexed. A later registration fills the placeholder in.
func (s *state) partnerRef(id []byte, leaf uint32, t int64) uint32 {
	if i, ok := s.partnerIdx[string(id)]; ok {
		return i
	}
	i := uint32(len(s.partners))
	s.partners = append(s.partners, partner{id: string(id), parent: noPartner, regLeaf: leaf, regTime: t})
	s.partnerIdx[s.partners[i].id] = i
	return i
}

func (s *state) addPartnerHist(pi, leaf uint32) {
	p := &s.partners[pi]
	p.hist = append(p.hist, leaf)
	if p.parent != noPartner {
		q := &s.partners[p.parent]
		q.hist = append(q.hist, leaf)
	}
}

func (s *state) partnerRegistered(leaf uint32, t int64, d *decoded) error {
	if len(d.partnerID) == 0 {
		return errors.New("partner.registered without partner_id")
	}
	_, existed := s.partnerIdx[string(d.partnerID)]
	pi := s.partnerRef(d.partnerID, leaf, t)
	p := &s.partners[pi]
	if existed && p.typ != ptypeUnknown {
		return fmt.Errorf("partner %q registered twice", p.id)
	}
	p.name = string(d.name)
	p.typ = partnerType(d.ptype)
	p.regLeaf, p.regTime = leaf, t
	if len(d.parentID) > 0 {
		parent := s.partnerRef(d.parentID, leaf, t) // may grow s.partners: p is stale after it
		s.partners[pi].parent = parent
		for _, ci := range s.partners[pi].customers { // associated before the registration named the parent
			s.partners[parent].resold = insertSorted(s.partners[parent].resold, ci)
		}
	}
	s.addPartnerHist(pi, leaf)
	return nil
}

func (s *state) partnerChanged(typ string, leaf uint32, t int64, actor uint32, d *decoded) error {
	if len(d.partnerID) == 0 {
		return errors.New("partner event without partner_id")
	}
	pi := s.partnerRef(d.partnerID, leaf, t)
	p := &s.partners[pi]
	tr := ptrans{time: t, leaf: leaf, actor: actor, reason: s.intern(d.reason)}
	switch typ {
	case domain.EventPartnerFrozen:
		tr.kind = kindFrozen
	case domain.EventPartnerUnfrozen:
		tr.kind = kindUnfrozen
	default:
		var bits uint8
		for _, perm := range d.perms {
			switch string(perm) {
			case string(domain.PermissionFreeze):
				bits |= delegFreeze
			case string(domain.PermissionBudget):
				bits |= delegBudget
			}
		}
		cur := p.at(^uint32(0)).deleg
		if typ == domain.EventPartnerDelegationGranted {
			cur |= bits
		} else {
			cur &^= bits
		}
		tr.kind, tr.deleg = kindDelegation, cur
	}
	p.trans = append(p.trans, tr)
	s.addPartnerHist(pi, leaf)
	return nil
}

func severity(b []byte) uint8 {
	switch string(b) {
	case string(domain.FreezeAccount), "":
		return sevAccount
	}
	// ACCOUNT_AND_RESOURCE, or a type this version does not know: the stricter reading.
	return sevAll
}

var severityNames = [...]string{"", string(domain.FreezeAccount), string(domain.FreezeAccountAndResource)}

func (s *state) tagSet(tags [][]byte) uint32 {
	if len(tags) == 0 {
		return 0
	}
	key := s.scratch[:0]
	for _, t := range tags {
		key = append(append(key, t...), 0)
	}
	s.scratch = key
	if i, ok := s.tagSetIdx[string(key)]; ok {
		return i
	}
	ids := make([]uint32, len(tags))
	for i, t := range tags {
		ids[i] = s.intern(t)
	}
	i := uint32(len(s.tagSets))
	s.tagSets = append(s.tagSets, ids)
	s.tagStrs = append(s.tagStrs, s.strsOf(ids))
	s.tagSetIdx[string(key)] = i
	return i
}

func (s *state) customerAssociated(leaf uint32, t int64, actor uint32, d *decoded) error {
	if len(d.customerID) == 0 || len(d.partnerID) == 0 {
		return errors.New("customer.associated without customer_id or partner_id")
	}
	pi := s.partnerRef(d.partnerID, leaf, t)
	ci, ok := s.lookupBytes(d.customerID)
	if !ok {
		ci = uint32(len(s.customers))
		s.customers = append(s.customers, s.newCustomer(d.customerID, d.name))
		s.index(ci)
		s.customerAdded(leaf)
	}
	c := &s.customers[ci]
	if c.partner != pi || c.disassociated {
		if c.partner != noPartner {
			// A re-association (rule 10 allows one partner at a time; disassociation is a later
			// phase): the customer moves. Time travel shows it under its current partner.
			old := &s.partners[c.partner]
			old.customers = removeSorted(old.customers, ci)
			if old.parent != noPartner {
				s.partners[old.parent].resold = removeSorted(s.partners[old.parent].resold, ci)
			}
		}
		p := &s.partners[pi]
		p.customers = insertSorted(p.customers, ci)
		if p.parent != noPartner {
			s.partners[p.parent].resold = insertSorted(s.partners[p.parent].resold, ci)
		}
		c.partner = pi
	}
	if string(s.cnameBytes(c)) != string(d.name) {
		*c = s.renamed(c, d.name)
	}
	if tags := s.tagSet(d.tags); tags != c.tags || c.ntrans == 0 {
		if c.ntrans > 0 {
			s.unindexTags(ci, c.tags)
		}
		c.tags = tags
		s.indexTags(ci, tags)
	}
	c.accountManager = s.intern(d.accountManager)
	s.addTrans(c, ctrans{time: t, leaf: leaf, actor: actor, kind: kindAssociated})
	s.addPartnerHist(pi, leaf)
	return nil
}

func (s *state) customerChanged(typ string, leaf uint32, t int64, actor uint32, d *decoded) error {
	ci, ok := s.lookupBytes(d.customerID)
	if !ok {
		return fmt.Errorf("unknown customer %q", d.customerID)
	}
	c := &s.customers[ci]
	tr := ctrans{time: t, leaf: leaf, actor: actor, reason: s.intern(d.reason)}
	switch typ {
	case domain.EventCustomerFrozen:
		tr.kind = kindFrozen
		tr.sev = severity(d.freezeType)
		tr.origin = s.intern(d.origin)
		tr.deadline = d.deadline
	case domain.EventCustomerUnfrozen:
		tr.kind = kindUnfrozen
	default:
		tr.kind = kindReleased
	}
	s.addTrans(c, tr)
	s.addPartnerHist(c.partner, leaf)
	return nil
}

// ownState is a customer's own state as of a cut (the first cut leaves of the log).
type ownState struct {
	exists       bool
	sev          uint8 // sevNone: ACTIVE
	freeze       *ctrans
	released     bool
	associatedAt int64
	lastLeaf     uint32
	// disassociated: the association ended (rule 20) after the latest association.
	disassociated bool
}

func (s *state) customerAt(c *customer, cut uint32) ownState {
	var o ownState
	if c.ntrans == 0 {
		return o
	}
	if c.lastLeaf < cut { // the present
		o = ownState{exists: true, released: c.released, associatedAt: c.assocAt, lastLeaf: c.lastLeaf, disassociated: c.disassociated}
		if c.cur != noTrans {
			o.sev, o.freeze = c.curSev, &s.ctrans[c.cur]
		}
		return o
	}
	k := c.last
	for k != noTrans && s.ctrans[k].leaf >= cut {
		k = s.ctrans[k].prev
	}
	if k == noTrans {
		return o
	}
	o.exists = true
	o.lastLeaf = s.ctrans[k].leaf
	decided := false
	for ; k != noTrans; k = s.ctrans[k].prev {
		t := &s.ctrans[k]
		switch t.kind {
		case kindReleased:
			o.released = true
		case kindFrozen:
			if !decided {
				decided = true
				o.sev, o.freeze = t.sev, t
			}
		case kindUnfrozen:
			decided = true
		case kindDisassociated:
			decided, o.disassociated = true, true
		case kindAssociated:
			o.associatedAt = t.time
			return o
		}
	}
	return o
}

// partnerState is a partner's state as of a cut.
type partnerState struct {
	exists   bool
	freeze   *ptrans // the freeze in force, nil if not frozen
	deleg    uint8
	lastLeaf uint32 // last transition (freeze, unfreeze, delegation) or the registration
}

func (p *partner) at(cut uint32) partnerState {
	var ps partnerState
	if p.regLeaf >= cut {
		return ps
	}
	ps.exists = true
	ps.lastLeaf = p.regLeaf
	k := len(p.trans)
	for k > 0 && p.trans[k-1].leaf >= cut {
		k--
	}
	if k > 0 {
		ps.lastLeaf = p.trans[k-1].leaf
	}
	freezeDone, delegDone := false, false
	for i := k - 1; i >= 0 && !(freezeDone && delegDone); i-- {
		t := &p.trans[i]
		switch t.kind {
		case kindFrozen:
			if !freezeDone {
				freezeDone, ps.freeze = true, t
			}
		case kindUnfrozen:
			freezeDone = true
		case kindDelegation:
			if !delegDone {
				delegDone, ps.deleg = true, t.deleg
			}
		}
	}
	return ps
}

// freezeLeaf is the last freeze or unfreeze of p before cut, or regLeaf.
func (p *partner) freezeLeaf(cut uint32) uint32 {
	for k := len(p.trans) - 1; k >= 0; k-- {
		t := &p.trans[k]
		if t.leaf < cut && t.kind != kindDelegation {
			return t.leaf
		}
	}
	return p.regLeaf
}

// view is a customer's full state as of a cut: its own state and the partner cascade (rule 7).
type view struct {
	ci, cut  uint32 // the customer's index and the cut the view is of
	c        *customer
	own      ownState
	p        *partner
	ps       partnerState
	parent   *partner // distributor of a reseller
	pars     partnerState
	inherit  *partner // the frozen partner whose freeze is in effect, nil if none
	inheritF *ptrans
	effSev   uint8
	lastLeaf uint32
}

func (s *state) view(ci uint32, cut uint32) (view, bool) {
	c := &s.customers[ci]
	v := view{ci: ci, cut: cut, c: c, own: s.customerAt(c, cut)}
	if !v.own.exists {
		return v, false
	}
	v.p = &s.partners[c.partner]
	v.ps = v.p.at(cut)
	v.lastLeaf = v.own.lastLeaf
	if v.ps.exists && v.ps.lastLeaf > v.lastLeaf {
		v.lastLeaf = v.ps.lastLeaf
	}
	if v.p.parent != noPartner {
		v.parent = &s.partners[v.p.parent]
		v.pars = v.parent.at(cut)
		if v.pars.exists {
			if l := v.parent.freezeLeaf(cut); l > v.lastLeaf {
				v.lastLeaf = l
			}
		}
	}
	v.effSev = v.own.sev
	// The nearest frozen partner is named: the customer's own partner, else its distributor.
	switch {
	case v.ps.freeze != nil:
		v.inherit, v.inheritF = v.p, v.ps.freeze
	case v.parent != nil && v.pars.freeze != nil:
		v.inherit, v.inheritF = v.parent, v.pars.freeze
	}
	if v.own.disassociated { // no longer below the partner (rule 20): no cascade
		v.inherit, v.inheritF = nil, nil
	}
	if v.inherit != nil {
		v.effSev = sevAll
	}
	return v, true
}

// managedBy is the ID of the partner that may freeze and unfreeze the customer (rule 2, stated once
// in domain.ManagerOf), as of the view's cut.
func (v *view) managedBy() string {
	distributor := ""
	if v.p.typ == ptypeReseller && v.parent != nil {
		distributor = v.parent.id
	}
	return domain.ManagerOf(v.p.id, distributor, v.ps.deleg&delegFreeze != 0)
}

// cutAtPosition is the number of leaves at or before pos.
func (s *state) cutAtPosition(pos eventstore.Position) uint32 {
	return uint32(sort.Search(s.pos.len(), func(i int) bool { return pos.Less(s.pos.at(uint32(i))) }))
}

// cutAtTime is the length of the longest log prefix whose events all have times at or before t.
// With event times that grow along the log (the usual case) it is simply "the events up to t".
func (s *state) cutAtTime(t time.Time) uint32 {
	ns := unixNanos(t)
	return uint32(sort.Search(len(s.maxTime), func(i int) bool { return s.maxTime[i] > ns }))
}
