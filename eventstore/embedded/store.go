// Package embedded is freezeledger's default event store, implementing eventstore.Store in a data
// directory holding one bbolt file (events.db, the checkpointed log) and write-ahead log segments
// (wal-<first position>, the records not yet checkpointed).
//
// Durability: an append is acknowledged only after its records are written to the write-ahead log
// and synced (one fdatasync; see wal.go). Concurrent appends are group-committed: one committer
// goroutine takes every append waiting and writes them with one write and one sync, so throughput
// grows with the number of writers. Each append in a batch is checked on its own (a wrong
// expectation fails only that append). Checkpoints copy the logged records into bbolt (synced
// transactions of checkpointChunk records, in a goroutine of their own) every checkpointEvents
// events, checkpointBytes bytes or checkpointInterval; the WAL segment is then removed.
//
// Tamper evidence: every record carries a SHA-256 chain value (see encodeRecord's format comment in
// record.go); Verify walks the whole chain, Open checks the tail. Nothing is ever repaired silently
// (the one cut Open makes, a torn WAL frame that was never acknowledged, keeps a .broken copy and is
// logged; see wal.go).
//
// Layout (bbolt buckets):
//
//	events  position (8 bytes BE) -> canonical record bytes || chain value
//	meta    "format" -> "1"; "head" -> last position (8 BE); "chain" -> chain value of the last record
//
// Positions are dense 1-based sequence numbers with Commit == Prepare, and ReadAll is a sequential
// cursor walk over the events bucket (filled to 100%, as its keys only grow). The per-stream index
// (revision -> position, event ID -> revision) lives in memory and is rebuilt by Open with one
// sequential scan, which also checks the log's structure (see index).
package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/freezeledger/freezeledger/eventstore"
)

// FileName is the name of the bbolt file inside the data directory.
const FileName = "events.db"

// Options configure Open. The zero value is a durable store with defaults.
type Options struct {
	// Logger receives warnings (slow syncs, failures). Nil discards them.
	Logger hclog.Logger
	// UnsafeNoSync skips fsync: appends are NOT durable. For tests only.
	UnsafeNoSync bool
	// LockTimeout is how long Open waits for the data directory's lock (default 100 ms) before failing
	// because another process holds it.
	LockTimeout time.Duration
	// SlowSync is the commit duration above which a warning is logged (default 100 ms).
	SlowSync time.Duration
	// Faults, if set, is consulted before each group commit (tests only); it wraps the store's file
	// seam (see FaultInjector).
	Faults FaultInjector
	// VerifyOnOpen makes Open run Verify's checks in the scan that rebuilds the index (the data
	// is read and parsed once; the chain links are hashed on GOMAXPROCS workers while the scan
	// goes on): every chain link, stream names, besides the structure, positions, revisions,
	// duplicate IDs and WAL rules Open always checks. Open then refuses a store with any break,
	// naming the first by position, as Verify would. One check is left to later, with or
	// without it: the IDs of a stream past its first 16 events are checked for repeats when the
	// stream's ID map is first needed (its first append after Open), which is refused then as
	// ErrCorrupt naming the repeat; Verify checks every ID. (Filling a map per big stream was
	// the costliest part of Open: a cache miss per event.) Without VerifyOnOpen, Open checks the
	// structure and only the last chain link; call Verify for the rest.
	VerifyOnOpen bool
}

// initialMmapSize is bbolt's first memory map: large, so that reads rarely hold up a checkpoint's
// remap. A variable so that tests opening many small stores can map less (the race detector's work
// grows with the mapping).
var initialMmapSize = 1 << 30

// Group commit bounds: one batch takes at most this many appends or bytes of events.
const (
	maxBatchAppends = 4096
	maxBatchBytes   = 8 << 20
)

var (
	bucketEvents  = []byte("events")
	bucketMeta    = []byte("meta")
	buckets       = [][]byte{bucketEvents, bucketMeta}
	keyFormat     = []byte("format")
	keyHead       = []byte("head")
	keyChain      = []byte("chain")
	formatVersion = []byte("1")
)

