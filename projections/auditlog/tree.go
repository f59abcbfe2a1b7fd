package auditlog

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/internal/atomicfile"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// DirName is the conventional subdirectory of the service's data directory that holds the audit
// tree: OpenTree(filepath.Join(dataDir, auditlog.DirName), ...).
const DirName = "audit"

// hasher is the RFC 6962 SHA-256 hasher.
var hasher = rfc6962.DefaultHasher

var rangeFactory = compact.RangeFactory{Hash: hasher.HashChildren}

// Options configure a Tree.
type Options struct {
	// Name is the log's name; its origin (checkpoint first line and key name) is OriginPrefix+Name.
	// Default "default".
	Name string
	// KeyFile is the note signer key file. Default <dir>/signing.key, generated (mode 0600) if missing.
	KeyFile string
	// CheckpointInterval is the least time between two signed checkpoints. Default 100 ms.
	CheckpointInterval time.Duration
}

func (o *Options) defaults(dir string) {
	if o.Name == "" {
		o.Name = "default"
	}
	if o.KeyFile == "" {
		o.KeyFile = filepath.Join(dir, signingKeyFile)
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = 100 * time.Millisecond
	}
}

// Files of the tree's directory besides the keys.
const (
	positionsFile  = "positions"  // 16 bytes per leaf: the event's position (commit, prepare), big-endian
	checkpointFile = "checkpoint" // the latest signed checkpoint
	levelFileFmt   = "level-%02d" // 32 bytes per perfect node of level L, by node index (level 0: leaf hashes)
)

const (
	hashSize = sha256.Size
	posSize  = 16
)

// Tree is the audit log: an RFC 6962 Merkle tree over all events of the store in global order,
// persisted in a directory, with signed checkpoints, proofs and exports.
//
// Leaf i is the i-th event of the store's global order (0-based: the number of events before it);
// its hash is Event.ComputeLeafHash. Every perfect subtree's hash is stored once, when it completes,
// in the file of its level, so proofs and roots of any size read O(log n) hashes and a restart resumes
// from the last checkpointed size instead of rebuilding.
//
// Run feeds the tree from the store. Reads (Size, Root, proofs, Checkpoint, Export) are safe for
// concurrent use with Run and with each other.
type Tree struct {
	dir    string
	store  eventstore.Store
	opts   Options
	origin string
	signer note.Signer
	vkey   string

	mu        sync.RWMutex // guards the fields below, and the files' set (not their contents)
	size      uint64
	root      []byte
	lastPos   eventstore.Position
	levels    []*os.File
	positions *os.File
	lock      *os.File // holds an exclusive flock on the directory's lock file
	closed    bool

	// Owned by the Run goroutine.
	enc       leaf.Encoder
	rng       *compact.Range
	bufs      []*bufio.Writer
	posBuf    *bufio.Writer
	werr      error
	cpMu      sync.Mutex
	pending   *leaf.Checkpoint // the checkpoint found at start, until the tree is checked against it
	cp        leaf.Checkpoint
	cpNote    []byte
	cpChanged chan struct{} // closed and replaced at every new checkpoint

	grown   chan struct{}
	running atomic.Bool
}

