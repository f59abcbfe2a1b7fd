package auditlog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

var baseTime = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// appendEvents appends n events (customer freezes on a few channels, one second apart from baseTime
// plus the store's current length), one per append.
func appendEvents(t testing.TB, s *memStore, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		s.mu.Lock()
		k := len(s.events)
		s.mu.Unlock()
		meta, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: domain.Actor{Name: "ops-1", Role: domain.RolePartner, PartnerID: "dist-1"},
			Time: baseTime.Add(time.Duration(k) * time.Second), RequestID: fmt.Sprintf("req-%d", k)})
		data, _ := json.Marshal(domain.CustomerFrozen{CustomerID: fmt.Sprintf("c-%d", k), FreezeType: domain.FreezeAccount,
			Origin: domain.OriginManual, Reason: "=cmd|' /C calc'!A0 overdue"})
		if _, err := s.Append(context.Background(), fmt.Sprintf("channel-d%d", k%3), eventstore.Any,
			eventstore.EventData{ID: uuid.New(), Type: domain.EventCustomerFrozen, Data: data, Metadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
}

// referenceLeaves are the leaf hashes computed from the store with the public FromRecorded.
func referenceLeaves(t testing.TB, s *memStore) [][]byte {
	t.Helper()
	evs, _ := s.ReadAll(context.Background(), eventstore.Start, 0)
	out := make([][]byte, len(evs))
	for i, rec := range evs {
		ev, err := FromRecorded(rec, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ev.ComputeLeafHash()
		out[i] = h[:]
	}
	return out
}

func referenceRoot(t testing.TB, leaves [][]byte) []byte {
	t.Helper()
	if len(leaves) == 0 {
		return hasher.EmptyRoot()
	}
	r := rangeFactory.NewEmptyRange(0)
	for _, l := range leaves {
		if err := r.Append(l, nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// runTree opens the tree in dir and runs it until the test ends.
func runTree(t testing.TB, dir string, s eventstore.Store, opts Options) *Tree {
	t.Helper()
	tr, err := OpenTree(dir, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
		tr.Close()
	})
	return tr
}

// runTreeOver is a store of n events (appendEvents) and a tree over it in a temporary directory,
// running until the test ends, its checkpoint already at size n.
func runTreeOver(t testing.TB, n int) (*memStore, *Tree) {
	t.Helper()
	s := newMemStore()
	appendEvents(t, s, n)
	tr := runTree(t, t.TempDir(), s, Options{})
	waitSize(t, tr, uint64(n))
	return s, tr
}

// buildTreeFiles opens the tree in dir, runs it until its checkpoint covers n events, then stops and
// closes it: what is left in dir is the files of a tree that shut down cleanly at size n.
func buildTreeFiles(t testing.TB, dir string, s eventstore.Store, n uint64) {
	t.Helper()
	tr, err := OpenTree(dir, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	waitSize(t, tr, n)
	cancel()
	<-done
	tr.Close()
}

func waitSize(t testing.TB, tr *Tree, n uint64) leaf.Checkpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cp, _, err := tr.WaitCheckpoint(ctx, n)
	if err != nil {
		t.Fatalf("no checkpoint of size %d: %v (tree size %d)", n, err, tr.Size())
	}
	return cp
}

func TestProofsCheckWithTransparencyDevVerifier(t *testing.T) {
	s, tr := runTreeOver(t, 37)
	appendEvents(t, s, 100)
	cp := waitSize(t, tr, 137)
	if cp.Size != 137 || tr.Size() != 137 {
		t.Fatalf("checkpoint size %d, tree size %d, want 137", cp.Size, tr.Size())
	}
	leaves := referenceLeaves(t, s)
	if got, want := cp.Hash, referenceRoot(t, leaves); !equalHash(got, want) {
		t.Fatal("checkpoint root differs from the reference root")
	}
	for _, size := range []uint64{1, 2, 3, 7, 8, 9, 16, 37, 64, 100, 136, 137} {
		root, err := tr.Root(size)
		if err != nil {
			t.Fatal(err)
		}
		if !equalHash(root, referenceRoot(t, leaves[:size])) {
			t.Fatalf("Root(%d) differs from the reference", size)
		}
		for _, index := range []uint64{0, 1, size / 2, size - 1} {
			if index >= size {
				continue
			}
			p, err := tr.InclusionProof(index, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(hasher, index, size, leaves[index], p, root); err != nil {
				t.Fatalf("inclusion of %d in %d: %v", index, size, err)
			}
		}
		for _, first := range []uint64{0, 1, size / 3, size - 1, size} {
			p, err := tr.ConsistencyProof(first, 137)
			if err != nil {
				t.Fatal(err)
			}
			root1, _ := tr.Root(first)
			if err := proof.VerifyConsistency(hasher, first, 137, p, root1, cp.Hash); err != nil {
				t.Fatalf("consistency %d -> 137: %v", first, err)
			}
		}
	}
	// A proof must not verify a different leaf.
	p, _ := tr.InclusionProof(5, 137)
	if proof.VerifyInclusion(hasher, 5, 137, leaves[6], p, cp.Hash) == nil {
		t.Fatal("inclusion proof verified the wrong leaf")
	}
	if _, err := tr.InclusionProof(137, 137); !errors.Is(err, ErrSize) {
		t.Fatalf("index beyond size: %v", err)
	}
	if _, err := tr.ConsistencyProof(1, 138); !errors.Is(err, ErrSize) {
		t.Fatalf("size beyond tree: %v", err)
	}
	// Index <-> position.
	for i := uint64(0); i < 137; i += 17 {
		pos, err := tr.Position(i)
		if err != nil || pos.Commit != i+1 {
			t.Fatalf("Position(%d) = %v, %v", i, pos, err)
		}
		if idx, err := tr.IndexOf(pos); err != nil || idx != i {
			t.Fatalf("IndexOf(%v) = %d, %v", pos, idx, err)
		}
	}
}

func TestCheckpointIsSignedNoteInTlogFormat(t *testing.T) {
	s := newMemStore()
	appendEvents(t, s, 5)
	dir := t.TempDir()
	tr := runTree(t, dir, s, Options{Name: "test"})
	cp := waitSize(t, tr, 5)
	_, signed := tr.Checkpoint()
	if tr.Origin() != "freezeledger/test" || cp.Origin != tr.Origin() {
		t.Fatalf("origin %q / %q", tr.Origin(), cp.Origin)
	}
	got, err := leaf.OpenCheckpoint(signed, tr.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("freezeledger/test\n5\n%s\n\n", b64(cp.Hash))
	if string(signed[:len(body)]) != body {
		t.Fatalf("checkpoint text:\n%s", signed)
	}
	if got.Size != 5 {
		t.Fatalf("size %d", got.Size)
	}
	fi, err := os.Stat(filepath.Join(dir, signingKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing key file: %v, %v", fi.Mode(), err)
	}
	// Another key with the same name does not verify it.
	other := runTree(t, t.TempDir(), newMemStore(), Options{Name: "test"})
	if _, err := leaf.OpenCheckpoint(signed, other.PublicKey()); !errors.Is(err, leaf.ErrBadSignature) {
		t.Fatalf("another key: %v", err)
	}
}

func TestRestartResumesWithoutRebuilding(t *testing.T) {
	s := newMemStore()
	appendEvents(t, s, 50)
	dir := t.TempDir()
	buildTreeFiles(t, dir, s, 50)

	// Reopened on a store that would hash differently below the checkpoint if it were re-read: the
	// tree must come from its files (and say so when it reaches back).
	tr2, err := OpenTree(dir, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tr2.Size() != 50 {
		t.Fatalf("reopened size %d, want 50", tr2.Size())
	}
	tr2.Close()
	tr3 := runTree(t, dir, s, Options{})
	appendEvents(t, s, 30)
	cp := waitSize(t, tr3, 80)
	if !equalHash(cp.Hash, referenceRoot(t, referenceLeaves(t, s))) {
		t.Fatal("root after restart differs from the reference")
	}
}

func TestOpenRefusesTreeFilesThatDisagreeWithCheckpoint(t *testing.T) {
	s := newMemStore()
	appendEvents(t, s, 20)
	dir := t.TempDir()
	buildTreeFiles(t, dir, s, 20)

	// Opening checks the nodes the root is made of (here the subtree of leaves 0..15); a full check of
	// every node is VerifyTreeFiles (freezeledger verify --data-dir).
	flipByte(t, filepath.Join(dir, fmt.Sprintf(levelFileFmt, 4)), 7)
	if _, err := OpenTree(dir, s, Options{}); !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("tampered node accepted: %v", err)
	}
}

func TestRebuildFromStoreIsCheckedAgainstCheckpoint(t *testing.T) {
	s := newMemStore()
	appendEvents(t, s, 20)
	dir := t.TempDir()
	buildTreeFiles(t, dir, s, 20)

	// Lose the tree's node files: the tree is rebuilt from the store and checked against the signed
	// checkpoint; a store whose history changed is reported.
	for level := 0; level < 6; level++ {
		os.Remove(filepath.Join(dir, fmt.Sprintf(levelFileFmt, level)))
	}
	rec := s.events[3]
	rec.Data = []byte(`{"customer_id":"c-forged"}`)
	s.set(3, rec)
	tr2, err := OpenTree(dir, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if err := tr2.Run(ctx2); !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("rebuild over a changed store: %v", err)
	}
}

func TestNodesArePersistedPerLevel(t *testing.T) {
	s := newMemStore()
	appendEvents(t, s, 11)
	dir := t.TempDir()
	tr := runTree(t, dir, s, Options{})
	waitSize(t, tr, 11)
	for level, want := range []int64{11, 5, 2, 1} {
		fi, err := os.Stat(filepath.Join(dir, fmt.Sprintf(levelFileFmt, level)))
		if err != nil || fi.Size() != want*hashSize {
			t.Fatalf("level %d: %v, %v; want %d nodes", level, fi, err, want)
		}
	}
	// Each stored node is the hash of its children.
	leaves := referenceLeaves(t, s)
	id := compact.NewNodeID(2, 1) // leaves 4..7
	h, err := tr.readNodes([]compact.NodeID{id})
	if err != nil {
		t.Fatal(err)
	}
	want := hasher.HashChildren(hasher.HashChildren(leaves[4], leaves[5]), hasher.HashChildren(leaves[6], leaves[7]))
	if !equalHash(h[0], want) {
		t.Fatal("stored node differs from its recomputation")
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestCheckAgainstStore(t *testing.T) {
	s := newMemStore()
	appendEvents(t, s, 33)
	dir := t.TempDir()
	tr, err := OpenTree(dir, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cp, _ := tr.Checkpoint(); cp.Size != 33 {
		t.Fatalf("CatchUp signed size %d", cp.Size)
	}
	appendEvents(t, s, 2) // the tree lags: not a problem
	res, err := tr.CheckAgainstStore(context.Background())
	if err != nil || res.TreeSize != 33 || res.StoreEvents != 35 {
		t.Fatalf("%+v, %v", res, err)
	}
	// A node deep inside the tree (not on the root's path) is corrupted.
	flipByte(t, filepath.Join(dir, fmt.Sprintf(levelFileFmt, 1)), hashSize*3+5)
	_, err = tr.CheckAgainstStore(context.Background())
	if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), "node 3 of level 1 (leaves 6 to 7)") {
		t.Fatalf("corrupted node: %v", err)
	}
	// A stored event changed after it was indexed.
	tr2dir := t.TempDir()
	tr2, _ := OpenTree(tr2dir, s, Options{})
	defer tr2.Close()
	tr2.CatchUp(context.Background())
	rec := s.events[20]
	rec.Metadata = []byte(`{"actor":{"name":"mallory"},"time":"2026-11-26T10:00:00Z"}`)
	s.set(20, rec)
	_, err = tr2.CheckAgainstStore(context.Background())
	if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), "leaf 20 (event "+rec.ID.String()) {
		t.Fatalf("changed event: %v", err)
	}
}

func TestOpenTwiceIsRefused(t *testing.T) {
	dir := t.TempDir()
	tr, err := OpenTree(dir, newMemStore(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenTree(dir, newMemStore(), Options{}); err == nil {
		t.Fatal("a second open of the same tree succeeded")
	}
	tr.Close()
	tr2, err := OpenTree(dir, newMemStore(), Options{})
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	tr2.Close()
}

// flipByte inverts the byte at off of the file at path (writing a fixed value would be no change
// when the hash already holds it: one run in 256).
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{b[0] ^ 0xff}, off); err != nil {
		t.Fatal(err)
	}
}
