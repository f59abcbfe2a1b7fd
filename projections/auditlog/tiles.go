package auditlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/freezeledger/freezeledger/eventstore"
)

// The tree as C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tiles of height 8. The hash tile at
// tile level L, index N holds the hashes of tree level 8·L, nodes N·256 to N·256+W-1 (W = 256 for a
// full tile, fewer for a partial one); they are the level-(8·L) file's nodes as stored. The entry
// bundle N holds leaves N·256 to N·256+W-1, each as a big-endian uint16 length and the leaf bytes
// (the event's canonical bytes), so that SHA-256(0x00 || entry) is the leaf hash. Tiles are read
// against the latest signed checkpoint's size: a tile never changes once served.

// TileWidth is the number of hashes of a full tile (and of entries of a full entry bundle).
const TileWidth = 256

// tileNodes is how many nodes of tree level level the tree of size size has.
func tileNodes(size uint64, level uint) uint64 {
	if level >= 64 {
		return 0
	}
	return size >> level
}

// HashTile returns the hash tile of tile level level, index n and width (1 to 256) in the tree
// of the latest checkpoint. A tile beyond that tree is an error wrapping ErrSize.
func (t *Tree) HashTile(level int, n uint64, width int) ([]byte, error) {
	cp, _ := t.Checkpoint()
	if level < 0 || level > 7 || width < 1 || width > TileWidth || n > (1<<56) {
		return nil, fmt.Errorf("%w: tile %d/%d.p/%d", ErrSize, level, n, width)
	}
	tl := uint(level) * 8
	first := n * TileWidth
	if avail := tileNodes(cp.Size, tl); first+uint64(width) > avail {
		return nil, fmt.Errorf("%w: tile %d/%d of width %d: the tree of size %d has %d nodes at level %d", ErrSize, level, n, width, cp.Size, avail, tl)
	}
	t.mu.RLock()
	levels := t.levels
	t.mu.RUnlock()
	if int(tl) >= len(levels) {
		return nil, fmt.Errorf("%w: audit tree %s: no level %d file", eventstore.ErrCorrupt, t.dir, tl)
	}
	out := make([]byte, width*hashSize)
	if _, err := levels[tl].ReadAt(out, int64(first*hashSize)); err != nil {
		return nil, fmt.Errorf("%w: audit tree %s: level %d nodes %d..%d: %v", eventstore.ErrCorrupt, t.dir, tl, first, first+uint64(width)-1, err)
	}
	return out, nil
}

// EntryBundle returns entry bundle n of width (1 to 256) in the tree of the latest checkpoint:
// the leaves' bytes, read from the store and checked against the tree's leaf hashes (a difference
// wraps eventstore.ErrCorrupt). A leaf longer than 65535 bytes cannot be in a bundle (an error).
func (t *Tree) EntryBundle(ctx context.Context, n uint64, width int) ([]byte, error) {
	cp, _ := t.Checkpoint()
	if width < 1 || width > TileWidth || n > (1<<56) {
		return nil, fmt.Errorf("%w: entry bundle %d.p/%d", ErrSize, n, width)
	}
	first := n * TileWidth
	if first+uint64(width) > cp.Size {
		return nil, fmt.Errorf("%w: entry bundle %d of width %d: the tree has %d leaves", ErrSize, n, width, cp.Size)
	}
	after := eventstore.Start
	if first > 0 {
		var err error
		if after, err = t.Position(first - 1); err != nil {
			return nil, err
		}
	}
	recs, err := t.store.ReadAll(ctx, after, width)
	if err != nil {
		return nil, fmt.Errorf("entry bundle %d: read after %s: %w", n, after, err)
	}
	if len(recs) < width {
		return nil, fmt.Errorf("%w: entry bundle %d: the store has %d events after %s, the tree %d", eventstore.ErrCorrupt, n, len(recs), after, width)
	}
	stored, posb, err := t.readLeaves(first, uint64(width), nil, nil)
	if err != nil {
		return nil, err
	}
	var pw pageWorker
	out := make([]byte, 0, width*512)
	for k, rec := range recs[:width] {
		idx := first + uint64(k)
		if pos := (eventstore.Position{Commit: binary.BigEndian.Uint64(posb[k*posSize:]), Prepare: binary.BigEndian.Uint64(posb[k*posSize+8:])}); pos != rec.Position {
			return nil, fmt.Errorf("%w: entry bundle: leaf %d is at position %s in the audit tree but the store's event is at %s", eventstore.ErrCorrupt, idx, pos, rec.Position)
		}
		ev, err := pw.le.Decode(recordOf(rec), idx)
		if err != nil {
			return nil, fmt.Errorf("entry bundle: leaf %d: %w", idx, err)
		}
		lh, err := pw.le.LeafHash(&ev)
		if err != nil {
			return nil, fmt.Errorf("entry bundle: leaf %d: %w", idx, err)
		}
		if !bytes.Equal(lh[:], stored[k*hashSize:(k+1)*hashSize]) {
			return nil, fmt.Errorf("%w: entry bundle: event %s hashes differently from leaf %d of the audit tree", eventstore.ErrCorrupt, rec.ID, idx)
		}
		canon := pw.le.Canonical()
		if len(canon) > 0xffff {
			return nil, fmt.Errorf("entry bundle: leaf %d is %d bytes, more than an entry bundle's 65535", idx, len(canon))
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(canon)))
		out = append(out, canon...)
	}
	return out, nil
}
