package domain

// The snapshot format: a channel's whole state at one revision, in a deterministic binary encoding
// (every map written sorted by key), closed by the CRC-32C of everything before it (a check against
// damage, at memory speed; what the snapshot claims is checked against the log). Decoding is built
// for speed at a million customers: the whole snapshot viewed as one string that every decoded
// string is a substring of, one slab for all the customers (and one for their tags, their billing
// states, budgets and month sums), maps sized up front, and the two big sets of fixed-size items
// (idempotency keys, usage record IDs) decoded in goroutines of their own while the customers are.
//
// Format version 2 (version 1 did not carry phase 2's state; a snapshot of another version is
// discarded and the channel rebuilt from its log), in order:
//
//	"FLCHSNAP" 0x02
//	header      stream, revision, the last event's ID (16 bytes) and position
//	root        the root partner's ID
//	keys        block: the idempotency keys, then the split ones' runs (idempotency.go)
//	records     block: the usage record index (rule 12), 32 bytes a record
//	partners    each with its delegation, verification switch (rule 19) and quota (rule 18)
//	customers   the slab sizes, then each customer: its flags, fields, personal data key (rule 21),
//	            disassociation (rule 20) and billing state (rules 12 to 17), each only when set
//	bills       the billing states of IDs that are no customer of the channel (none that apply makes)
//	released    the reservations released in the channel (rule 10)
//	CRC-32C     of all the bytes before it, big-endian
//
// The derived indexes (due releases, pending lapses) are rebuilt from the customers; the key TTL is
// the Service's, and the key queue is rebuilt from the keys (rebuildKeyQueue).

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/google/uuid"
)

// snapshotMagic opens every snapshot; the byte after it is the format version.
const (
	snapshotMagic   = "FLCHSNAP"
	snapshotVersion = 2
)

// errSnapshot is the error every malformed snapshot wraps.
var errSnapshot = errors.New("malformed channel snapshot")

// snapshotHeader is what a snapshot says about where it stands in the log: the stream, the revision
// of its last event, that event's ID and position. A snapshot is only used if the log's event at
// that revision has that ID and position.
type snapshotHeader struct {
	stream   string
	revision int64
	lastID   uuid.UUID
	position string
}

// The customer flag bits: one byte per customer says which of its optional parts follow.
const (
	custFrozen = 1 << iota
	custResourcesReleased
	custTags // Tags is not nil (it may be empty)
	custPersonalErased
	custDisassociated
	custPersonalKey    // PersonalKeyID follows
	custDisassociation // Disassociation follows
	custBilling        // the billing state follows
)

