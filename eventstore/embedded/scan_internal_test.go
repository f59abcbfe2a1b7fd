package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/freezeledger/freezeledger/eventstore"
)

// TestChainCheckerFirstBreakWithManyWorkers: with more workers than cores, batches finish in any
// order; the break reported is always the one at the lowest position.
func TestChainCheckerFirstBreakWithManyWorkers(t *testing.T) {
	const batches = 40
	var prev [ChainSize]byte
	values := make([][]byte, 0, batches*chainBatch)
	for i := range batches * chainBatch {
		v := []byte{byte(i), byte(i >> 8), byte(i >> 16)}
		c := chainNext(&prev, v)
		values = append(values, append(v, c[:]...))
		prev = c
	}
	first, second := uint64(3*chainBatch+17), uint64(33*chainBatch+5) // positions (1-based)
	values[second-1][0] ^= 1
	values[first-1][0] ^= 1
	for round := 0; round < 10; round++ {
		cc := newChainChecker(8)
		for i := 0; i < len(values); i += chainBatch {
			p := make([]byte, ChainSize)
			if i > 0 {
				p = values[i-1][len(values[i-1])-ChainSize:]
			}
			cc.submit(uint64(i+1), p, values[i:i+chainBatch])
		}
		e := cc.wait()
		if e == nil || e.pos != first || !strings.Contains(e.Error(), "chain breaks") {
			t.Fatalf("round %d: first break %v; want position %d", round, e, first)
		}
	}
}

// TestStreamIndexPastSmall: a stream's event IDs are found, and repeats refused, on both sides of
// the switch from a list to a map, whether revisions come one by one (Open's scan) or from a
// commit's batch.
func TestStreamIndexPastSmall(t *testing.T) {
	x := newIndex()
	si := x.stream([]byte("s"))
	ids := make([]uuid.UUID, 3*smallStream)
	for rev := range ids {
		ids[rev] = uuid.New()
		if err := si.add([]byte("s"), ids[rev], uint64(rev), uint64(rev+1), true); err != nil {
			t.Fatal(err)
		}
		for r := 0; r <= rev; r++ {
			if got, ok := si.revisionOf(ids[r]); !ok || got != uint64(r) {
				t.Fatalf("after %d events: revisionOf(ids[%d]) = %d, %v", rev+1, r, got, ok)
			}
		}
		if _, ok := si.revisionOf(uuid.New()); ok {
			t.Fatalf("after %d events: an unknown ID was found", rev+1)
		}
		if err := si.add([]byte("s"), ids[rev/2], uint64(rev+1), uint64(rev+2), true); err == nil || !strings.Contains(err.Error(), "event ID") {
			t.Fatalf("after %d events: a repeated ID was accepted: %v", rev+1, err)
		}
	}
}

// rechain rewrites the whole events bucket of the closed store in dir, applying edit to the
// canonical bytes of the record at each position and recomputing every chain value after it (and
// the meta chain value), so that only the checks other than the chain see the edits.
func rechain(t *testing.T, dir string, edit func(pos uint64, canonical []byte)) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		var prev [ChainSize]byte
		var vals [][]byte
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			vals = append(vals, append([]byte(nil), v...))
		}
		for i, v := range vals {
			pos := uint64(i + 1)
			canon := v[:len(v)-ChainSize]
			edit(pos, canon)
			prev = chainNext(&prev, canon)
			copy(v[len(v)-ChainSize:], prev[:])
			if err := b.Put(be64(pos), v); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyChain, prev[:])
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFirstBreakAcrossStages: the scan's indexer and its chain workers each find a break; the one
// at the lower position is reported, whichever stage found it.
func TestFirstBreakAcrossStages(t *testing.T) {
	ctx := context.Background()
	const n = 5000
	for _, c := range []struct {
		name          string
		revAt, flipAt uint64
		want          string
	}{
		{"IndexBreakFirst", 1200, 4000, "position 1200: stream"},
		{"ChainBreakFirst", 4000, 1200, "position 1200: chain breaks"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{UnsafeNoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i += 10 {
				evs := make([]eventstore.EventData, 10)
				for j := range evs {
					evs[j] = eventstore.EventData{ID: uuid.New(), Type: "t", Data: []byte(`{"a":1}`)}
				}
				if _, err := s.Append(ctx, fmt.Sprintf("s-%d", i%7), eventstore.Any, evs...); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			rechain(t, dir, func(pos uint64, canon []byte) {
				if pos == c.revAt {
					canon[25+7] ^= 0x40 // the stream revision, with the chain recomputed
				}
			})
			db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error { // a flipped byte, chain not recomputed
				b := tx.Bucket(bucketEvents)
				v := append([]byte(nil), b.Get(be64(c.flipAt))...)
				v[bytes.Index(v, []byte(`{"a":`))+5] ^= 1
				return b.Put(be64(c.flipAt), v)
			}); err != nil {
				t.Fatal(err)
			}
			db.Close()
			for round := 0; round < 3; round++ {
				_, err := Open(dir, Options{UnsafeNoSync: true, VerifyOnOpen: true})
				if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("Open with VerifyOnOpen: %v; want ErrCorrupt naming %q", err, c.want)
				}
			}
		})
	}
}