// Store is the embedded event store. It implements eventstore.Store; all methods are safe for
// concurrent use.
type Store struct {
	db     *bolt.DB
	fs     fileSystem // the WAL's and the checkpointer's files (fs.go)
	dir    string
	path   string
	log    hclog.Logger
	opts   Options
	reqs   chan *appendReq
	done   chan struct{} // closed when the committer has exited
	closed chan struct{} // closed by Close

	mu       sync.RWMutex // guards isClosed against sends on reqs
	isClosed bool

	closeOnce sync.Once
	closeErr  error

	// committer state, touched only by the committer goroutine (and Open before it starts)
	head         uint64
	chain        [ChainSize]byte
	failed       error
	wal          walFile // current WAL segment
	unhanded     int     // records in the WAL not yet handed to a checkpoint
	pendingBytes int     // their bytes

	// tail holds the records that are in the WAL but not yet in bbolt
	tail tailState

	// published state: what readers, subscribers and Head see
	idx     *index
	pubHead atomic.Uint64
	recent  recentEvents
}

var _ eventstore.Store = (*Store)(nil)

// Open opens (creating if needed) the store in directory dir. It fails fast if another process (or
// another Store in this process) holds the directory, and refuses, with an error wrapping
// eventstore.ErrCorrupt that names what is wrong, a store whose meta data and chain tail disagree.
func Open(dir string, opts Options) (*Store, error) {
	return openFS(dir, opts, osFS{})
}

// openFS is Open with the WAL's and the checkpointer's files in fsys.
func openFS(dir string, opts Options, fsys fileSystem) (*Store, error) {
	if opts.Faults != nil {
		fsys = faultFS{fsys, opts.Faults}
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 100 * time.Millisecond
	}
	if opts.SlowSync <= 0 {
		opts.SlowSync = 100 * time.Millisecond
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	if err := checkNotTruncated(path, opts.LockTimeout); err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("embedded store: %s is locked by another process or store (is another freezeledger using the same data directory?)", path)
		}
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:    opts.LockTimeout,
		NoSync:     opts.UnsafeNoSync,
		NoGrowSync: opts.UnsafeNoSync,
		// The free list is written with each commit (a page or two: the events bucket only
		// grows, so few pages are ever free), so Open reads it instead of rebuilding it by
		// walking and checking every page of the file (4 s at 15 M events). A file last
		// written without it (NoFreelistSync) is walked once and then has one.
		NoFreelistSync:  false,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: initialMmapSize,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("embedded store: %s is locked by another process or store (is another freezeledger using the same data directory?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded store: open %s: %w", path, err)
	}
	s := &Store{
		db:     db,
		fs:     fsys,
		dir:    dir,
		path:   path,
		log:    opts.Logger.Named("eventstore"),
		opts:   opts,
		reqs:   make(chan *appendReq, maxBatchAppends),
		done:   make(chan struct{}),
		closed: make(chan struct{}),
		idx:    newIndex(),
	}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.recover(); err != nil {
		db.Close()
		return nil, err
	}
	s.pubHead.Store(s.head)
	s.recent.init(s.head)
	go s.committer()
	return s, nil
}

// checkNotTruncated refuses a file shorter than its own meta page says it is (a truncated copy, a
// file cut by a full disk): opened read-write, bbolt would read the missing pages through its memory
// map and the process would die of SIGBUS instead of refusing. It opens the file read-only, which
// reads only the meta pages.
func checkNotTruncated(path string, timeout time.Duration) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() == 0 {
		return nil // absent or new: bolt.Open creates it (and reports its own errors)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return err
		}
		return fmt.Errorf("%w: %s: %v (refusing to open; nothing was changed)", eventstore.ErrCorrupt, path, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		if need := tx.Size(); need > fi.Size() {
			return fmt.Errorf("%w: %s: the file is %d bytes but its pages reach byte %d: it was truncated (refusing to open; nothing was changed)",
				eventstore.ErrCorrupt, path, fi.Size(), need)
		}
		return nil
	})
}