// encodeSnapshot encodes c's state; lastID is the ID of the event at c's revision.
func encodeSnapshot(c *Channel, lastID uuid.UUID) []byte {
	e := snapEncoder{b: make([]byte, 0, 64+len(c.customers)*96+len(c.idem)*48+len(c.records)*32+len(c.bills)*64)}
	e.b = append(e.b, snapshotMagic...)
	e.b = append(e.b, snapshotVersion)
	e.str(c.stream)
	e.varint(c.revision)
	e.b = append(e.b, lastID[:]...)
	e.str(c.position)
	e.str(c.root)
	e.block(encodeKeys(c))
	e.block(encodeRecords(c))

	pids := sortedKeys(c.partners)
	e.uvarint(uint64(len(pids)))
	for _, id := range pids {
		p := c.partners[id]
		e.str(p.ID)
		e.str(p.Name)
		e.str(string(p.Type))
		e.str(p.ParentID)
		e.flags(p.Frozen, p.Delegation.Freeze, p.Delegation.Budget, p.VerificationRequired)
		e.str(p.FrozenReason)
		e.time(p.RegisteredAt)
		e.quota(p.Quota)
	}

	cids := sortedKeys(c.customers)
	var sizes billSlabSizes
	ntags := 0
	for _, id := range cids {
		ntags += len(c.customers[id].Tags)
		if b := c.bills[id]; b != nil {
			sizes.add(b)
		}
	}
	e.uvarint(uint64(len(cids)))
	e.uvarint(uint64(ntags))
	e.uvarint(uint64(len(c.due)))
	e.uvarint(uint64(len(c.lapsing)))
	sizes.encode(&e)
	for _, id := range cids {
		cu := c.customers[id]
		b := c.bills[id]
		e.flags(cu.Frozen, cu.ResourcesReleased, cu.Tags != nil, cu.PersonalErased, cu.Disassociated,
			cu.PersonalKeyID != "", cu.Disassociation != nil, b != nil)
		e.str(cu.ID)
		e.str(cu.Name)
		e.str(cu.PartnerID)
		e.str(cu.DistributorID)
		if cu.Tags != nil {
			e.uvarint(uint64(len(cu.Tags)))
			for _, t := range cu.Tags {
				e.str(t)
			}
		}
		e.str(cu.AccountManager)
		e.time(cu.AssociatedAt)
		e.str(string(cu.FreezeType))
		e.str(string(cu.Origin))
		e.str(cu.Reason)
		e.str(cu.FrozenBy)
		e.time(cu.FrozenAt)
		e.time(cu.RetentionDeadline)
		e.time(cu.ResourceFrozenAt)
		if cu.PersonalKeyID != "" {
			e.str(cu.PersonalKeyID)
		}
		if cu.Disassociation != nil {
			e.disassociation(cu.Disassociation)
		}
		if b != nil {
			e.bill(b)
		}
	}

	var orphans []string // billing states of no customer (apply keeps none: written to be total)
	for id, b := range c.bills {
		if _, ok := c.customers[id]; !ok && b != nil {
			orphans = append(orphans, id)
		}
	}
	slices.Sort(orphans)
	e.uvarint(uint64(len(orphans)))
	for _, id := range orphans {
		e.str(id)
		e.bill(c.bills[id])
	}

	rel := make([]reservationKey, 0, len(c.released))
	for k := range c.released {
		rel = append(rel, k)
	}
	slices.SortFunc(rel, func(a, b reservationKey) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), strings.Compare(a.id, b.id), cmp.Compare(a.rev, b.rev))
	})
	e.uvarint(uint64(len(rel)))
	for _, k := range rel {
		e.b = append(e.b, byte(k.kind))
		e.str(k.id)
		e.uvarint(k.rev)
	}

	return binary.BigEndian.AppendUint32(e.b, crc32.Checksum(e.b, castagnoli))
}

// encodeKeys is the keys block: the remembered idempotency keys and the runs of the split ones.
func encodeKeys(c *Channel) *snapEncoder {
	k := &snapEncoder{b: make([]byte, 0, 8+len(c.idem)*48)}
	keys := slices.SortedFunc(maps.Keys(c.idem), compareIdemIDs)
	k.uvarint(uint64(len(keys)))
	for _, id := range keys {
		en := c.idem[id]
		k.b = append(k.b, id[:]...)
		k.b = append(k.b, en.hash[:]...)
		k.uvarint(en.at)
		k.varint(en.seen)
	}
	split := slices.SortedFunc(maps.Keys(c.idemRuns), compareIdemIDs)
	k.uvarint(uint64(len(split)))
	for _, id := range split {
		k.b = append(k.b, id[:]...)
		runs := c.idemRuns[id]
		k.uvarint(uint64(len(runs)))
		for _, r := range runs {
			k.uvarint(r.first)
			k.uvarint(uint64(r.n))
		}
	}
	return k
}

