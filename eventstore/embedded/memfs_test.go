package embedded

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// memFS is an in-memory fileSystem holding one directory, for the power-loss test. Reads see every
// write at once, as the page cache does; what a power cut would have kept is worked out afterwards,
// by crashModel, from the operations memFS records. Create over an existing name replaces the file
// with a new, empty one (the store only does this to a name it has just renamed or removed).
type memFS struct {
	dir string

	mu      sync.Mutex
	files   map[string]*memFile // the directory: base name -> file
	inodes  int
	record  bool
	ops     []fsOp
	onClose func() []byte // called under mu at each Close while recording; kept in the op
}

type opKind int

const (
	opCreate opKind = iota
	opRename
	opRemove
	opSyncDir
	opWrite
	opSync
	opClose
)

// fsOp is one recorded operation.
type fsOp struct {
	kind     opKind
	name, to string // base names: create and remove name; rename name to to
	ino      int
	off      int    // write: the offset (the file's size: segments are append-only)
	data     []byte // write: the bytes
	snap     []byte // close: what onClose returned
}

type memFile struct {
	fs   *memFS
	ino  int
	path string
	data []byte
}

func newMemFS(dir string, files map[string][]byte) *memFS {
	m := &memFS{dir: dir, files: map[string]*memFile{}}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		m.inodes++
		m.files[name] = &memFile{fs: m, ino: m.inodes, path: filepath.Join(dir, name), data: slices.Clone(files[name])}
	}
	return m
}

// startRecording records every operation from now on, and calls onClose at each Close. It returns
// the directory's content, which must be durable at this point.
func (m *memFS) startRecording(onClose func() []byte) *crashModel {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.record, m.onClose = true, onClose
	c := &crashModel{inodes: map[int]*inodeState{}, cur: map[string]int{}}
	for name, f := range m.files {
		c.cur[name] = f.ino
		c.inodes[f.ino] = &inodeState{durable: slices.Clone(f.data)}
	}
	c.durable = maps.Clone(c.cur)
	return c
}

// stopRecording ends the recording and returns the operations.
func (m *memFS) stopRecording() []fsOp {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.record = false
	return m.ops
}

// opCount is the number of operations recorded so far.
func (m *memFS) opCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ops)
}

func (m *memFS) add(op fsOp) {
	if m.record {
		m.ops = append(m.ops, op)
	}
}

func (m *memFS) base(name string) (string, error) {
	if filepath.Dir(name) != m.dir {
		return "", fmt.Errorf("memFS: %s is not in %s", name, m.dir)
	}
	return filepath.Base(name), nil
}

func (m *memFS) Create(name string) (walFile, error) {
	b, err := m.base(name)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inodes++
	f := &memFile{fs: m, ino: m.inodes, path: name}
	m.files[b] = f
	m.add(fsOp{kind: opCreate, name: b, ino: f.ino})
	return f, nil
}

func (m *memFS) ReadFile(name string) ([]byte, error) {
	b, err := m.base(name)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.files[b]
	if f == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return slices.Clone(f.data), nil
}

func (m *memFS) ReadDir(dir string) ([]string, error) {
	if dir != m.dir {
		return nil, fmt.Errorf("memFS: no directory %s", dir)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.files)), nil
}

func (m *memFS) Rename(oldname, newname string) error {
	ob, err := m.base(oldname)
	if err != nil {
		return err
	}
	nb, err := m.base(newname)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.files[ob]
	if f == nil {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	delete(m.files, ob)
	m.files[nb] = f
	m.add(fsOp{kind: opRename, name: ob, to: nb})
	return nil
}

func (m *memFS) Remove(name string) error {
	b, err := m.base(name)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files[b] == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.files, b)
	m.add(fsOp{kind: opRemove, name: b})
	return nil
}