// init creates the buckets of a new store, or runs the cheap checks on an existing one and loads
// its head and chain tail.
func (s *Store) init() error {
	fresh := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil && tx.Bucket(bucketEvents) == nil {
			fresh = true
			return nil
		}
		// Without VerifyOnOpen, the cheap tail checks come first. With it, a break in the middle
		// is reported before one at the tail (the first break by position, as Verify does).
		head, chain, tailErr := checkTail(tx)
		if tailErr != nil && (!s.opts.VerifyOnOpen || !hasBuckets(tx)) {
			return s.corrupt("%s", tailErr)
		}
		verify := s.opts.VerifyOnOpen
		last, _, err := scanLog(context.Background(), tx, s.idx, scanOptions{chain: verify, names: verify})
		if err != nil {
			return s.corrupt("%s", err)
		}
		if tailErr != nil {
			return s.corrupt("%s", tailErr)
		}
		if last != head {
			return s.corrupt("meta head is position %d but the records end at position %d", head, last)
		}
		s.head, s.chain = head, chain
		return nil
	})
	if err != nil || !fresh {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range buckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return fmt.Errorf("embedded store: create bucket %s in %s: %w", name, s.path, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		var zero [ChainSize]byte
		if err := meta.Put(keyFormat, formatVersion); err != nil {
			return err
		}
		if err := meta.Put(keyHead, be64(0)); err != nil {
			return err
		}
		return meta.Put(keyChain, zero[:])
	})
}

// tailState is the part of the log that is in the WAL but not yet in bbolt: values[i] is the stored
// value of the record at position ckpt+1+i. The committer appends and trims it under mu; readers
// take a snapshot (ckpt and the slice header) under mu.RLock. Values are never modified.
type tailState struct {
	mu     sync.RWMutex
	ckpt   uint64
	values [][]byte
}

func (t *tailState) snapshot() (uint64, [][]byte) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.ckpt, t.values
}

// recover replays the WAL after bbolt's head into bbolt, then starts a new segment.
func (s *Store) recover() error {
	r, err := replayWAL(s.fs, s.dir, s.head, s.chain)
	if err != nil {
		return s.corrupt("%s", err)
	}
	// The replayed records must fit the index too (revisions in sequence, no repeated ID).
	for i, v := range r.values {
		rec, _ := parseRecord(v)
		if s.opts.VerifyOnOpen && s.idx.streams[string(rec.stream)] == nil {
			if err := eventstore.ValidateStreamName(string(rec.stream)); err != nil {
				return s.corrupt("WAL record at position %d (%d of %d replayed): %s", rec.pos, i+1, len(r.values), err)
			}
		}
		if err := s.idx.stream(rec.stream).add(rec.stream, rec.id, rec.rev, rec.pos, false); err != nil {
			return s.corrupt("WAL record at position %d (%d of %d replayed): %s", rec.pos, i+1, len(r.values), err)
		}
	}
	if r.torn != "" {
		s.log.Warn("WAL ends with an incomplete or invalid frame, which was never acknowledged; the log ends before it, the segment is kept as .broken",
			"where", r.torn, "dir", s.dir)
	}
	if len(r.values) > 0 {
		if err := s.putRecords(s.head, r.values, r.chain); err != nil {
			return fmt.Errorf("embedded store: checkpoint of the WAL replay into %s: %w", s.path, err)
		}
		s.log.Info("replayed WAL", "records", len(r.values), "from", s.head+1, "to", r.head)
		s.head, s.chain = r.head, r.chain
	}
	for _, name := range r.names {
		p := filepath.Join(s.dir, name)
		if name == r.tornIn {
			if err := s.fs.Rename(p, p+".broken"); err != nil {
				return fmt.Errorf("embedded store: keep torn WAL segment: %w", err)
			}
			continue
		}
		if err := s.fs.Remove(p); err != nil {
			return fmt.Errorf("embedded store: remove checkpointed WAL segment: %w", err)
		}
	}
	f, err := createSegment(s.fs, s.dir, s.head+1, s.opts.UnsafeNoSync)
	if err != nil {
		return fmt.Errorf("embedded store: create WAL segment in %s: %w", s.dir, err)
	}
	s.wal = f
	s.tail.ckpt = s.head
	return nil
}

// putRecords writes values, the records after position after, into bbolt with the meta head and
// chain value, in one synced transaction.
func (s *Store) putRecords(after uint64, values [][]byte, chain [ChainSize]byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		events.FillPercent = 1.0
		for i, v := range values {
			if err := events.Put(be64(after+1+uint64(i)), v); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyHead, be64(after+uint64(len(values)))); err != nil {
			return err
		}
		return meta.Put(keyChain, chain[:])
	})
}