// OpenTree opens (creating it if needed) the audit tree in dir, fed from store. It writes the
// verifier key to <dir>/verifier.key (VerifierKeyFile) for operators to hand to auditors. It recovers the
// tree up to its latest signed checkpoint, refusing to start (an error wrapping
// eventstore.ErrCorrupt) if the stored nodes do not hash to that checkpoint's root. Call Run to
// index events and sign checkpoints, and Close when Run has returned.
func OpenTree(dir string, store eventstore.Store, opts Options) (*Tree, error) {
	opts.defaults(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit tree: %w", err)
	}
	t := &Tree{dir: dir, store: store, opts: opts, origin: OriginPrefix + opts.Name,
		cpChanged: make(chan struct{}), grown: make(chan struct{}, 1)}
	var err error
	if t.lock, err = lockDir(dir); err != nil {
		return nil, err
	}
	if t.signer, t.vkey, err = loadOrCreateKey(opts.KeyFile, t.origin); err != nil {
		t.closeFiles()
		return nil, fmt.Errorf("audit tree: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, verifierKeyFile), []byte(t.vkey+"\n"), 0o644); err != nil {
		t.closeFiles()
		return nil, fmt.Errorf("audit tree: %w", err)
	}
	if err := t.recover(); err != nil {
		t.closeFiles()
		return nil, err
	}
	return t, nil
}

// recover opens the files, trims them to a consistent size no larger than the latest checkpoint's
// (nodes written after it may not have reached the disk: they are recomputed from the store) and
// checks the stored nodes against the checkpoint.
func (t *Tree) recover() error {
	var err error
	if t.positions, err = os.OpenFile(filepath.Join(t.dir, positionsFile), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return fmt.Errorf("audit tree: %w", err)
	}
	fi, err := t.positions.Stat()
	if err != nil {
		return fmt.Errorf("audit tree: %w", err)
	}
	size := uint64(fi.Size()) / posSize
	for level := 0; ; level++ {
		f, err := os.OpenFile(filepath.Join(t.dir, fmt.Sprintf(levelFileFmt, level)), os.O_RDWR, 0o600)
		if errors.Is(err, os.ErrNotExist) {
			if level == 0 {
				size = 0
			}
			break
		}
		if err != nil {
			return fmt.Errorf("audit tree: %w", err)
		}
		t.levels = append(t.levels, f)
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("audit tree: %w", err)
		}
		// A size s needs s>>level nodes at this level.
		if n := uint64(fi.Size()) / hashSize; size>>level > n {
			size = (n+1)<<level - 1
		}
	}

	signed, err := os.ReadFile(filepath.Join(t.dir, checkpointFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		size = 0 // nothing was certified: rebuild from the store
	case err != nil:
		return fmt.Errorf("audit tree: %w", err)
	default:
		cp, err := leaf.OpenCheckpoint(signed, t.vkey)
		if err != nil {
			return fmt.Errorf("%w: audit checkpoint %s: %v", eventstore.ErrCorrupt, filepath.Join(t.dir, checkpointFile), err)
		}
		t.cp, t.cpNote = cp, signed
		size = min(size, cp.Size)
		t.pending = &cp // checked now, or when the tree gets back to its size
	}
	if err := t.truncate(size); err != nil {
		return fmt.Errorf("audit tree: %w", err)
	}
	t.size = size
	hashes, err := t.readNodes(compact.RangeNodes(0, size, nil))
	if err != nil {
		return err
	}
	if t.rng, err = rangeFactory.NewRange(0, size, hashes); err != nil {
		return fmt.Errorf("audit tree: %w", err)
	}
	if t.root, err = rootOf(t.rng); err != nil {
		return err
	}
	if size > 0 {
		if t.lastPos, err = t.Position(size - 1); err != nil {
			return err
		}
	}
	if err := t.checkPending(); err != nil {
		return err
	}
	if t.cpNote == nil {
		return t.sign(size, t.root)
	}
	return nil
}

// truncate cuts every file to what a tree of size leaves holds.
func (t *Tree) truncate(size uint64) error {
	if err := t.positions.Truncate(int64(size * posSize)); err != nil {
		return err
	}
	if _, err := t.positions.Seek(0, 2); err != nil {
		return err
	}
	for level, f := range t.levels {
		if err := f.Truncate(int64((size >> level) * hashSize)); err != nil {
			return err
		}
		if _, err := f.Seek(0, 2); err != nil {
			return err
		}
	}
	return nil
}

// checkPending compares the tree with the checkpoint found at start once the tree has reached it.
func (t *Tree) checkPending() error {
	t.cpMu.Lock()
	cp := t.pending
	t.cpMu.Unlock()
	if cp == nil || cp.Size > t.Size() {
		return nil
	}
	root, err := t.Root(cp.Size)
	if err != nil {
		return err
	}
	if !equalHash(root, cp.Hash) {
		return fmt.Errorf("%w: audit tree %s: the root of the first %d leaves differs from the signed checkpoint's: the tree files or the event store changed",
			eventstore.ErrCorrupt, t.dir, cp.Size)
	}
	t.cpMu.Lock()
	t.pending = nil
	t.cpMu.Unlock()
	return nil
}

func rootOf(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return hasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}

// Origin is the log's origin line (and signing key name), e.g. "freezeledger/default".
func (t *Tree) Origin() string { return t.origin }

// PublicKey is the note verifier key of the checkpoints, "<origin>+<key hash>+<base64 key>": the
// body of GET /v1/audit/public-key and the key the offline verifier takes.
func (t *Tree) PublicKey() string { return t.vkey }

// Size is the number of leaves (indexed events).
func (t *Tree) Size() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.size
}

