package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/eventstore"
)

var (
	powerLossStates  = flag.Int("powerloss.states", 1200, "crash states TestPowerLoss checks, sampled from those it makes (0: all of them, with a tear at every byte; give -timeout=0); TestPowerLossUnsynced checks a third as many")
	powerLossAppends = flag.Int("powerloss.appends", 40, "appends per writer in the power-loss tests")
	powerLossSeed    = flag.Uint64("powerloss.seed", 0, "the power-loss tests' random seed (0: from the clock)")
)

// TestPowerLoss appends durably from several goroutines (group commits, WAL rotations and
// checkpoints every 50 events) with the WAL in a memFS that records every write and sync, then, at
// every point between two file operations, makes the states a power cut there could leave
// (crashModel.variants: unsynced writes dropped or kept, the last write torn after any byte or kept
// with zeros after it, subsets of unsynced writes, directory changes since the last directory sync
// undone in part or whole) and reopens the store on each, with VerifyOnOpen. It checks that every acknowledged append is there
// (same IDs, same positions), that the log ends at the end of a frame (a group commit is there whole
// or not at all; nothing of an unacknowledged append is half there), that it holds nothing but what
// was written, and that the chain verifies. A state with zeros in the middle of a file (a dropped
// write before a kept one) may instead be refused, naming the segment and offset. A few states with a
// byte changed in a synced frame that another synced frame follows must be refused, naming the
// segment and an offset inside that frame.
//
// bbolt's events.db is outside the seam: the test snapshots it (with the real file system) at each
// Close of a WAL segment, which the checkpointer does after the bbolt transactions of that segment's
// records have committed and synced and before it removes the segment; a crash state uses the last
// snapshot before its point. Between a checkpoint's start and that Close the state is thus "no
// transaction of the checkpoint durable yet", one of the states a power cut can leave (a cut between
// two of its transactions is TestWALReplayAfterPartialCheckpoint).
//
// -powerloss.states=0 checks every state made, with tears at every byte; -powerloss.appends makes
// the run longer.
func TestPowerLoss(t *testing.T) {
	frequentCheckpoints(t)
	runPowerLoss(t, false, *powerLossStates)
}

// TestPowerLossUnsynced is TestPowerLoss with UnsafeNoSync and no checkpoints: every write stays
// unsynced, so the states include every prefix and random subsets of many writes to one segment.
// Nothing is promised durable; the open must still give a log of whole frames as written, or refuse,
// naming segment and offset, a state with zeros before kept data.
func TestPowerLossUnsynced(t *testing.T) {
	events, size, interval := checkpointEvents, checkpointBytes, checkpointInterval
	checkpointEvents, checkpointBytes, checkpointInterval = 1<<30, 1<<30, time.Hour
	t.Cleanup(func() { checkpointEvents, checkpointBytes, checkpointInterval = events, size, interval })
	runPowerLoss(t, true, *powerLossStates/3)
}

// powerLossAck is an acknowledged append: its events, the position of its last, and the number
// of file operations recorded when Append returned (a crash at or after that point must keep it).
type powerLossAck struct {
	stream string
	rev    uint64
	ids    []uuid.UUID
	last   uint64
	op     int
}

// powerLossPoint is a crash state with what the open must find: a log ending at a frame's end
// between minHead and maxHead.
type powerLossPoint struct {
	st               crashState
	at               int // the power is cut after ops[:at]
	minHead, maxHead uint64
}

func runPowerLoss(t *testing.T, unsafeNoSync bool, states int) {
	mmap := initialMmapSize
	initialMmapSize = 0 // every check opens a store: small maps keep that fast under -race
	t.Cleanup(func() { initialMmapSize = mmap })
	seed := *powerLossSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-powerloss.seed=%d repeats the sampling; the group commits may differ)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	ctx := context.Background()

	dir := t.TempDir()
	fsys := newMemFS(dir, nil)
	s, err := openFS(dir, Options{UnsafeNoSync: unsafeNoSync}, fsys)
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, FileName)
	snapshot := func() []byte {
		b, err := os.ReadFile(dbPath)
		if err != nil {
			panic(err) // in the checkpointer, under memFS's lock
		}
		return b
	}
	model := fsys.startRecording(snapshot)
	model.snap = snapshot()
	acks := powerLossAppend(t, s, fsys)
	ops := fsys.stopRecording()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		return
	}

	// What was written: each write is one group commit's frame.
	written := map[uint64]rawRecord{}
	ends := map[uint64]bool{0: true}
	frames, grouped := 0, 0
	for _, op := range ops {
		if op.kind != opWrite {
			continue
		}
		frames++
		streams := map[string]bool{}
		for off := 4; off < len(op.data); {
			n := int(binary.BigEndian.Uint32(op.data[off:]))
			rec, err := parseRecord(op.data[off+4 : off+4+n])
			if err != nil {
				t.Fatalf("a frame the store wrote: %v", err)
			}
			written[rec.pos] = rec
			streams[string(rec.stream)] = true
			off += 4 + n
		}
		if len(streams) > 1 {
			grouped++
		}
		ends[frameLastPosition(op.data)] = true
	}

	tears := 2
	if states == 0 {
		tears = -1
	}
	var points, damaged []powerLossPoint
	maxUnsynced := 0
	for at := 0; at <= len(ops); at++ {
		var minHead uint64
		if !unsafeNoSync {
			minHead = model.syncedHead
			for _, a := range acks {
				if a.op <= at {
					minHead = max(minHead, a.last)
				}
			}
		}
		for _, ino := range model.reachable() {
			maxUnsynced = max(maxUnsynced, len(model.inodes[ino].pending))
		}
		for _, st := range model.variants(rng, tears) {
			points = append(points, powerLossPoint{st, at, minHead, model.head})
		}
		if at%20 == 0 || at == len(ops) {
			if st, ok := model.damaged(rng); ok {
				damaged = append(damaged, powerLossPoint{st, at, minHead, model.head})
			}
		}
		if at < len(ops) {
			model.apply(ops[at])
		}
	}
	made := len(points)
	if states > 0 && len(points) > states {
		rng.Shuffle(len(points), func(i, j int) { points[i], points[j] = points[j], points[i] })
		points = points[:states]
	}

	checkDir := t.TempDir()
	failures, refused := 0, 0
	for _, p := range append(points, damaged...) {
		ok, err := checkPowerLossState(ctx, checkDir, p, written, ends)
		if err != nil {
			failures++
			t.Errorf("power cut after %d of %d file operations, %s: %v", p.at, len(ops), p.st.what, err)
			if failures >= 5 {
				t.FailNow()
			}
		}
		if ok && p.st.damage == nil {
			refused++
		}
	}
	t.Logf("%d appends (%d events) in %d frames (%d holding several writers' appends), %d file operations, at most %d unsynced writes to a file: %d crash states made, %d checked (%d refused for zeros before kept data), and %d with a changed byte, all refused",
		len(acks), len(written), frames, grouped, len(ops), maxUnsynced, made, len(points), refused, len(damaged))
}