func compareIdemIDs(a, b idemID) int { return strings.Compare(string(a[:]), string(b[:])) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const snapshotSumSize = 4

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// decodeSnapshot checks b's checksum and format, asks check whether its header stands in the log,
// and only then rebuilds the channel state b encodes (its key expiry settings are the caller's;
// rebuildKeyQueue fills the queue). A check error is returned as it is.
func decodeSnapshot(b []byte, check func(snapshotHeader) error) (*Channel, error) {
	d, err := newSnapDecoder(b)
	if err != nil {
		return nil, err
	}
	h := d.header()
	if d.err != nil {
		return nil, d.err
	}
	if err := check(h); err != nil {
		return nil, err
	}
	c := &Channel{stream: h.stream, revision: h.revision, position: h.position, root: d.str()}

	// The two blocks of fixed-size items build their maps in goroutines of their own while this one
	// builds the customers'.
	kd, rd := d.block(), d.block()
	var keysErr, recordsErr error
	keysDone, recordsDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(keysDone)
		c.idem, c.idemRuns = decodeKeys(kd)
		keysErr = kd.end("the keys")
	}()
	go func() {
		defer close(recordsDone)
		c.records = decodeRecords(rd)
		recordsErr = rd.end("the usage records")
	}()
	wait := func() { <-keysDone; <-recordsDone }
	defer wait() // also on a panic: never leave them writing to c

	np := d.count()
	c.partners = make(map[string]*Partner, np)
	for range np {
		p := &Partner{ID: d.str(), Name: d.str(), Type: PartnerType(d.str()), ParentID: d.str()}
		f := d.byte()
		p.Frozen, p.Delegation.Freeze, p.Delegation.Budget, p.VerificationRequired = f&1 != 0, f&2 != 0, f&4 != 0, f&8 != 0
		p.FrozenReason = d.str()
		p.RegisteredAt = d.time()
		p.Quota = d.quota()
		c.partners[p.ID] = p
	}

	decodeCustomers(d, c)

	nr := d.count()
	c.released = make(map[reservationKey]struct{}, nr)
	for range nr {
		k := reservationKey{kind: entityKind(d.byte()), id: d.str(), rev: d.uvarint()}
		c.released[k] = struct{}{}
	}

	err = d.end("the state")
	wait()
	if err = cmp.Or(err, keysErr, recordsErr); err != nil {
		return nil, err
	}
	return c, nil
}

// minCustomerSize is the fewest bytes a customer takes: its flags, 9 strings and 4 times (a
// byte each when empty or zero).
const minCustomerSize = 1 + 9 + 4

// customersStep is how many customers the decoding goroutine of decodeCustomers decodes between
// two reports of its progress.
const customersStep = 4096

// decodeCustomers reads the customers section into c: their map, and the billing states, due
// releases and pending lapses they hold. The customers are decoded into one slab by a goroutine of
// its own, which also builds the due and lapse maps, while this one puts the decoded ones in the
// customers and billing maps (the slowest part: a cache miss per entry at a million) as they come.
// The section's counts size the slabs and maps; a count that is short costs allocations, never a
// wrong state. The billing states of IDs that are no customer follow. It returns when d has read
// both (or failed).
func decodeCustomers(d *snapDecoder, c *Channel) {
	nc, ntags, ndue, nlapsing := d.countOf(minCustomerSize), d.count(), d.count(), d.count()
	slabs := d.billSlabs()
	c.customers = make(map[string]*Customer, nc)
	c.bills = make(map[string]*CustomerBilling, len(slabs.bills))
	c.due = make(map[string]time.Time, ndue)
	if nlapsing > 0 {
		c.lapsing = make(map[string]time.Time, nlapsing)
	}
	slab := make([]Customer, nc)
	tags := make([]string, ntags)
	var billOf []*CustomerBilling // slab[i]'s billing state, nil for none
	if len(slabs.bills) > 0 {
		billOf = make([]*CustomerBilling, nc)
	}
	decoded := make(chan int, 16) // how many customers of slab are decoded, every customersStep
	go func() {
		defer close(decoded)
		for i := range slab {
			b, ok := d.customer(&slab[i], &tags, c, &slabs)
			if !ok {
				decoded <- i
				return
			}
			if b != nil {
				if billOf == nil {
					d.fail("a billing state where the counts announced none")
					decoded <- i
					return
				}
				billOf[i] = b
			}
			if i%customersStep == customersStep-1 {
				decoded <- i + 1
			}
		}
		decoded <- len(slab)
	}()
	in := 0
	for upto := range decoded {
		for ; in < upto; in++ {
			cu := &slab[in]
			c.customers[cu.ID] = cu
			if billOf != nil && billOf[in] != nil {
				c.bills[cu.ID] = billOf[in]
			}
		}
	}
	for range d.count() { // the billing states of no customer
		id := d.str()
		c.bills[id] = d.bill(&slabs)
	}
}

