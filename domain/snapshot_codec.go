package domain

// The snapshot format: a channel's whole state at one revision, in a deterministic binary encoding
// (every map written sorted by key), closed by the CRC-32C of everything before it (a check against
// damage, at memory speed; what the snapshot claims is checked against the log). Decoding is built
// for speed at a million customers: one string conversion of the whole snapshot that every decoded
// string is a substring of, one slab for all the customers, maps sized up front.

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/google/uuid"
)

// snapshotMagic opens every snapshot; the byte after it is the format version.
const (
	snapshotMagic   = "FLCHSNAP"
	snapshotVersion = 1
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

// encodeSnapshot encodes c's state; lastID is the ID of the event at c's revision.
func encodeSnapshot(c *Channel, lastID uuid.UUID) []byte {
	e := snapEncoder{b: make([]byte, 0, 64+len(c.customers)*96+len(c.idem)*48)}
	e.b = append(e.b, snapshotMagic...)
	e.b = append(e.b, snapshotVersion)
	e.str(c.stream)
	e.varint(c.revision)
	e.b = append(e.b, lastID[:]...)
	e.str(c.position)
	e.str(c.root)

	// The idempotency keys first, as a block of known length: a decoder builds their map in a
	// goroutine of its own while it builds the customers'.
	k := snapEncoder{b: make([]byte, 0, len(c.idem)*48)}
	keys := make([]idemID, 0, len(c.idem))
	for id := range c.idem {
		keys = append(keys, id)
	}
	slices.SortFunc(keys, func(a, b idemID) int { return strings.Compare(string(a[:]), string(b[:])) })
	k.uvarint(uint64(len(keys)))
	for _, id := range keys {
		en := c.idem[id]
		k.b = append(k.b, id[:]...)
		k.b = append(k.b, en.hash[:]...)
		k.uvarint(en.at)
		k.varint(en.seen)
	}
	split := make([]idemID, 0, len(c.idemRuns))
	for id := range c.idemRuns {
		split = append(split, id)
	}
	slices.SortFunc(split, func(a, b idemID) int { return strings.Compare(string(a[:]), string(b[:])) })
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
	e.uvarint(uint64(len(k.b)))
	e.b = append(e.b, k.b...)

	pids := sortedKeys(c.partners)
	e.uvarint(uint64(len(pids)))
	for _, id := range pids {
		p := c.partners[id]
		e.str(p.ID)
		e.str(p.Name)
		e.str(string(p.Type))
		e.str(p.ParentID)
		e.flags(p.Frozen, p.Delegation.Freeze, p.Delegation.Budget)
		e.str(p.FrozenReason)
		e.time(p.RegisteredAt)
	}

	cids := sortedKeys(c.customers)
	e.uvarint(uint64(len(cids)))
	for _, id := range cids {
		cu := c.customers[id]
		e.str(cu.ID)
		e.str(cu.Name)
		e.str(cu.PartnerID)
		e.str(cu.DistributorID)
		e.flags(cu.Frozen, cu.ResourcesReleased, cu.Tags != nil)
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

type snapEncoder struct{ b []byte }

func (e *snapEncoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *snapEncoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *snapEncoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }

func (e *snapEncoder) flags(bits ...bool) {
	var f byte
	for i, b := range bits {
		if b {
			f |= 1 << i
		}
	}
	e.b = append(e.b, f)
}

// time writes a zero time as one 0 byte, any other as 1, its Unix seconds and its nanoseconds.
func (e *snapEncoder) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
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

	kn := d.count()
	kd := &snapDecoder{s: d.s[:d.off+kn], off: d.off}
	d.off += kn
	var idem map[idemID]idemEntry
	var idemRuns map[idemID][]idemRun
	keysDone := make(chan struct{})
	go func() {
		defer close(keysDone)
		nk := kd.count()
		idem = make(map[idemID]idemEntry, nk)
		for range nk {
			var id idemID
			var en idemEntry
			kd.fixed(id[:])
			kd.fixed(en.hash[:])
			en.at, en.seen = kd.uvarint(), kd.varint()
			idem[id] = en
		}
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
		if kd.err == nil && kd.off != len(kd.s) {
			kd.fail("%d bytes after the keys", len(kd.s)-kd.off)
		}
	}()
	defer func() { <-keysDone }()

	np := d.count()
	c.partners = make(map[string]*Partner, np)
	for range np {
		p := &Partner{ID: d.str(), Name: d.str(), Type: PartnerType(d.str()), ParentID: d.str()}
		f := d.byte()
		p.Frozen, p.Delegation.Freeze, p.Delegation.Budget = f&1 != 0, f&2 != 0, f&4 != 0
		p.FrozenReason = d.str()
		p.RegisteredAt = d.time()
		c.partners[p.ID] = p
	}

	nc := d.count()
	c.customers = make(map[string]*Customer, nc)
	c.due = map[string]time.Time{}
	slab := make([]Customer, nc)
	for i := range slab {
		cu := &slab[i]
		cu.ID, cu.Name, cu.PartnerID, cu.DistributorID = d.str(), d.str(), d.str(), d.str()
		f := d.byte()
		cu.Frozen, cu.ResourcesReleased = f&1 != 0, f&2 != 0
		if f&4 != 0 {
			cu.Tags = make([]string, d.count())
			for j := range cu.Tags {
				cu.Tags[j] = d.str()
			}
		}
		cu.AccountManager = d.str()
		cu.AssociatedAt = d.time()
		cu.FreezeType, cu.Origin = FreezeType(d.str()), Origin(d.str())
		cu.Reason, cu.FrozenBy = d.str(), d.str()
		cu.FrozenAt, cu.RetentionDeadline, cu.ResourceFrozenAt = d.time(), d.time(), d.time()
		if d.err != nil {
			break
		}
		c.customers[cu.ID] = cu
		c.syncDue(cu)
	}

	nr := d.count()
	c.released = make(map[reservationKey]struct{}, nr)
	for range nr {
		k := reservationKey{kind: entityKind(d.byte()), id: d.str(), rev: d.uvarint()}
		c.released[k] = struct{}{}
	}

	if d.err == nil && d.off != len(d.s) {
		d.fail("%d bytes after the state", len(d.s)-d.off)
	}
	<-keysDone
	if d.err == nil {
		d.err = kd.err
	}
	if d.err != nil {
		return nil, d.err
	}
	c.idem, c.idemRuns = idem, idemRuns
	return c, nil
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

// snapDecoder reads a snapshot whose checksum held; the first fault sticks in err and every later
// read returns zero values.
type snapDecoder struct {
	s   string // the snapshot without its checksum, as one string: decoded strings are substrings
	off int
	err error
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

func (d *snapDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", errSnapshot, d.off, fmt.Sprintf(format, args...))
	}
	d.off = len(d.s)
}

func (d *snapDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	var shift uint
	for i := d.off; i < len(d.s) && i < d.off+binary.MaxVarintLen64; i++ {
		b := d.s[i]
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			d.off = i + 1
			return v
		}
		shift += 7
	}
	d.fail("a bad varint")
	return 0
}

func (d *snapDecoder) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// count is a length that must fit in what is left (each item takes a byte at least).
func (d *snapDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.off) {
		d.fail("a count of %d with %d bytes left", n, len(d.s)-d.off)
		return 0
	}
	return int(n)
}

func (d *snapDecoder) str() string {
	n := d.count()
	s := d.s[d.off : d.off+n]
	d.off += n
	return s
}

// fixed fills dst from the next len(dst) bytes.
func (d *snapDecoder) fixed(dst []byte) {
	if d.err != nil || len(d.s)-d.off < len(dst) {
		d.fail("%d bytes wanted", len(dst))
		return
	}
	d.off += copy(dst, d.s[d.off:d.off+len(dst)])
}

func (d *snapDecoder) byte() byte {
	if d.err != nil || d.off >= len(d.s) {
		d.fail("a byte wanted")
		return 0
	}
	b := d.s[d.off]
	d.off++
	return b
}

func (d *snapDecoder) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		sec := d.varint()
		ns := d.uvarint()
		if ns >= 1e9 {
			d.fail("a time with %d nanoseconds", ns)
			return time.Time{}
		}
		return time.Unix(sec, int64(ns)).UTC()
	}
	d.fail("a bad time tag")
	return time.Time{}
}