// powerLossAppend appends from several writers, each to its own stream, and returns the
// acknowledged appends.
func powerLossAppend(t *testing.T, s *Store, fsys *memFS) []powerLossAck {
	t.Helper()
	const writers = 4
	var mu sync.Mutex
	var acks []powerLossAck
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("power-%d", w)
			exp := eventstore.NoStream
			for i := range *powerLossAppends {
				evs := make([]eventstore.EventData, 1+(i+w)%3)
				ids := make([]uuid.UUID, len(evs))
				for j := range evs {
					evs[j] = testEvent(i)
					ids[j] = evs[j].ID
				}
				res, err := s.Append(context.Background(), stream, exp, evs...)
				if err != nil {
					t.Error(err)
					return
				}
				op := fsys.opCount()
				mu.Lock()
				acks = append(acks, powerLossAck{stream: stream, rev: res.NextRevision + 1 - uint64(len(evs)), ids: ids, last: res.Position.Commit, op: op})
				mu.Unlock()
				exp = eventstore.Exact(res.NextRevision)
			}
		}()
	}
	wg.Wait()
	return acks
}

var walOffset = regexp.MustCompile(`WAL segment (wal-\d+) at offset (\d+)`)

// checkPowerLossState opens the store on p's state and checks it (see TestPowerLoss). It reports
// whether the open was refused, as it may or must be.
func checkPowerLossState(ctx context.Context, dir string, p powerLossPoint, written map[uint64]rawRecord, ends map[uint64]bool) (refused bool, err error) {
	st := p.st
	// Rewritten in place: truncating or removing a file with data makes ext4 flush it (auto_da_alloc).
	f, err := os.OpenFile(filepath.Join(dir, FileName), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return false, err
	}
	_, err = f.WriteAt(st.snap, 0)
	if err == nil {
		err = f.Truncate(int64(len(st.snap)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	s, err := openFS(dir, Options{UnsafeNoSync: true, VerifyOnOpen: true}, newMemFS(dir, st.files))
	if err != nil {
		if !errors.Is(err, eventstore.ErrCorrupt) {
			return false, fmt.Errorf("open failed: %w", err)
		}
		m := walOffset.FindStringSubmatch(err.Error())
		switch {
		case st.damage != nil:
			if m == nil || m[1] != st.damage.segment {
				return false, fmt.Errorf("open refused the changed byte without naming segment %s and an offset: %v", st.damage.segment, err)
			}
			if off, _ := strconv.Atoi(m[2]); off < st.damage.from || off >= st.damage.to {
				return false, fmt.Errorf("open refused the changed byte naming offset %d, outside the changed frame [%d, %d): %v", off, st.damage.from, st.damage.to, err)
			}
			return true, nil
		case st.holes:
			if m == nil {
				return false, fmt.Errorf("open refused without naming a segment and an offset: %v", err)
			}
			return true, nil
		}
		return false, fmt.Errorf("open refused a state a power cut can leave (no write lost before a kept one): %v", err)
	}
	defer s.Close()
	if st.damage != nil {
		return false, fmt.Errorf("open accepted a store with a byte changed in a synced frame followed by another (damage silently accepted)")
	}
	all, err := s.ReadAll(ctx, eventstore.Start, 0)
	if err != nil {
		return false, err
	}
	h := uint64(len(all))
	switch {
	case h < p.minHead:
		return false, fmt.Errorf("the log ends at position %d, but position %d was acknowledged or synced (acknowledged data lost)", h, p.minHead)
	case h > p.maxHead:
		return false, fmt.Errorf("the log ends at position %d, after the last position written, %d", h, p.maxHead)
	case !ends[h]:
		return false, fmt.Errorf("the log ends at position %d, inside a frame (half a group commit)", h)
	}
	for i, e := range all {
		w := written[uint64(i+1)]
		if e.Position.Commit != uint64(i+1) || e.ID != w.id || e.Stream != string(w.stream) || e.Revision != w.rev {
			return false, fmt.Errorf("event %d is %s %s@%d at %s, written was %s %s@%d", i, e.ID, e.Stream, e.Revision, e.Position, w.id, w.stream, w.rev)
		}
	}
	return false, s.Verify(ctx)
}
