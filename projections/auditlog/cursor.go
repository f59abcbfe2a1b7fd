package auditlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/transparency-dev/merkle/compact"

	"github.com/freezeledger/freezeledger/eventstore"
)

// leafCursor maps the positions of a stream's events, in increasing order, to their leaf indices and
// stored leaf hashes, reading the positions and level-0 files in chunks: a dense stream costs one
// read per chunk, a sparse one a binary search per chunk it lands in.
type leafCursor struct {
	t     *Tree
	size  uint64 // leaves considered (the checkpoint's size)
	start uint64 // the chunk's first leaf
	pos   []byte // the chunk's positions
	hash  []byte // the chunk's leaf hashes
	n     uint64 // leaves in the chunk
	at    uint64 // offset of the last leaf found, in the chunk
}

const cursorChunk = 4096

// find returns the leaf index and stored leaf hash (valid until the next call) of the event at pos,
// or ok false if no leaf below the cursor's size is at pos. Positions must be asked in increasing
// order. A position between two leaves is an error wrapping eventstore.ErrCorrupt.
func (c *leafCursor) find(pos eventstore.Position) (uint64, []byte, bool, error) {
	if c.n > 0 && !c.posAt(c.n-1).Less(pos) {
		k := c.at + uint64(sort.Search(int(c.n-c.at), func(i int) bool { return !c.posAt(c.at + uint64(i)).Less(pos) }))
		return c.hit(k, pos)
	}
	from := c.start + c.n
	i := from + uint64(sort.Search(int(c.size-from), func(i int) bool {
		p, err := c.t.Position(from + uint64(i))
		return err != nil || !p.Less(pos)
	}))
	if i >= c.size {
		return 0, nil, false, nil
	}
	if err := c.load(i); err != nil {
		return 0, nil, false, err
	}
	return c.hit(0, pos)
}

func (c *leafCursor) hit(k uint64, pos eventstore.Position) (uint64, []byte, bool, error) {
	if k >= c.n || c.posAt(k) != pos {
		return 0, nil, false, fmt.Errorf("%w: audit tree %s: no leaf is at position %s, which the store has", eventstore.ErrCorrupt, c.t.dir, pos)
	}
	c.at = k
	return c.start + k, c.hash[k*hashSize : (k+1)*hashSize], true, nil
}

func (c *leafCursor) posAt(k uint64) eventstore.Position {
	b := c.pos[k*posSize:]
	return eventstore.Position{Commit: binary.BigEndian.Uint64(b), Prepare: binary.BigEndian.Uint64(b[8:])}
}

func (c *leafCursor) load(start uint64) error {
	n := min(cursorChunk, c.size-start)
	var err error
	c.hash, c.pos, err = c.t.readLeaves(start, n, c.hash, c.pos)
	if err != nil {
		return err
	}
	c.start, c.n, c.at = start, n, 0
	return nil
}

// nodeReader reads stored perfect nodes in increasing index order per level, a chunk at a time.
type nodeReader struct {
	t      *Tree
	chunks map[uint]*nodeChunk
}

type nodeChunk struct {
	start uint64
	buf   []byte
}

const nodeChunkSize = 2048

// appendNodes appends the hashes of ids to dst.
func (r *nodeReader) appendNodes(dst []byte, ids []compact.NodeID) ([]byte, error) {
	if r.chunks == nil {
		r.chunks = map[uint]*nodeChunk{}
	}
	r.t.mu.RLock()
	levels := r.t.levels
	r.t.mu.RUnlock()
	for _, id := range ids {
		c := r.chunks[id.Level]
		if c == nil {
			c = &nodeChunk{}
			r.chunks[id.Level] = c
		}
		if id.Index < c.start || id.Index >= c.start+uint64(len(c.buf)/hashSize) {
			if int(id.Level) >= len(levels) {
				return nil, fmt.Errorf("%w: audit tree %s: no level %d file for node %d", eventstore.ErrCorrupt, r.t.dir, id.Level, id.Index)
			}
			c.buf = append(c.buf[:0], make([]byte, nodeChunkSize*hashSize)...)
			n, err := levels[id.Level].ReadAt(c.buf, int64(id.Index*hashSize))
			if err != nil && !errors.Is(err, io.EOF) || n < hashSize {
				return nil, fmt.Errorf("%w: audit tree %s: node %d of level %d: %v", eventstore.ErrCorrupt, r.t.dir, id.Index, id.Level, err)
			}
			c.start, c.buf = id.Index, c.buf[:n/hashSize*hashSize]
		}
		off := (id.Index - c.start) * hashSize
		dst = append(dst, c.buf[off:off+hashSize]...)
	}
	return dst, nil
}