// TestRepeatedIDPastSmallStream: a log whose long stream repeats an event ID past its first
// smallStream events (the chain recomputed, so only the ID check sees it) opens, also with
// VerifyOnOpen, but the stream's first append is refused as corrupt, naming the ID, and so is every
// later one; Verify reports the repeat by position; a stream repeating an ID among its first events
// is refused by Open itself.
func TestRepeatedIDPastSmallStream(t *testing.T) {
	ctx := context.Background()
	const n = 3 * smallStream
	build := func(t *testing.T, dupRev int) (dir string, dupID uuid.UUID) {
		dir = t.TempDir()
		s, err := Open(dir, Options{UnsafeNoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]uuid.UUID, n)
		for rev := range ids {
			ids[rev] = uuid.New()
			ev := eventstore.EventData{ID: ids[rev], Type: "t", Data: []byte(`{"a":1}`)}
			if _, err := s.Append(ctx, "long", eventstore.Any, ev); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Append(ctx, fmt.Sprintf("short-%d", rev), eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: "t"}); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		dupID = ids[1]
		rechain(t, dir, func(pos uint64, canon []byte) {
			if pos == uint64(2*dupRev+1) { // stream "long" is at the odd positions
				copy(canon[9:25], dupID[:])
			}
		})
		return dir, dupID
	}

	t.Run("PastSmall", func(t *testing.T) {
		dupRev := 2 * smallStream
		dir, dupID := build(t, dupRev)
		s, err := Open(dir, Options{UnsafeNoSync: true, VerifyOnOpen: true})
		if err != nil {
			t.Fatalf("Open with VerifyOnOpen: %v (a long stream's IDs are checked at its first append)", err)
		}
		defer s.Close()
		for range 2 {
			_, err = s.Append(ctx, "long", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "t"})
			if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), dupID.String()) {
				t.Fatalf("append to the stream with a repeated ID: %v; want ErrCorrupt naming %s", err, dupID)
			}
		}
		if _, err := s.Append(ctx, "short-1", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "t"}); err != nil {
			t.Fatalf("append to another stream: %v", err)
		}
		want := fmt.Sprintf("position %d: event ID %s is at revisions 1 and %d", 2*dupRev+1, dupID, dupRev)
		if err := s.Verify(ctx); !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Verify: %v; want ErrCorrupt naming %q", err, want)
		}
	})
	t.Run("AmongTheFirst", func(t *testing.T) {
		dir, dupID := build(t, smallStream/2)
		want := fmt.Sprintf("position %d: event ID %s is at revisions 1 and %d", smallStream+1, dupID, smallStream/2)
		_, err := Open(dir, Options{UnsafeNoSync: true, VerifyOnOpen: true})
		if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Open with VerifyOnOpen: %v; want ErrCorrupt naming %q", err, want)
		}
	})
}