// ErrSize: a size or index beyond the tree.
var ErrSize = errors.New("beyond the tree")

// Root is the RFC 6962 root of the first size leaves (size <= Size()).
func (t *Tree) Root(size uint64) ([]byte, error) {
	t.mu.RLock()
	cur, root := t.size, t.root
	t.mu.RUnlock()
	switch {
	case size > cur:
		return nil, fmt.Errorf("%w: tree size %d > current size %d", ErrSize, size, cur)
	case size == cur:
		return root, nil
	case size == 0:
		return hasher.EmptyRoot(), nil
	}
	hashes, err := t.readNodes(compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// InclusionProof is the RFC 6962 inclusion proof of leaf index in the tree of size treeSize
// (index < treeSize <= Size()), checkable with proof.VerifyInclusion.
func (t *Tree) InclusionProof(index, treeSize uint64) ([][]byte, error) {
	if cur := t.Size(); treeSize > cur {
		return nil, fmt.Errorf("%w: tree size %d > current size %d", ErrSize, treeSize, cur)
	}
	nodes, err := proof.Inclusion(index, treeSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSize, err)
	}
	return t.proofHashes(nodes)
}

// ConsistencyProof is the RFC 6962 consistency proof between the trees of sizes first and second
// (first <= second <= Size()), checkable with proof.VerifyConsistency.
func (t *Tree) ConsistencyProof(first, second uint64) ([][]byte, error) {
	if cur := t.Size(); second > cur {
		return nil, fmt.Errorf("%w: tree size %d > current size %d", ErrSize, second, cur)
	}
	nodes, err := proof.Consistency(first, second)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSize, err)
	}
	return t.proofHashes(nodes)
}

