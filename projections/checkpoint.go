package projections

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/internal/atomicfile"
)

// CheckpointFile is the name of the checkpoint inside the read models' directory.
const CheckpointFile = "projections.ckpt"

// Checkpoint format: magic (8 bytes), ProjectionVersion (uvarint), the state (see encodeState),
// then the CRC-32C of everything before it (4 bytes, little endian). Integers are uvarints; leaf
// lists and positions are delta-encoded. The encoding is deterministic: equal read models give equal
// bytes, which the tests use to compare read models built in different ways.
var ckptMagic = []byte("FLPROJ\x00\x01")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checkpoint writes the read models to dir now if events were applied since the last checkpoint.
// The file is replaced with atomicfile.WriteFile (0644), so a crash leaves the old one or the new.
// Readers are not blocked; the applier waits while the state is encoded.
func (m *ReadModels) Checkpoint() error {
	if m.dir == "" {
		return nil
	}
	m.ckptMu.Lock()
	defer m.ckptMu.Unlock()
	if err := os.MkdirAll(m.dir, 0o755); err != nil {
		return fmt.Errorf("projections: checkpoint dir: %w", err)
	}
	// Encode in memory under the read lock (the applier waits, readers do not), write unlocked.
	m.mu.RLock()
	if m.sinceCkpt.Load() == 0 && m.st.applied() == m.ckptApplied {
		m.mu.RUnlock()
		return nil
	}
	applied := m.st.applied()
	var buf bytes.Buffer
	// Sized once: a bytes.Buffer that doubles past a 1 GB state holds up to three times it.
	buf.Grow(max(m.st.pos.len()*24+len(m.st.customers)*32, int(m.ckptBytes.Load())*9/8))
	err := writeState(&buf, m.st)
	if err == nil {
		m.sinceCkpt.Store(0) // no event can be applied meanwhile: the applier needs the write lock
	}
	m.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("projections: checkpoint: %w", err)
	}
	err = atomicfile.WriteFile(filepath.Join(m.dir, CheckpointFile), buf.Bytes(), 0o644)
	if err != nil {
		m.sinceCkpt.Add(1) // so that the next maybeCheckpoint retries
		return fmt.Errorf("projections: checkpoint %s: %w", filepath.Join(m.dir, CheckpointFile), err)
	}
	m.ckptBytes.Store(int64(buf.Len()))
	m.mu.Lock()
	m.ckptApplied = applied
	m.lastCkptAt = m.opts.Clock.Now()
	m.mu.Unlock()
	return nil
}

func (m *ReadModels) maybeCheckpoint() {
	m.mu.RLock()
	n, every := m.sinceCkpt.Load(), int64(m.opts.CheckpointEvery)
	// A checkpoint encodes and writes the whole state, so past 10 × CheckpointEvery events one is
	// written at most per tenth of the log: the checkpoints' total cost stays about ten times the
	// last one's (it grew with the square of the log: at ten million customers, a 1.5 GB file every
	// 200,000 events), and a restart replays at most a tenth of the log.
	tenth := int64(m.st.leaves()) / 10
	due := n >= max(every, tenth) || (n > 0 && (tenth < every || n >= tenth) && m.opts.Clock.Now().Sub(m.lastCkptAt) >= m.opts.CheckpointInterval)
	m.mu.RUnlock()
	if !due {
		return
	}
	if err := m.Checkpoint(); err != nil {
		m.log.Warn("projections: checkpoint failed; will retry", "error", err)
	}
}

// loadCheckpoint returns the state of the checkpoint in dir, or nil (start from zero) if there is
// none usable; only an error reading the directory itself is returned.
func (m *ReadModels) loadCheckpoint() (*state, error) {
	if m.dir == "" {
		return nil, nil
	}
	path := filepath.Join(m.dir, CheckpointFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("projections: read checkpoint %s: %w", path, err)
	}
	st, err := readState(b)
	if err != nil {
		m.log.Warn("projections: checkpoint not used, rebuilding from the log", "file", path, "reason", err)
		return nil, nil
	}
	if err := m.matchesStore(st); err != nil {
		m.log.Warn("projections: checkpoint does not match the store, rebuilding from the log", "file", path, "reason", err)
		return nil, nil
	}
	m.ckptBytes.Store(int64(len(b)))
	return st, nil
}