func (s *Store) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s (refusing to open; nothing was changed)", eventstore.ErrCorrupt, s.path, fmt.Sprintf(format, args...))
}

func hasBuckets(tx *bolt.Tx) bool {
	for _, name := range buckets {
		if tx.Bucket(name) == nil {
			return false
		}
	}
	return true
}

// checkTail runs Open's cheap checks: every bucket is there, the format is known, the meta head is
// the last record's position, the last record's chain link holds, and the meta chain value is the
// last record's.
func checkTail(tx *bolt.Tx) (uint64, [ChainSize]byte, error) {
	var chain [ChainSize]byte
	for _, name := range buckets {
		if tx.Bucket(name) == nil {
			return 0, chain, fmt.Errorf("bucket %s is missing", name)
		}
	}
	meta := tx.Bucket(bucketMeta)
	if f := meta.Get(keyFormat); string(f) != string(formatVersion) {
		return 0, chain, fmt.Errorf("meta format is %q, this build reads %q", f, formatVersion)
	}
	hv, cv := meta.Get(keyHead), meta.Get(keyChain)
	if len(hv) != 8 || len(cv) != ChainSize {
		return 0, chain, fmt.Errorf("meta head (%d bytes) or chain (%d bytes) has the wrong size", len(hv), len(cv))
	}
	head := binary.BigEndian.Uint64(hv)
	copy(chain[:], cv)
	c := tx.Bucket(bucketEvents).Cursor()
	k, v := c.Last()
	if k == nil {
		if head != 0 {
			return 0, chain, fmt.Errorf("meta head is position %d but there are no records", head)
		}
		if chain != ([ChainSize]byte{}) {
			return 0, chain, fmt.Errorf("meta chain value is not zero but there are no records")
		}
		return 0, chain, nil
	}
	last := binary.BigEndian.Uint64(k)
	if last != head {
		return 0, chain, fmt.Errorf("meta head is position %d but the last record is at position %d", head, last)
	}
	r, err := parseRecord(v)
	if err != nil {
		return 0, chain, fmt.Errorf("record at position %d: %s", last, err)
	}
	if r.pos != last {
		return 0, chain, fmt.Errorf("record stored at position %d says position %d", last, r.pos)
	}
	var prev [ChainSize]byte
	if pk, pv := c.Prev(); pk != nil {
		pr, err := parseRecord(pv)
		if err != nil {
			return 0, chain, fmt.Errorf("record at position %d: %s", binary.BigEndian.Uint64(pk), err)
		}
		copy(prev[:], pr.chain)
	} else if last != 1 {
		return 0, chain, fmt.Errorf("the only record is at position %d, not 1", last)
	}
	if want := chainNext(&prev, r.canonical); string(want[:]) != string(r.chain) {
		return 0, chain, fmt.Errorf("chain breaks at position %d: stored chain value %x, computed %x", last, r.chain, want)
	}
	if string(r.chain) != string(chain[:]) {
		return 0, chain, fmt.Errorf("meta chain value %x differs from the last record's (position %d) %x", chain, last, r.chain)
	}
	return head, chain, nil
}

func be64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// Head returns the position of the last committed event (eventstore.Start if the store is empty).
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := s.usable(ctx); err != nil {
		return eventstore.Position{}, err
	}
	h := s.pubHead.Load()
	return eventstore.Position{Commit: h, Prepare: h}, nil
}

func (s *Store) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-s.closed:
		return eventstore.ErrClosed
	default:
		return nil
	}
}

// Close stops accepting appends, waits for the appends already accepted to finish, ends the
// subscriptions (their Next returns ErrClosed) and closes the file, releasing the directory's lock.
// Further calls return ErrClosed; Close itself is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.isClosed = true
		close(s.closed)
		s.mu.Unlock()
		close(s.reqs)
		<-s.done
		if s.wal != nil {
			s.wal.Close()
		}
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("embedded store: close %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// readErr maps bbolt's errors after Close to ErrClosed.
func readErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return eventstore.ErrClosed
	}
	return err
}