func (m *memFS) SyncDir(dir string) error {
	if dir != m.dir {
		return fmt.Errorf("memFS: no directory %s", dir)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.add(fsOp{kind: opSyncDir})
	return nil
}

func (f *memFile) Write(b []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.fs.add(fsOp{kind: opWrite, ino: f.ino, off: len(f.data), data: slices.Clone(b)})
	f.data = append(f.data, b...)
	return len(b), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	f.fs.add(fsOp{kind: opSync, ino: f.ino})
	f.fs.mu.Unlock()
	runtime.Gosched() // a sync takes time: let appends queue behind it, so that commits group
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	op := fsOp{kind: opClose, ino: f.ino}
	if f.fs.record && f.fs.onClose != nil {
		op.snap = f.fs.onClose()
	}
	f.fs.add(op)
	return nil
}

func (f *memFile) Name() string { return f.path }

// crashModel replays recorded operations and knows after each one what a power cut could keep: a
// file's content as of its last Sync plus any of the writes since (whole, torn, or dropped), and
// the directory as of the last SyncDir plus a prefix of its changes since. Directory changes are
// modelled as durable only after a SyncDir, stricter than ext4, whose journal usually commits them
// with the next fsync of any file. snap is bbolt's file as of the last Close of a WAL segment (see
// TestPowerLoss).
type crashModel struct {
	inodes     map[int]*inodeState
	cur        map[string]int // the directory as the process saw it
	durable    map[string]int // the directory as of the last SyncDir
	pendingDir []fsOp         // its changes since
	snap       []byte
	syncedHead uint64 // the last position of the frames synced so far
	head       uint64 // the last position written so far
}

type inodeState struct {
	durable []byte
	pending []fsOp // writes since the last Sync
}

func (c *crashModel) apply(op fsOp) {
	switch op.kind {
	case opCreate:
		c.inodes[op.ino] = &inodeState{}
		c.cur[op.name] = op.ino
		c.pendingDir = append(c.pendingDir, op)
	case opRename:
		c.cur[op.to] = c.cur[op.name]
		delete(c.cur, op.name)
		c.pendingDir = append(c.pendingDir, op)
	case opRemove:
		delete(c.cur, op.name)
		c.pendingDir = append(c.pendingDir, op)
	case opSyncDir:
		c.durable, c.pendingDir = maps.Clone(c.cur), nil
	case opWrite:
		in := c.inodes[op.ino]
		in.pending = append(in.pending, op)
		c.head = max(c.head, frameLastPosition(op.data))
	case opSync:
		in := c.inodes[op.ino]
		for _, w := range in.pending {
			c.syncedHead = max(c.syncedHead, frameLastPosition(w.data))
		}
		in.durable, _ = overlay(in.durable, in.pending, keepAll(in.pending))
		in.pending = nil
	case opClose:
		if op.snap != nil {
			c.snap = op.snap
		}
	}
}

// frameLastPosition is the position of the last record of a frame made by frame.
func frameLastPosition(b []byte) uint64 {
	var last uint64
	for off := 4; off+4 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		if rec, err := parseRecord(b[off+4 : off+4+n]); err == nil {
			last = rec.pos
		}
		off += 4 + n
	}
	return last
}

func keepAll(writes []fsOp) []int {
	k := make([]int, len(writes))
	for i, w := range writes {
		k[i] = len(w.data)
	}
	return k
}

// overlay applies to base the first keep[i] bytes of each write i. holes reports a write dropped
// or torn before one that was kept: the file then has zeros in the middle, where the first lies.
func overlay(base []byte, writes []fsOp, keep []int) (content []byte, holes bool) {
	content = slices.Clone(base)
	short := false
	for i, w := range writes {
		if keep[i] == 0 {
			short = true
			continue
		}
		holes = holes || short
		short = short || keep[i] < len(w.data)
		if end := w.off + keep[i]; end > len(content) {
			content = append(content, make([]byte, end-len(content))...)
		}
		copy(content[w.off:], w.data[:keep[i]])
	}
	return content, holes
}

// crashState is a data directory as a power cut could leave it.
type crashState struct {
	what   string            // how it was made
	files  map[string][]byte // WAL directory: name -> content
	snap   []byte            // events.db
	holes  bool              // some file has a dropped or torn write before a kept one
	damage *walDamage        // bytes changed on purpose: the open must refuse, naming them
}

// walDamage is a byte changed in a synced frame followed by another synced frame: the open must
// refuse, naming the segment and an offset in [from, to) (the frame).
type walDamage struct {
	segment  string
	from, to int
}

// state makes the state with the first dirChanges directory changes since the last SyncDir and, of
// each inode's writes since its last Sync, the bytes keep says (nil keep: every write whole).
func (c *crashModel) state(what string, dirChanges int, keep func(ino int, pending []fsOp) []int) crashState {
	dir := maps.Clone(c.durable)
	for _, op := range c.pendingDir[:dirChanges] {
		switch op.kind {
		case opCreate:
			dir[op.name] = op.ino
		case opRename:
			dir[op.to] = dir[op.name]
			delete(dir, op.name)
		case opRemove:
			delete(dir, op.name)
		}
	}
	st := crashState{what: what, files: map[string][]byte{}, snap: c.snap}
	for name, ino := range dir {
		in := c.inodes[ino]
		k := keepAll(in.pending)
		if keep != nil {
			k = keep(ino, in.pending)
		}
		content, holes := overlay(in.durable, in.pending, k)
		st.files[name] = content
		st.holes = st.holes || holes
	}
	return st
}