// matchesStore checks that the checkpoint's last event is the store's event at that position.
func (m *ReadModels) matchesStore(st *state) error {
	n := st.leaves()
	if n == 0 {
		return nil
	}
	l := n - 1
	ctx := context.Background()
	recs, err := m.store.ReadStream(ctx, st.streamName(l), eventstore.Forwards, st.pos.revision(l), 1)
	if err != nil {
		return fmt.Errorf("last applied event %s@%d: %w", st.streamName(l), st.pos.revision(l), err)
	}
	if len(recs) != 1 || recs[0].Position != st.pos.at(l) || recs[0].ID != st.lastID {
		return fmt.Errorf("last applied event %s@%d is not event %s at position %s in the store", st.streamName(l), st.pos.revision(l), st.lastID, st.pos.at(l))
	}
	return nil
}

type encoder struct {
	trans []ctrans // scratch
	w     *bufio.Writer
	buf   [binary.MaxVarintLen64]byte
}

func (e *encoder) u(v uint64) {
	n := binary.PutUvarint(e.buf[:], v)
	e.w.Write(e.buf[:n])
}

func (e *encoder) i(v int64) {
	n := binary.PutVarint(e.buf[:], v)
	e.w.Write(e.buf[:n])
}

func (e *encoder) s(v string) {
	e.u(uint64(len(v)))
	e.w.WriteString(v)
}

func (e *encoder) b(v []byte) {
	e.u(uint64(len(v)))
	e.w.Write(v)
}

func (e *encoder) leaves(l []uint32) {
	e.u(uint64(len(l)))
	prev := uint32(0)
	for _, x := range l {
		e.u(uint64(x - prev))
		prev = x
	}
}

func writeState(w io.Writer, s *state) error {
	h := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<20)
	e := &encoder{w: bw}
	bw.Write(ckptMagic)
	encodeState(e, s)
	if err := bw.Flush(); err != nil {
		return err
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], h.Sum32())
	_, err := w.Write(sum[:])
	return err
}

