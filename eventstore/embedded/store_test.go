package embedded_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	bolt "go.etcd.io/bbolt"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

func open(t *testing.T, dir string, opts embedded.Options) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func event(i int) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: "test.event", Data: []byte(fmt.Sprintf(`{"i":%d}`, i))}
}

// fill appends n events over a few streams, one or two per append.
func fill(t *testing.T, s *embedded.Store, n int) {
	t.Helper()
	for i := 0; i < n; {
		k := min(1+i%2, n-i)
		evs := make([]eventstore.EventData, k)
		for j := range evs {
			evs[j] = event(i + j)
		}
		if _, err := s.Append(context.Background(), fmt.Sprintf("stream-%d", i%3), eventstore.Any, evs...); err != nil {
			t.Fatal(err)
		}
		i += k
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, embedded.Options{UnsafeNoSync: true})
	_, err := embedded.Open(dir, embedded.Options{UnsafeNoSync: true})
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open of the same directory: %v, want a lock error", err)
	}
}

const lockChildEnv = "FREEZELEDGER_TEST_LOCK_DIR"

// TestLockChild is the child of TestSecondProcessIsLockedOut: it tries to open the directory.
func TestLockChild(t *testing.T) {
	dir := os.Getenv(lockChildEnv)
	if dir == "" {
		t.Skip("child process of TestSecondProcessIsLockedOut")
	}
	s, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		fmt.Println("OPEN FAILED:", err)
		return
	}
	s.Close()
	fmt.Println("OPENED")
}

func TestSecondProcessIsLockedOut(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, embedded.Options{})
	fill(t, s, 3)
	child := func() string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := child(); !strings.Contains(out, "OPEN FAILED") || !strings.Contains(out, "locked by another process") {
		t.Fatalf("a second process opened a locked store:\n%s", out)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if out := child(); !strings.Contains(out, "OPENED") {
		t.Fatalf("a second process could not open the store after Close:\n%s", out)
	}
}

// tamper closes nothing: it opens the bbolt file of a closed store directly and runs fn.
func tamper(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, embedded.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func key(pos uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, pos)
	return k
}

// alterData flips a byte of the data of the record at pos (leaving its chain value).
func alterData(pos uint64) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("events"))
		v := append([]byte(nil), b.Get(key(pos))...)
		i := bytes.Index(v, []byte(`{"i":`))
		v[i+5] ^= 1
		return b.Put(key(pos), v)
	}
}

func TestVerifyAndOpenDetectTampering(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name       string
		change     func(tx *bolt.Tx) error
		openErr    string // refused by Open's cheap checks, naming this
		verifyErr  string // else found by Verify, naming this
		atPosition string
		onOpen     string // refused by Open with VerifyOnOpen, naming this (the first break by position)
	}{
		{name: "DataAltered", change: alterData(5), verifyErr: "chain breaks", atPosition: "position 5:", onOpen: "position 5: chain breaks"},
		{name: "RecordRemoved", change: func(tx *bolt.Tx) error { return tx.Bucket([]byte("events")).Delete(key(7)) }, openErr: "position 7: record missing", onOpen: "position 7: record missing"},
		{name: "RevisionAltered", change: func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("events"))
			v := append([]byte(nil), b.Get(key(4))...)
			binary.BigEndian.PutUint64(v[25:], 9)
			return b.Put(key(4), v)
		}, openErr: "position 4: stream \"stream-0\" revision 9 where revision 1 was next", onOpen: "position 4: chain breaks"},
		{name: "LastRecordAltered", change: alterData(10), openErr: "chain breaks at position 10", onOpen: "position 10: chain breaks"},
		{name: "LastRecordRemoved", change: func(tx *bolt.Tx) error { return tx.Bucket([]byte("events")).Delete(key(10)) }, openErr: "meta head is position 10 but the last record is at position 9", onOpen: "meta head is position 10 but the last record is at position 9"},
		{name: "MetaChainAltered", change: func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("chain"), bytes.Repeat([]byte{7}, 32))
		}, openErr: "meta chain value", onOpen: "meta chain value"},
		{name: "BucketDropped", change: func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("events")) }, openErr: "bucket events is missing", onOpen: "bucket events is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := embedded.Open(dir, embedded.Options{UnsafeNoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			fill(t, s, 10)
			if err := s.Verify(ctx); err != nil {
				t.Fatalf("Verify of an intact store: %v", err)
			}
			s.Close()
			tamper(t, dir, c.change)
			if vs, err := embedded.Open(dir, embedded.Options{UnsafeNoSync: true, VerifyOnOpen: true}); err == nil {
				vs.Close()
				t.Fatalf("Open with VerifyOnOpen accepted a tampered store; want ErrCorrupt naming %q", c.onOpen)
			} else if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), c.onOpen) || !strings.Contains(err.Error(), embedded.FileName) {
				t.Fatalf("Open with VerifyOnOpen: %v; want ErrCorrupt naming the file and %q", err, c.onOpen)
			}
			s, err = embedded.Open(dir, embedded.Options{UnsafeNoSync: true})
			if c.openErr != "" {
				if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), c.openErr) || !strings.Contains(err.Error(), embedded.FileName) {
					t.Fatalf("Open of a tampered store: %v; want ErrCorrupt naming the file and %q", err, c.openErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v (the cheap checks should not see this change)", err)
			}
			defer s.Close()
			err = s.Verify(ctx)
			if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), c.verifyErr) || !strings.Contains(err.Error(), c.atPosition) {
				t.Fatalf("Verify: %v; want ErrCorrupt naming %q %q", err, c.atPosition, c.verifyErr)
			}
		})
	}
}