// reachable lists, in order, the inodes with a name in the directory or in its durable state.
func (c *crashModel) reachable() []int {
	set := map[int]bool{}
	for _, ino := range c.cur {
		set[ino] = true
	}
	for _, ino := range c.durable {
		set[ino] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// variants makes the states a power cut at this point could leave: the unsynced writes all
// dropped or all kept, with none, some or all of the directory changes since the last SyncDir;
// with every directory change, the last write of each file torn after a few bytes, or kept whole
// but with zeros after those bytes (tears: the number of random tear points besides 1 to 5, the
// middle and the last byte; -1 for every byte); and, for files with several unsynced writes, every
// prefix of them and two random subsets.
func (c *crashModel) variants(rng *rand.Rand, tears int) []crashState {
	d := len(c.pendingDir)
	dirChoices := []int{d}
	if d > 0 {
		dirChoices = append(dirChoices, 0)
		if d > 1 {
			dirChoices = append(dirChoices, 1+rng.IntN(d-1))
		}
	}
	unsynced := false
	for _, ino := range c.reachable() {
		unsynced = unsynced || len(c.inodes[ino].pending) > 0
	}
	none := func(_ int, p []fsOp) []int { return make([]int, len(p)) }
	var out []crashState
	for _, k := range dirChoices {
		out = append(out, c.state(fmt.Sprintf("%d of %d directory changes, unsynced writes dropped", k, d), k, none))
		if unsynced {
			out = append(out, c.state(fmt.Sprintf("%d of %d directory changes, unsynced writes kept", k, d), k, nil))
		}
	}
	for _, ino := range c.reachable() {
		p := c.inodes[ino].pending
		if len(p) == 0 {
			continue
		}
		last := p[len(p)-1]
		for _, b := range tearPoints(rng, len(last.data), tears) {
			out = append(out, c.state(fmt.Sprintf("inode %d's last write (%d bytes at offset %d) torn after %d bytes", ino, len(last.data), last.off, b), d,
				func(i int, p []fsOp) []int {
					k := keepAll(p)
					if i == ino {
						k[len(k)-1] = b
					}
					return k
				}))
		}
		// The size reached the disk but not all the data (a sector or page not written): the
		// write's bytes after b read as zeros.
		for _, b := range tearPoints(rng, len(last.data), tears) {
			st := c.state(fmt.Sprintf("inode %d's last write (%d bytes at offset %d) zeros after %d bytes", ino, len(last.data), last.off, b), d, nil)
			for name, i := range c.cur {
				if i == ino && st.files[name] != nil {
					clear(st.files[name][last.off+b : last.off+len(last.data)])
				}
			}
			out = append(out, st)
		}
		if len(p) < 2 {
			continue
		}
		for j := 1; j < len(p); j++ {
			out = append(out, c.state(fmt.Sprintf("inode %d: the first %d of %d unsynced writes", ino, j, len(p)), d,
				func(i int, p []fsOp) []int {
					k := keepAll(p)
					if i == ino {
						clear(k[j:])
					}
					return k
				}))
		}
		for range 2 {
			subset := make([]bool, len(p))
			var kept []string
			for i := range subset {
				if subset[i] = rng.IntN(2) == 0; subset[i] {
					kept = append(kept, fmt.Sprint(i))
				}
			}
			out = append(out, c.state(fmt.Sprintf("inode %d: unsynced writes {%s} of %d", ino, strings.Join(kept, ","), len(p)), d,
				func(i int, p []fsOp) []int {
					k := keepAll(p)
					if i == ino {
						for w := range k {
							if !subset[w] {
								k[w] = 0
							}
						}
					}
					return k
				}))
		}
	}
	return out
}

// tearPoints are the byte counts, in 1..n-1, after which a write of n bytes is torn.
func tearPoints(rng *rand.Rand, n, random int) []int {
	if n < 2 {
		return nil
	}
	if random < 0 {
		all := make([]int, n-1)
		for i := range all {
			all[i] = i + 1
		}
		return all
	}
	set := map[int]bool{n / 2: true, n - 1: true}
	for b := 1; b <= 5 && b < n; b++ {
		set[b] = true
	}
	for range random {
		set[1+rng.IntN(n-1)] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// damaged makes a state with every write kept and one byte changed in a synced frame of the last
// segment that another synced frame follows, if there is one.
func (c *crashModel) damaged(rng *rand.Rand) (crashState, bool) {
	var last string
	for name := range c.durable {
		if strings.HasPrefix(name, walPrefix) && !strings.HasSuffix(name, ".broken") && name > last {
			last = name
		}
	}
	if last == "" || c.cur[last] != c.durable[last] {
		return crashState{}, false
	}
	data := c.inodes[c.durable[last]].durable
	var offs []int
	for off := 0; off+4 <= len(data); off += 4 + int(binary.BigEndian.Uint32(data[off:])) {
		offs = append(offs, off)
	}
	if len(offs) < 2 {
		return crashState{}, false
	}
	f := rng.IntN(len(offs) - 1)
	from, to := offs[f], offs[f+1]
	at, mask := from+rng.IntN(to-from), byte(1+rng.IntN(255))
	if rng.IntN(2) == 0 {
		at = from + rng.IntN(4) // the frame's length
	}
	st := c.state(fmt.Sprintf("%s: byte %d of the synced frame at offset %d (of %d frames) changed (xor %#x)", last, at, from, len(offs), mask), len(c.pendingDir), nil)
	b := slices.Clone(st.files[last])
	b[at] ^= mask
	st.files[last] = b
	st.damage = &walDamage{segment: last, from: from, to: to}
	return st, true
}
