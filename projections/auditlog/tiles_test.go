package auditlog

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// treeTiles reads the tree's tiles for golang.org/x/mod/sumdb/tlog's verifying reader.
type treeTiles struct{ t *Tree }

func (r treeTiles) Height() int { return 8 }

func (r treeTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tl := range tiles {
		var err error
		if out[i], err = r.t.HashTile(tl.L, uint64(tl.N), tl.W); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (treeTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// The hash tiles and entry bundles, read through tlog's tile reader (which checks every tile
// against the signed tree's root), give the tree's leaves: each entry hashes to its leaf, and a
// record proof from the tiles checks against the checkpoint.
func TestTilesVerifyWithSumDBTlog(t *testing.T) {
	s := newMemStore()
	appendEvents(t, s, 700) // two full entry bundles and a partial one; a partial level-1 tile
	tr := runTree(t, t.TempDir(), s, Options{})
	cp := waitSize(t, tr, 700)
	var root tlog.Hash
	copy(root[:], cp.Hash)
	tree := tlog.Tree{N: int64(cp.Size), Hash: root}
	thr := tlog.TileHashReader(tree, treeTiles{tr})
	leaves := referenceLeaves(t, s)
	var idx []int64
	for k := range int64(700) {
		idx = append(idx, tlog.StoredHashIndex(0, k))
	}
	hs, err := thr.ReadHashes(idx)
	if err != nil {
		t.Fatal(err)
	}
	for k, h := range hs {
		if string(h[:]) != string(leaves[k]) {
			t.Fatalf("leaf %d from the tiles differs from the tree's", k)
		}
	}
	p, err := tlog.ProveRecord(tree.N, 123, thr)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckRecord(p, tree.N, tree.Hash, 123, hs[123]); err != nil {
		t.Fatal(err)
	}
	n := 0
	for b := uint64(0); b < 3; b++ {
		w := TileWidth
		if b == 2 {
			w = 700 - 512
		}
		data, err := tr.EntryBundle(context.Background(), b, w)
		if err != nil {
			t.Fatal(err)
		}
		for len(data) > 0 {
			l := int(binary.BigEndian.Uint16(data))
			if h := tlog.RecordHash(data[2 : 2+l]); string(h[:]) != string(leaves[n]) {
				t.Fatalf("entry %d does not hash to its leaf", n)
			}
			data = data[2+l:]
			n++
		}
	}
	if n != 700 {
		t.Fatalf("%d entries", n)
	}
	// Beyond the checkpoint: no tile.
	if _, err := tr.HashTile(0, 2, 189); !errors.Is(err, ErrSize) {
		t.Fatalf("hash tile beyond the tree: %v", err)
	}
	if _, err := tr.EntryBundle(context.Background(), 2, 189); !errors.Is(err, ErrSize) {
		t.Fatalf("entry bundle beyond the tree: %v", err)
	}
}