// TestFirstBreakByPosition: two records damaged far apart, in different chunks of the parallel
// chain check, and whichever worker finds its break first, Verify and Open with VerifyOnOpen both
// report the earlier one.
func TestFirstBreakByPosition(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := embedded.Open(dir, embedded.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6000 // several chunks of 1024 records for each worker
	fill(t, s, n)
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify of an intact store: %v", err)
	}
	s.Close()
	if s, err := embedded.Open(dir, embedded.Options{UnsafeNoSync: true, VerifyOnOpen: true}); err != nil {
		t.Fatalf("Open with VerifyOnOpen of an intact store: %v", err)
	} else {
		s.Close()
	}
	// The later break first, so that a check stopping at the first break it meets would name it.
	tamper(t, dir, alterData(5500))
	tamper(t, dir, alterData(1500))
	for round := 0; round < 3; round++ {
		_, err := embedded.Open(dir, embedded.Options{UnsafeNoSync: true, VerifyOnOpen: true})
		if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), "position 1500: chain breaks") {
			t.Fatalf("Open with VerifyOnOpen: %v; want ErrCorrupt naming position 1500: chain breaks", err)
		}
		s := open(t, dir, embedded.Options{UnsafeNoSync: true})
		err = s.Verify(ctx)
		if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), "position 1500: chain breaks") {
			t.Fatalf("Verify: %v; want ErrCorrupt naming position 1500: chain breaks", err)
		}
		s.Close()
	}
}

type faultAfter struct {
	mu    sync.Mutex
	fail  bool
	calls int
}

func (f *faultAfter) BeforeCommit(int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail {
		return errors.New("injected: no space left on device")
	}
	return nil
}