// encodeState writes s deterministically.
func encodeState(e *encoder, s *state) {
	e.u(ProjectionVersion)
	e.u(s.decodeErrors)
	e.w.Write(s.lastID[:])
	e.u(uint64(len(s.strs)))
	for _, x := range s.strs[1:] {
		e.s(x)
	}
	e.u(uint64(s.pos.len()))
	var prevC, prevT uint64
	for i := range s.pos.len() {
		p := s.pos.at(uint32(i))
		e.u(p.Commit - prevC)
		e.i(int64(p.Prepare - p.Commit))
		prevC = p.Commit
		e.u(uint64(s.maxTime[i]) - prevT)
		prevT = uint64(s.maxTime[i])
		e.u(uint64(s.stream[i]))
		e.u(s.pos.revision(uint32(i)))
		e.u(uint64(s.etype[i]))
	}
	e.u(uint64(len(s.resLoc)))
	for k := range s.resLoc {
		e.b(s.resID(uint32(k)))
	}
	e.u(uint64(len(s.types)))
	for _, x := range s.types[1:] {
		e.s(x)
	}
	e.u(uint64(len(s.tagSets)))
	for _, ts := range s.tagSets[1:] {
		e.u(uint64(len(ts)))
		for _, t := range ts {
			e.u(uint64(t))
		}
	}
	e.u(uint64(len(s.partners)))
	for i := range s.partners {
		p := &s.partners[i]
		e.s(p.id)
		e.s(p.name)
		e.u(uint64(p.typ))
		e.u(uint64(p.parent))
		e.u(uint64(p.regLeaf))
		e.i(p.regTime)
		e.u(uint64(len(p.trans)))
		for _, t := range p.trans {
			e.i(t.time)
			e.u(uint64(t.leaf))
			e.u(uint64(t.reason))
			e.u(uint64(t.actor))
			e.u(uint64(t.kind))
			e.u(uint64(t.deleg))
		}
		e.leaves(p.customers)
		e.leaves(p.hist)
		e.leaves(p.acted)
	}
	e.u(uint64(len(s.customers)))
	e.u(uint64(len(s.arena)))
	e.u(uint64(len(s.ctrans)))
	for i := range s.customers {
		c := &s.customers[i]
		e.b(s.cidBytes(c))
		e.b(s.cnameBytes(c))
		e.u(uint64(c.partner))
		e.u(uint64(c.tags))
		e.u(uint64(c.accountManager))
		e.u(uint64(c.ntrans))
		prevLeaf := uint32(0)
		for _, t := range s.transOfInto(c, &e.trans) {
			e.i(t.time)
			e.i(t.deadline)
			e.u(uint64(t.leaf - prevLeaf))
			prevLeaf = t.leaf
			e.u(uint64(t.reason))
			e.u(uint64(t.actor))
			e.u(uint64(t.origin))
			e.u(uint64(t.kind)<<2 | uint64(t.sev))
		}
	}
	e.u(uint64(len(s.actors)))
	for _, a := range s.actors {
		e.u(uint64(a.name))
		e.leaves(a.leaves)
	}
	encodeBilling(e, s)
	encodePersonal(e, s)
	encodeRules1920(e, &s.rules1920)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) u() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) > 0 && d.b[0] < 0x80 { // most values fit one byte
		v := uint64(d.b[0])
		d.b = d.b[1:]
		return v
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("truncated or malformed integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// i reads a signed varint: the zig-zag of u's unsigned one, as binary.Varint decodes it.
func (d *decoder) i() int64 {
	ux := d.u()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) u32() uint32 {
	v := d.u()
	if v > 0xFFFFFFFF && d.err == nil {
		d.err = errors.New("value out of range")
	}
	return uint32(v)
}

// count reads a length, bounded by the bytes left (each element takes at least one byte).
func (d *decoder) count() int {
	v := d.u()
	if d.err == nil && v > uint64(len(d.b)) {
		d.err = errors.New("count larger than the file")
		return 0
	}
	return int(v)
}

func (d *decoder) bytes() []byte {
	n := d.count()
	if d.err != nil {
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) s() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) leaves() []uint32 {
	n := d.count()
	if d.err != nil || n == 0 {
		return nil
	}
	l := make([]uint32, n)
	prev := uint32(0)
	for i := range l {
		prev += d.u32()
		l[i] = prev
	}
	return l
}

func readState(b []byte) (*state, error) {
	if len(b) < len(ckptMagic)+4 || string(b[:len(ckptMagic)]) != string(ckptMagic) {
		return nil, errors.New("not a checkpoint file")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errors.New("checksum mismatch (torn or corrupt file)")
	}
	d := &decoder{b: body[len(ckptMagic):]}
	if v := d.u(); v != ProjectionVersion {
		return nil, fmt.Errorf("projection version %d, this build is version %d", v, ProjectionVersion)
	}
	s := newState()
	s.decodeErrors = d.u()
	if d.err == nil && len(d.b) >= len(s.lastID) {
		copy(s.lastID[:], d.b)
		d.b = d.b[len(s.lastID):]
	}
	ns := d.count()
	s.strs = make([]string, 1, ns)
	s.strIdx = make(map[string]uint32, ns)
	s.strIdx[""] = 0
	for i := 1; i < ns && d.err == nil; i++ {
		x := d.s()
		s.strs = append(s.strs, x)
		s.strIdx[x] = uint32(i)
	}
	n := d.count()
	if d.err == nil {
		s.pos.presize(n)
		s.maxTime = make([]int64, n)
		s.stream = make([]uint32, n)
		s.etype = make([]uint8, n)
	}
	var prevC, prevT uint64
	for i := 0; i < n && d.err == nil; i++ {
		prevC += d.u()
		prep := prevC + uint64(d.i())
		prevT += d.u()
		s.maxTime[i] = int64(prevT)
		s.stream[i] = d.u32()
		s.pos.add(eventstore.Position{Commit: prevC, Prepare: prep}, d.u())
		s.etype[i] = uint8(d.u())
	}
	nres := d.count()
	if d.err == nil {
		s.resLoc = make([]uint64, 0, nres)
	}
	for k := 0; k < nres && d.err == nil; k++ {
		id := d.bytes()
		if len(id) == 0 || len(id) >= 1<<16 {
			d.err = errors.New("reservation stream ID out of range")
			break
		}
		s.resLoc = append(s.resLoc, uint64(len(s.resArena))<<16|uint64(len(id)))
		s.resArena = append(s.resArena, id...)
	}
	nty := d.count()
	for i := 1; i < nty && d.err == nil; i++ {
		x := d.s()
		if len(s.types) > 255 {
			d.err = errors.New("more than 255 event types")
			break
		}
		s.typeIdx[x] = uint8(len(s.types))
		s.types = append(s.types, x)
	}
	nt := d.count()
	for i := 1; i < nt && d.err == nil; i++ {
		k := d.count()
		ts := make([]uint32, k)
		var key []byte
		for j := range ts {
			ts[j] = d.u32()
			if int(ts[j]) >= len(s.strs) {
				d.err = errors.New("tag out of range")
				break
			}
			key = append(append(key, s.strs[ts[j]]...), 0)
		}
		s.tagSets = append(s.tagSets, ts)
		if d.err == nil {
			s.tagStrs = append(s.tagStrs, s.strsOf(ts))
		}
		s.tagSetIdx[string(key)] = uint32(i)
	}
	np := d.count()
	if d.err == nil {
		s.partners = make([]partner, np)
		s.partnerIdx = make(map[string]uint32, np)
	}
	for i := 0; i < np && d.err == nil; i++ {
		p := &s.partners[i]
		p.id, p.name = d.s(), d.s()
		p.typ = uint8(d.u())
		p.parent = d.u32()
		p.regLeaf = d.u32()
		p.regTime = d.i()
		k := d.count()
		if d.err != nil {
			break
		}
		if k > 0 {
			p.trans = make([]ptrans, k)
		}
		for j := range p.trans {
			t := &p.trans[j]
			t.time = d.i()
			t.leaf, t.reason, t.actor = d.u32(), d.u32(), d.u32()
			t.kind, t.deleg = uint8(d.u()), uint8(d.u())
		}
		p.customers = d.leaves()
		p.hist = d.leaves()
		p.acted = d.leaves()
		s.partnerIdx[p.id] = uint32(i)
	}
	nc := d.count()
	if d.err == nil {
		s.customers = make([]customer, nc)
		s.cindex = newIDTable(nc)
	}
	// Capacity hints only (the arena may hold renamed customers' old bytes): bounded by the file.
	if na, nt := d.u(), d.u(); d.err == nil && na <= uint64(len(b)) && nt <= uint64(len(b)) {
		s.arena = make([]byte, 0, na)
		s.ctrans = make([]ctrans, 0, nt)
	}
	for i := 0; i < nc && d.err == nil; i++ {
		c := &s.customers[i]
		*c = s.newCustomer(d.bytes(), d.bytes())
		c.partner, c.tags, c.accountManager = d.u32(), d.u32(), d.u32()
		k := d.count()
		if d.err != nil {
			break
		}
		prevLeaf := uint32(0)
		for j := 0; j < k && d.err == nil; j++ {
			var t ctrans
			t.time, t.deadline = d.i(), d.i()
			prevLeaf += d.u32()
			t.leaf = prevLeaf
			t.reason, t.actor, t.origin = d.u32(), d.u32(), d.u32()
			ks := d.u()
			t.kind, t.sev = uint8(ks>>2), uint8(ks&3)
			s.addTrans(c, t)
		}
		if !s.index(uint32(i)) {
			d.err = errors.New("customer listed twice")
			break
		}
	}
	na := d.count()
	for i := 0; i < na && d.err == nil; i++ {
		a := actorHist{name: d.u32()}
		a.leaves = d.leaves()
		s.actorIdx[a.name] = uint32(len(s.actors))
		s.actors = append(s.actors, a)
	}
	if d.err == nil {
		decodeBilling(d, s)
		decodePersonal(d, s)
		decodeRules1920(d, &s.rules1920)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, errors.New("trailing bytes")
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	s.deriveIndexes()
	return s, nil
}

// validate checks the references of a decoded state, so a checkpoint that passed its checksum but
// was written by a buggy build cannot make lookups panic.
func (s *state) validate() error {
	ns, np, nl, nt := uint32(len(s.strs)), uint32(len(s.partners)), uint32(s.pos.len()), uint32(len(s.tagSets))
	for _, x := range s.stream {
		if (x&resStream == 0 && x >= ns) || (x&resStream != 0 && x&^resStream >= uint32(len(s.resLoc))) {
			return errors.New("stream out of range")
		}
	}
	for _, x := range s.etype {
		if int(x) >= len(s.types) {
			return errors.New("event type out of range")
		}
	}
	for i := range s.partners {
		p := &s.partners[i]
		if (p.parent != noPartner && p.parent >= np) || p.regLeaf >= nl {
			return errors.New("partner reference out of range")
		}
		for _, t := range p.trans {
			if t.leaf >= nl || t.reason >= ns || t.actor >= ns {
				return errors.New("partner transition out of range")
			}
		}
		for _, c := range p.customers {
			if c >= uint32(len(s.customers)) {
				return errors.New("partner customer out of range")
			}
		}
		for _, l := range p.hist {
			if l >= nl {
				return errors.New("partner history out of range")
			}
		}
		for _, l := range p.acted {
			if l >= nl {
				return errors.New("partner actions out of range")
			}
		}
	}
	for i := range s.customers {
		c := &s.customers[i]
		if c.partner >= np || c.tags >= nt || c.accountManager >= ns || c.ntrans == 0 {
			return errors.New("customer reference out of range")
		}
	}
	for _, t := range s.ctrans { // the chains were linked by readState itself
		if t.leaf >= nl || t.reason >= ns || t.actor >= ns || t.origin >= ns || t.sev > sevAll {
			return errors.New("customer transition out of range")
		}
	}
	if err := s.rules1920.validate(np, uint32(len(s.customers)), nl); err != nil {
		return err
	}
	for _, a := range s.actors {
		if a.name >= ns {
			return errors.New("actor out of range")
		}
		for _, l := range a.leaves {
			if l >= nl {
				return errors.New("actor history out of range")
			}
		}
	}
	return nil
}