func (t *Tree) proofHashes(nodes proof.Nodes) ([][]byte, error) {
	hashes, err := t.readNodes(nodes.IDs)
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// LeafHash is the stored hash of leaf index.
func (t *Tree) LeafHash(index uint64) ([]byte, error) {
	if cur := t.Size(); index >= cur {
		return nil, fmt.Errorf("%w: leaf %d, tree size %d", ErrSize, index, cur)
	}
	h, err := t.readNodes([]compact.NodeID{compact.NewNodeID(0, index)})
	if err != nil {
		return nil, err
	}
	return h[0], nil
}

// Position is the store position of leaf index.
func (t *Tree) Position(index uint64) (eventstore.Position, error) {
	t.mu.RLock()
	f := t.positions
	t.mu.RUnlock()
	var b [posSize]byte
	if _, err := f.ReadAt(b[:], int64(index*posSize)); err != nil {
		return eventstore.Position{}, fmt.Errorf("%w: audit tree %s: position of leaf %d: %v", eventstore.ErrCorrupt, t.dir, index, err)
	}
	return eventstore.Position{Commit: binary.BigEndian.Uint64(b[:8]), Prepare: binary.BigEndian.Uint64(b[8:])}, nil
}

// IndexOf is the index of the first leaf whose position is at or after pos: the event's index if
// pos is an indexed event's position, Size() if no leaf is at or after it.
func (t *Tree) IndexOf(pos eventstore.Position) (uint64, error) {
	size := t.Size()
	var ferr error
	i := sort.Search(int(size), func(i int) bool {
		p, err := t.Position(uint64(i))
		if err != nil {
			ferr = err
			return true
		}
		return !p.Less(pos)
	})
	return uint64(i), ferr
}

// readNodes reads stored perfect nodes.
func (t *Tree) readNodes(ids []compact.NodeID) ([][]byte, error) {
	t.mu.RLock()
	levels := t.levels
	t.mu.RUnlock()
	out := make([][]byte, len(ids))
	buf := make([]byte, len(ids)*hashSize)
	for i, id := range ids {
		h := buf[i*hashSize : (i+1)*hashSize : (i+1)*hashSize]
		if int(id.Level) >= len(levels) {
			return nil, fmt.Errorf("%w: audit tree %s: no level %d file for node %d", eventstore.ErrCorrupt, t.dir, id.Level, id.Index)
		}
		if _, err := levels[id.Level].ReadAt(h, int64(id.Index*hashSize)); err != nil {
			return nil, fmt.Errorf("%w: audit tree %s: node %d of level %d: %v", eventstore.ErrCorrupt, t.dir, id.Index, id.Level, err)
		}
		out[i] = h
	}
	return out, nil
}

// Run indexes the store's events into the tree (catching up from where the tree stopped, then
// following new events) and signs a checkpoint when the tree has grown, at most every
// CheckpointInterval. It returns ctx's error when ctx is done, or the first failure (an event that
// cannot be represented, a file error, a tree that disagrees with its checkpoint). Only one Run at
// a time.
func (t *Tree) Run(ctx context.Context) error {
	if !t.running.CompareAndSwap(false, true) {
		return errors.New("audit tree: Run is already running")
	}
	defer t.running.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	signed := make(chan error, 1)
	go func() {
		err := t.signLoop(ctx)
		if err != nil {
			cancel() // a tree that cannot certify must not keep indexing silently
		}
		signed <- err
	}()
	err := t.ingest(ctx)
	cancel()
	if serr := <-signed; serr != nil {
		return serr
	}
	return err
}

func (t *Tree) ingest(ctx context.Context) error {
	t.mu.RLock()
	after := t.lastPos
	t.mu.RUnlock()
	sub, err := t.store.SubscribeAll(ctx, after)
	if err != nil {
		return fmt.Errorf("audit tree: subscribe after %s: %w", after, err)
	}
	defer sub.Close()
	for {
		recs, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("audit tree: subscription: %w", err)
		}
		if err := t.appendBatch(recs); err != nil {
			return err
		}
	}
}

// appendBatch adds events to the tree, writes the new nodes and publishes the new size.
func (t *Tree) appendBatch(recs []eventstore.RecordedEvent) error {
	t.mu.RLock()
	size, last := t.size, t.lastPos
	t.mu.RUnlock()
	var posb [posSize]byte
	for _, rec := range recs {
		if !last.Less(rec.Position) {
			return fmt.Errorf("%w: audit tree: event %s at position %s does not follow position %s", eventstore.ErrCorrupt, rec.ID, rec.Position, last)
		}
		ev, err := t.enc.Decode(recordOf(rec), size)
		if err != nil {
			return fmt.Errorf("audit tree: leaf %d: %w", size, err)
		}
		lh, err := t.enc.LeafHash(&ev)
		if err != nil {
			return fmt.Errorf("audit tree: leaf %d: event %s at position %s: %w", size, rec.ID, rec.Position, err)
		}
		if err := t.rng.Append(lh[:], t.visit); err != nil {
			return fmt.Errorf("audit tree: %w", err)
		}
		binary.BigEndian.PutUint64(posb[:8], rec.Position.Commit)
		binary.BigEndian.PutUint64(posb[8:], rec.Position.Prepare)
		if t.posBuf == nil {
			t.posBuf = bufio.NewWriterSize(t.positions, 64<<10)
		}
		t.posBuf.Write(posb[:])
		last = rec.Position
		size++
	}
	for _, b := range t.bufs {
		if err := b.Flush(); err != nil && t.werr == nil {
			t.werr = err
		}
	}
	if t.posBuf != nil {
		if err := t.posBuf.Flush(); err != nil && t.werr == nil {
			t.werr = err
		}
	}
	if t.werr != nil {
		return fmt.Errorf("audit tree %s: write: %w", t.dir, t.werr)
	}
	root, err := rootOf(t.rng)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.size, t.root, t.lastPos = size, root, last
	t.mu.Unlock()
	if err := t.checkPending(); err != nil {
		return err
	}
	select {
	case t.grown <- struct{}{}:
	default:
	}
	return nil
}