// customer decodes one customer into cu, its tags from *tags and its billing state (returned, nil
// for none) from slabs, and notes its due release and pending lapse in c. It reports false on a
// fault.
func (d *snapDecoder) customer(cu *Customer, tags *[]string, c *Channel, slabs *billSlabs) (*CustomerBilling, bool) {
	f := d.byte()
	cu.ID, cu.Name, cu.PartnerID, cu.DistributorID = d.str(), d.str(), d.str(), d.str()
	cu.Frozen, cu.ResourcesReleased = f&custFrozen != 0, f&custResourcesReleased != 0
	cu.PersonalErased, cu.Disassociated = f&custPersonalErased != 0, f&custDisassociated != 0
	if f&custTags != 0 {
		n := d.count()
		if n > len(*tags) {
			*tags = make([]string, n) // more than the snapshot said: still decoded, not trusted
		}
		cu.Tags, *tags = (*tags)[:n:n], (*tags)[n:]
		for j := range cu.Tags {
			cu.Tags[j] = d.str()
		}
	}
	cu.AccountManager = d.str()
	cu.AssociatedAt = d.time()
	cu.FreezeType, cu.Origin = FreezeType(d.str()), Origin(d.str())
	cu.Reason, cu.FrozenBy = d.str(), d.str()
	cu.FrozenAt, cu.RetentionDeadline, cu.ResourceFrozenAt = d.time(), d.time(), d.time()
	if f&custPersonalKey != 0 {
		cu.PersonalKeyID = d.str()
	}
	if f&custDisassociation != 0 {
		cu.Disassociation = d.disassociation()
	}
	var b *CustomerBilling
	if f&custBilling != 0 {
		b = d.bill(slabs)
	}
	if d.err != nil {
		return nil, false
	}
	if cu.Frozen && !cu.RetentionDeadline.IsZero() || cu.Disassociation != nil {
		c.syncDue(cu) // its due release and pending lapse, as apply keeps them
	}
	return b, true
}

// decodeKeys reads the keys block.
func decodeKeys(kd *snapDecoder) (map[idemID]idemEntry, map[idemID][]idemRun) {
	nk := kd.count()
	idem := make(map[idemID]idemEntry, nk)
	for range nk {
		var id idemID
		var en idemEntry
		kd.fixed(id[:])
		kd.fixed(en.hash[:])
		en.at, en.seen = kd.uvarint(), kd.varint()
		idem[id] = en
	}
	var idemRuns map[idemID][]idemRun
	if ns := kd.count(); ns > 0 {
		idemRuns = make(map[idemID][]idemRun, ns)
		for range ns {
			var id idemID
			kd.fixed(id[:])
			runs := make([]idemRun, kd.count())
			for j := range runs {
				runs[j] = idemRun{first: kd.uvarint(), n: uint32(kd.uvarint())}
			}
			idemRuns[id] = runs
		}
	}
	return idem, idemRuns
}

// rebuildKeyQueue puts c's remembered keys in its expiry queue, in order of first use.
func (c *Channel) rebuildKeyQueue() {
	c.keyTTL.order = idemQueue{}
	if c.keyTTL.ttl <= 0 {
		return
	}
	items := make([]idemAged, 0, len(c.idem))
	for id, e := range c.idem {
		items = append(items, idemAged{id, e.seen})
	}
	slices.SortFunc(items, func(a, b idemAged) int { return cmp.Compare(a.seen, b.seen) })
	c.keyTTL.order.items = items
}

func newSnapDecoder(b []byte) (*snapDecoder, error) {
	if len(b) < len(snapshotMagic)+1+snapshotSumSize || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a snapshot", errSnapshot)
	}
	if v := b[len(snapshotMagic)]; v != snapshotVersion {
		return nil, fmt.Errorf("%w: format version %d, this build reads %d", errSnapshot, v, snapshotVersion)
	}
	body := b[:len(b)-snapshotSumSize]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(body):]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errSnapshot)
	}
	// The decoded strings are substrings of body, viewed as a string without a copy (at a million
	// customers the copy was a tenth of a second and 150 MB more while loading): body is the
	// Service's from LoadSnapshot on (SnapshotStore's contract) and nothing writes to it.
	return &snapDecoder{s: unsafe.String(unsafe.SliceData(body), len(body)), off: len(snapshotMagic) + 1}, nil
}

func (d *snapDecoder) header() snapshotHeader {
	h := snapshotHeader{stream: d.str(), revision: d.varint()}
	d.fixed(h.lastID[:])
	h.position = d.str()
	return h
}
