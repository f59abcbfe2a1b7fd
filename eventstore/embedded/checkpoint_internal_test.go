package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	bolt "go.etcd.io/bbolt"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/storetest"
)

// frequentCheckpoints makes checkpoints run every few batches for the duration of the test.
func frequentCheckpoints(t *testing.T) {
	events, size, chunk := checkpointEvents, checkpointBytes, checkpointChunk
	checkpointEvents, checkpointBytes, checkpointChunk = 50, 64<<10, 7
	t.Cleanup(func() { checkpointEvents, checkpointBytes, checkpointChunk = events, size, chunk })
}

func testEvent(i int) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: "test.event", Data: []byte(fmt.Sprintf(`{"i":%d}`, i))}
}

// TestConformanceFrequentCheckpoints runs the suite with checkpoints moving records from the WAL
// into bbolt while it appends and reads.
func TestConformanceFrequentCheckpoints(t *testing.T) {
	frequentCheckpoints(t)
	dirs := map[eventstore.Store]string{}
	open := func(t *testing.T, dir string) eventstore.Store {
		s, err := Open(dir, Options{UnsafeNoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		dirs[s] = dir
		return s
	}
	storetest.Run(t, storetest.Factory{
		New: func(t *testing.T) eventstore.Store { return open(t, t.TempDir()) },
		Reopen: func(t *testing.T, s eventstore.Store) eventstore.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, dirs[s])
		},
	})
}