// visit stores a completed perfect node (the compact range reports them in index order per level).
func (t *Tree) visit(id compact.NodeID, hash []byte) {
	for int(id.Level) >= len(t.bufs) {
		level := len(t.bufs)
		if level >= len(t.levels) {
			f, err := os.OpenFile(filepath.Join(t.dir, fmt.Sprintf(levelFileFmt, level)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				if t.werr == nil {
					t.werr = err
				}
				return
			}
			t.mu.Lock()
			t.levels = append(t.levels, f)
			t.mu.Unlock()
		}
		t.bufs = append(t.bufs, bufio.NewWriterSize(t.levels[level], 32<<10))
	}
	if _, err := t.bufs[id.Level].Write(hash); err != nil && t.werr == nil {
		t.werr = err
	}
}

func (t *Tree) signLoop(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.grown:
		}
		t.mu.RLock()
		size, root := t.size, t.root
		t.mu.RUnlock()
		t.cpMu.Lock()
		due := t.pending == nil && size > t.cp.Size
		t.cpMu.Unlock()
		if due {
			if err := t.syncFiles(); err != nil {
				return fmt.Errorf("audit tree %s: sync: %w", t.dir, err)
			}
			if err := t.sign(size, root); err != nil {
				return err
			}
		}
		timer.Reset(t.opts.CheckpointInterval)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
}

// syncFiles makes the nodes a checkpoint is about to certify durable.
func (t *Tree) syncFiles() error {
	t.mu.RLock()
	files := append([]*os.File{t.positions}, t.levels...)
	t.mu.RUnlock()
	for _, f := range files {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// sign signs and stores a checkpoint for the tree of size leaves with the given root, and publishes it.
func (t *Tree) sign(size uint64, root []byte) error {
	cp := leaf.Checkpoint{Origin: t.origin, Size: size, Hash: root}
	signed, err := SignCheckpoint(cp, t.signer)
	if err != nil {
		return fmt.Errorf("audit tree: sign checkpoint: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(t.dir, checkpointFile), signed, 0o644); err != nil {
		return fmt.Errorf("audit tree: store checkpoint: %w", err)
	}
	t.cpMu.Lock()
	t.cp, t.cpNote = cp, signed
	close(t.cpChanged)
	t.cpChanged = make(chan struct{})
	t.cpMu.Unlock()
	return nil
}

// Checkpoint returns the latest signed checkpoint: its parsed body and the signed note (the body
// of GET /v1/audit/checkpoint, text/plain). Its size never decreases.
func (t *Tree) Checkpoint() (leaf.Checkpoint, []byte) {
	t.cpMu.Lock()
	defer t.cpMu.Unlock()
	return t.cp, t.cpNote
}

// WaitCheckpoint waits until a signed checkpoint covers at least size leaves and returns it, or
// returns ctx's error. Run must be running for new checkpoints to appear.
func (t *Tree) WaitCheckpoint(ctx context.Context, size uint64) (leaf.Checkpoint, []byte, error) {
	for {
		t.cpMu.Lock()
		cp, signed, changed := t.cp, t.cpNote, t.cpChanged
		t.cpMu.Unlock()
		if cp.Size >= size {
			return cp, signed, nil
		}
		select {
		case <-ctx.Done():
			return leaf.Checkpoint{}, nil, ctx.Err()
		case <-changed:
		}
	}
}

// Close closes the tree's files. Call it after Run has returned.
func (t *Tree) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	return t.closeFilesLocked()
}

func (t *Tree) closeFiles() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeFilesLocked()
}

func (t *Tree) closeFilesLocked() error {
	var first error
	for _, f := range append([]*os.File{t.positions, t.lock}, t.levels...) {
		if f == nil {
			continue
		}
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// lockDir takes an exclusive lock on dir's lock file, so that two processes never write one tree.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit tree: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit tree %s is in use by another process: %w", dir, err)
	}
	return f, nil
}