func TestInjectedCommitFault(t *testing.T) {
	ctx := context.Background()
	faults := &faultAfter{}
	s := open(t, t.TempDir(), embedded.Options{UnsafeNoSync: true, Faults: faults})
	if _, err := s.Append(ctx, "s", eventstore.NoStream, event(0)); err != nil {
		t.Fatal(err)
	}
	faults.mu.Lock()
	faults.fail = true
	faults.mu.Unlock()
	_, err := s.Append(ctx, "s", eventstore.Exact(0), event(1))
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("append during a fault: %v, want ErrUnavailable", err)
	}
	if h, _ := s.Head(ctx); h.Commit != 1 {
		t.Fatalf("head after a failed commit = %s, want 1", h)
	}
	faults.mu.Lock()
	faults.fail = false
	faults.mu.Unlock()
	res, err := s.Append(ctx, "s", eventstore.Exact(0), event(2))
	if err != nil || res.NextRevision != 1 || res.Position.Commit != 2 {
		t.Fatalf("append after the fault cleared = %+v, %v; want revision 1 at 2", res, err)
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSlowCommitIsLogged(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := hclog.New(&hclog.LoggerOptions{Output: &lockedWriter{w: &buf, mu: &mu}})
	s := open(t, t.TempDir(), embedded.Options{Logger: logger, SlowSync: 1}) // every commit is "slow"
	fill(t, s, 1)
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "slow commit") {
		t.Fatalf("log %q has no slow commit warning", buf.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestCloseWaitsForAppends: appends racing with Close either succeed, and are then on disk, or
// fail with ErrClosed.
func TestCloseWaitsForAppends(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const writers = 20
	var wg sync.WaitGroup
	acked := make(chan uuid.UUID, writers*10)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				ev := event(i)
				_, err := s.Append(ctx, fmt.Sprintf("w-%d", w), eventstore.Any, ev)
				if errors.Is(err, eventstore.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				acked <- ev.ID
			}
		}()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(acked)
	s = open(t, dir, embedded.Options{})
	all, err := s.ReadAll(ctx, eventstore.Start, 0)
	if err != nil {
		t.Fatal(err)
	}
	have := map[uuid.UUID]bool{}
	for _, e := range all {
		have[e.ID] = true
	}
	n := 0
	for id := range acked {
		n++
		if !have[id] {
			t.Fatalf("acknowledged event %s is missing after Close and reopen", id)
		}
	}
	if n != len(all) {
		t.Fatalf("%d events acknowledged, %d stored", n, len(all))
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAfterConcurrentAppends(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir(), embedded.Options{UnsafeNoSync: true})
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := s.Append(ctx, fmt.Sprintf("v-%d", w%5), eventstore.Any, event(i), event(i+1)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Head(ctx); h.Commit != 16*50*2 {
		t.Fatalf("head = %s, want %d", h, 16*50*2)
	}
}

// gate blocks the first commit until released.
type gate struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gate) BeforeCommit(int) error {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		<-g.release
	}
	return nil
}

// waitingCtx reports when Append starts waiting on Done, i.e. after it queued its request.
type waitingCtx struct {
	context.Context
	waiting chan struct{}
	once    sync.Once
}

func (c *waitingCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waiting) })
	return c.Context.Done()
}

// TestCancelledWhileQueued: an append whose context ends while it waits behind a commit returns
// the context's error and is not written later.
func TestCancelledWhileQueued(t *testing.T) {
	ctx := context.Background()
	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	s := open(t, t.TempDir(), embedded.Options{UnsafeNoSync: true, Faults: g})
	first := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "a", eventstore.NoStream, event(0))
		first <- err
	}()
	<-g.entered // the first append's commit is in progress and blocked
	inner, cancel := context.WithCancel(ctx)
	cctx := &waitingCtx{Context: inner, waiting: make(chan struct{})}
	second := make(chan error, 1)
	go func() {
		_, err := s.Append(cctx, "b", eventstore.NoStream, event(1))
		second <- err
	}()
	<-cctx.waiting // Append has queued its request and waits for the outcome
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("queued append with a cancelled context: %v, want context.Canceled", err)
	}
	close(g.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// A later append forces the queue through the committer.
	if _, err := s.Append(ctx, "a", eventstore.Exact(0), event(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadStream(ctx, "b", eventstore.Forwards, 0, 0); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("the cancelled append was written: %v", err)
	}
}

// TestSubscriberBehindTheTail: a subscription that starts further back than the in-memory tail of
// recent commits reads from the store, then hands over to the tail while writers run.
func TestSubscriberBehindTheTail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := embedded.Open(dir, embedded.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	write := func(s *embedded.Store, n int) {
		for i := 0; i < n; i += 100 {
			evs := make([]eventstore.EventData, 100)
			for j := range evs {
				evs[j] = event(i + j)
			}
			if _, err := s.Append(ctx, fmt.Sprintf("tail-%d", i%7), eventstore.Any, evs...); err != nil {
				t.Error(err)
				return
			}
		}
	}
	write(s, 5000)
	s.Close()
	s = open(t, dir, embedded.Options{UnsafeNoSync: true}) // the tail is empty after Open
	write(s, 12000)                                        // more than the tail keeps
	sub, err := s.SubscribeAll(ctx, eventstore.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); write(s, 3000) }()
	const total = 20000
	var next uint64 = 1
	for next <= total {
		evs, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Position.Commit != next {
				t.Fatalf("subscription delivered position %s, want %d", e.Position, next)
			}
			next++
		}
	}
	wg.Wait()
}