// TestReadsAndVerifyAcrossCheckpoints: readers and Verify running while checkpoints move records
// see every record once, in order.
func TestReadsAndVerifyAcrossCheckpoints(t *testing.T) {
	frequentCheckpoints(t)
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const writers, appends = 4, 300
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < appends; i++ {
				if _, err := s.Append(ctx, fmt.Sprintf("c-%d", w), eventstore.Any, testEvent(i), testEvent(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		all, err := s.ReadAll(ctx, eventstore.Start, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range all {
			if e.Position.Commit != uint64(i+1) {
				t.Fatalf("read all: event %d at position %s", i, e.Position)
			}
		}
		evs, err := s.ReadStream(ctx, "c-0", eventstore.Backwards, eventstore.End, 0)
		if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Fatal(err)
		}
		for i, e := range evs {
			if e.Revision != uint64(len(evs)-1-i) {
				t.Fatalf("read stream backwards: event %d has revision %d", i, e.Revision)
			}
		}
		if err := s.Verify(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if h, _ := s.Head(ctx); h.Commit != writers*appends*2 {
		t.Fatalf("head = %s", h)
	}
}

func walSegments(t *testing.T, dir string) []string {
	t.Helper()
	names, err := segments(osFS{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// crashedStore leaves dir as a process killed after acknowledging n one-event appends before any
// checkpoint would: an empty bbolt store and a WAL segment holding the n records, three per frame.
func crashedStore(t *testing.T, dir string, n int) {
	t.Helper()
	s, err := Open(dir, Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var chain [ChainSize]byte
	var values [][]byte
	for i := 0; i < n; i++ {
		e := testEvent(i)
		var v []byte
		v, chain = encodeRecord(&chain, uint64(i+1), "crash", uint64(i), time.Now().UnixNano(), &e)
		values = append(values, v)
	}
	var buf []byte
	for i := 0; i < n; i += 3 {
		buf = append(buf, frame(values[i:min(i+3, n)])...)
	}
	if err := os.WriteFile(filepath.Join(dir, segmentName(1)), buf, 0o600); err != nil {
		t.Fatal(err)
	}
}

// openReplayed opens the store in dir (replaying its WAL), closed when the test ends, and checks
// that stream "crash" holds want events; it returns the store and those events.
func openReplayed(t *testing.T, dir string, want int) (*Store, []eventstore.RecordedEvent) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	evs, err := s.ReadStream(context.Background(), "crash", eventstore.Forwards, 0, 0)
	if err != nil || len(evs) != want {
		t.Fatalf("after replay the stream has %d events (%v), want %d", len(evs), err, want)
	}
	return s, evs
}

func TestWALReplay(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	crashedStore(t, dir, 20)
	if got := walSegments(t, dir); len(got) != 1 {
		t.Fatalf("WAL segments %v, want one", got)
	}
	s, _ := openReplayed(t, dir, 20)
	if err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWALTornTailIsCutAndKept(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	crashedStore(t, dir, 10)
	seg := filepath.Join(dir, walSegments(t, dir)[0])
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// A frame whose write was cut short: the length says more than is there.
	torn := append(append([]byte(nil), data...), frame([][]byte{bytes.Repeat([]byte{1}, 100)})[:50]...)
	if err := os.WriteFile(seg, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s, err := Open(dir, Options{Logger: hclog.New(&hclog.LoggerOptions{Output: &logs})})
	if err != nil {
		t.Fatalf("open with a torn WAL tail: %v", err)
	}
	defer s.Close()
	if !strings.Contains(logs.String(), "WAL ends with an incomplete or invalid frame") || !strings.Contains(logs.String(), "runs past the end of the file") {
		t.Fatalf("no warning naming the torn tail:\n%s", logs.String())
	}
	if _, err := os.Stat(seg + ".broken"); err != nil {
		t.Fatalf("the torn segment was not kept: %v", err)
	}
	if h, _ := s.Head(ctx); h.Commit != 10 {
		t.Fatalf("head after the torn tail = %s, want 10", h)
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWALDamageBeforeTheTailRefusesOpen(t *testing.T) {
	dir := t.TempDir()
	crashedStore(t, dir, 10)
	first := filepath.Join(dir, walSegments(t, dir)[0])
	data, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(`{"i":3}`))
	data[i+5] ^= 1 // a record's data changed: its chain value no longer holds
	if err := os.WriteFile(first, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// A later segment makes the damaged one not the last: damage there is not a torn tail.
	later, err := createSegment(osFS{}, dir, 11, true)
	if err != nil {
		t.Fatal(err)
	}
	later.Close()
	_, err = Open(dir, Options{})
	if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), "does not continue the chain") || !strings.Contains(err.Error(), filepath.Base(first)) {
		t.Fatalf("open with a damaged WAL segment: %v; want ErrCorrupt naming the segment and the chain", err)
	}
}

// TestWALDamagedFrameLengthRefusesOpen: a frame length made larger, so that the frame seems to run
// past the end of the last segment, is damage, not a torn write: the frames after it (acknowledged)
// are not cut. Found by TestPowerLoss.
func TestWALDamagedFrameLengthRefusesOpen(t *testing.T) {
	dir := t.TempDir()
	crashedStore(t, dir, 10) // frames of records 1-3, 4-6, 7-9, 10
	seg := filepath.Join(dir, walSegments(t, dir)[0])
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	second := 4 + int(binary.BigEndian.Uint32(data))
	data[second] ^= 0x40 // the second frame's length, now some 1 GiB
	if err := os.WriteFile(seg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{})
	want := fmt.Sprintf("WAL segment %s at offset %d: frame of", filepath.Base(seg), second)
	if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "damage, not a torn write") {
		t.Fatalf("open with a damaged frame length: %v; want ErrCorrupt with %q and damage, not a torn write", err, want)
	}
	if _, err := os.Stat(seg + ".broken"); err == nil {
		t.Fatal("the damaged segment was cut as a torn tail")
	}
}

// TestWALReplayAfterPartialCheckpoint: a crash between two checkpoint transactions leaves bbolt's
// head inside a WAL frame; Open replays the rest of that frame and the frames after it.
func TestWALReplayAfterPartialCheckpoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	crashedStore(t, dir, 20) // frames of records 1-3, 4-6, ...
	data, err := os.ReadFile(filepath.Join(dir, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	var zero [ChainSize]byte
	r, err := replayWAL(osFS{}, dir, 0, zero)
	if err != nil || len(r.values) != 20 || r.torn != "" {
		t.Fatalf("replay of the intact WAL: %d records, torn %q, %v", len(r.values), r.torn, err)
	}
	// Checkpoint records 1-5 into bbolt by hand, as the first chunk of a checkpoint would.
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{dir: dir, db: db}
	var chain [ChainSize]byte
	copy(chain[:], r.values[4][len(r.values[4])-ChainSize:])
	if err := s.putRecords(0, r.values[:5], chain); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o600); err != nil {
		t.Fatal(err)
	}
	st, evs := openReplayed(t, dir, 20)
	for i, e := range evs {
		if e.Revision != uint64(i) || e.Position.Commit != uint64(i+1) {
			t.Fatalf("event %d: revision %d at %s", i, e.Revision, e.Position)
		}
	}
	if err := st.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
