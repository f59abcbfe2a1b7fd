package auditlog

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// caughtUpTree opens a tree over s and indexes what s holds now (no Run: the tree grows only when
// the test says so).
func caughtUpTree(t *testing.T, s *memStore) *Tree {
	t.Helper()
	tr, err := OpenTree(t.TempDir(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	if err := tr.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tr
}

// collect returns the leaf indexes and positions Events gives after after, with limit.
func collect(t *testing.T, src *EventSource, after eventstore.Position, limit int) (idx []uint64, pos []string) {
	t.Helper()
	err := src.Events(context.Background(), after, limit, func(ev leaf.Event) error {
		idx = append(idx, ev.Index)
		pos = append(pos, ev.Position)
		return nil
	})
	if err != nil {
		t.Fatalf("Events(after %s, limit %d): %v", after, limit, err)
	}
	return idx, pos
}

// Events pages over more than a store page: strictly after the given position, up to limit, in log
// order and numbered by the tree; paging by the last position seen gives every event once.
func TestEventSourceEventsPages(t *testing.T) {
	s := newMemStore()
	const n = 2500 // more than Events' page of 1024
	appendEvents(t, s, n)
	src := &EventSource{Tree: caughtUpTree(t, s), Store: s}

	idx, pos := collect(t, src, eventstore.Start, 0)
	if len(idx) != n {
		t.Fatalf("all events: %d, want %d", len(idx), n)
	}
	for i := range idx {
		if idx[i] != uint64(i) || pos[i] != (eventstore.Position{Commit: uint64(i + 1), Prepare: uint64(i + 1)}).String() {
			t.Fatalf("event %d: index %d, position %s", i, idx[i], pos[i])
		}
	}
	if idx, _ := collect(t, src, eventstore.Position{Commit: 5, Prepare: 5}, 10); len(idx) != 10 || idx[0] != 5 || idx[9] != 14 {
		t.Fatalf("after position 5, limit 10: indexes %v, want 5 to 14", idx)
	}
	if idx, _ := collect(t, src, eventstore.Position{Commit: n, Prepare: n}, 0); len(idx) != 0 {
		t.Fatalf("after the last position: %v, want none", idx)
	}
	seen, after := 0, eventstore.Start
	for {
		idx, pos := collect(t, src, after, 1000)
		for _, i := range idx {
			if i != uint64(seen) {
				t.Fatalf("paging: index %d, want %d", i, seen)
			}
			seen++
		}
		if len(idx) < 1000 {
			break
		}
		if after, _ = eventstore.ParsePosition(pos[len(pos)-1]); after == eventstore.Start {
			t.Fatalf("unreadable position %q", pos[len(pos)-1])
		}
	}
	if seen != n {
		t.Fatalf("paging by 1000 gave %d events, want %d", seen, n)
	}
}

// Events returns only what the tree has indexed, and stops at fn's error, returning it.
func TestEventSourceEventsFollowsTheTree(t *testing.T) {
	s := newMemStore()
	appendEvents(t, s, 20)
	tr := caughtUpTree(t, s)
	appendEvents(t, s, 5) // in the store, not yet in the tree
	src := &EventSource{Tree: tr, Store: s}
	if idx, _ := collect(t, src, eventstore.Start, 0); len(idx) != 20 {
		t.Fatalf("%d events, want the tree's 20", len(idx))
	}
	stop := errors.New("enough")
	calls := 0
	err := src.Events(context.Background(), eventstore.Start, 0, func(leaf.Event) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Fatalf("Events with fn failing at the third: %v after %d calls", err, calls)
	}
	if err := tr.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if idx, _ := collect(t, src, eventstore.Start, 0); len(idx) != 25 {
		t.Fatalf("after the tree caught up: %d events, want 25", len(idx))
	}
}

// The other methods pass the tree's answers and errors on: a malformed bound is ErrInvalid named
// after its side, a size beyond the tree ErrSize, no checkpoint yet unavailable.
func TestEventSourcePassesTreeErrorsOn(t *testing.T) {
	ctx := context.Background()
	unsigned := &EventSource{Tree: &Tree{}, Store: newMemStore()} // OpenTree signs at once: only a zero Tree has no checkpoint
	if _, err := unsigned.Checkpoint(ctx); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Errorf("Checkpoint of a tree that has signed nothing: %v, want unavailable", err)
	}

	s := newMemStore()
	appendEvents(t, s, 12)
	tr := caughtUpTree(t, s)
	src := &EventSource{Tree: tr, Store: s}
	for _, side := range []string{"from", "to"} {
		from, to := "", ""
		if side == "from" {
			from = "soon"
		} else {
			to = "soon"
		}
		err := src.Export(ctx, &bytes.Buffer{}, "jsonl", from, to)
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), side+": ") {
			t.Errorf("Export with %s=soon: %v, want ErrInvalid prefixed %q", side, err, side+": ")
		}
	}
	var buf bytes.Buffer
	if err := src.Export(ctx, &buf, "jsonl", "3", ""); err != nil || strings.Count(buf.String(), "\n") != 10 {
		t.Errorf("Export from position 3: %v, %d lines, want 10", err, strings.Count(buf.String(), "\n"))
	}
	if _, err := src.InclusionProof(0, 13); !errors.Is(err, ErrSize) {
		t.Errorf("InclusionProof beyond the tree: %v, want ErrSize", err)
	}
	if _, err := src.ConsistencyProof(1, 13); !errors.Is(err, ErrSize) {
		t.Errorf("ConsistencyProof beyond the tree: %v, want ErrSize", err)
	}
	if h, err := src.InclusionProof(3, 12); err != nil || len(h) == 0 {
		t.Errorf("InclusionProof(3, 12) = %d hashes, %v", len(h), err)
	}
	cp, err := src.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w, err := src.WaitCheckpoint(ctx, 12); err != nil || !bytes.Equal(w, cp) {
		t.Errorf("WaitCheckpoint(12) = %q, %v, want the checkpoint %q", w, err, cp)
	}
	if src.PublicKey() != tr.PublicKey() || src.PublicKey() == "" {
		t.Errorf("PublicKey %q, want the tree's %q", src.PublicKey(), tr.PublicKey())
	}
}
