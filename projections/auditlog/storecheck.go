package auditlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"

	"github.com/transparency-dev/merkle/compact"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
	"github.com/freezeledger/freezeledger/projections/auditlog/verify"
)

// CatchUp indexes the events the store holds beyond the tree and signs a checkpoint covering them.
// It is for offline tools (export, verify) that do not call Run; it fails if Run is running.
func (t *Tree) CatchUp(ctx context.Context) error {
	if !t.running.CompareAndSwap(false, true) {
		return errors.New("audit tree: Run is running")
	}
	defer t.running.Store(false)
	for {
		t.mu.RLock()
		after := t.lastPos
		t.mu.RUnlock()
		recs, err := t.store.ReadAll(ctx, after, int(exportPage))
		if err != nil {
			return fmt.Errorf("audit tree: read after %s: %w", after, err)
		}
		if len(recs) == 0 {
			break
		}
		if err := t.appendBatch(recs); err != nil {
			return err
		}
	}
	t.mu.RLock()
	size, root := t.size, t.root
	t.mu.RUnlock()
	t.cpMu.Lock()
	due := t.pending == nil && size > t.cp.Size
	t.cpMu.Unlock()
	if !due {
		return nil
	}
	if err := t.syncFiles(); err != nil {
		return fmt.Errorf("audit tree %s: sync: %w", t.dir, err)
	}
	return t.sign(size, root)
}

// StoreCheck is the result of CheckAgainstStore.
type StoreCheck struct {
	TreeSize    uint64          // leaves in the tree
	StoreEvents uint64          // events in the store (more than TreeSize if the tree lags)
	Checkpoint  leaf.Checkpoint // the latest signed checkpoint, checked
	Problems    []string
}

// CheckAgainstStore recomputes the whole tree from the store and compares it with the stored one:
// every leaf hash and position, every stored node, the root, and the latest signed checkpoint (its
// signature and its root). It reads everything once; memory stays flat. It returns an error wrapping
// eventstore.ErrCorrupt, listing the first problems, if anything differs. Use it with the tree not
// running (freezeledger verify --data-dir).
func (t *Tree) CheckAgainstStore(ctx context.Context) (StoreCheck, error) {
	var res StoreCheck
	problem := func(format string, args ...any) {
		if len(res.Problems) < 50 {
			res.Problems = append(res.Problems, fmt.Sprintf(format, args...))
		}
	}
	size := t.Size()
	res.TreeSize = size
	cp, signed := t.Checkpoint()
	res.Checkpoint = cp
	if _, err := leaf.OpenCheckpoint(signed, t.vkey); err != nil {
		problem("latest checkpoint: %v", err)
	}
	rng := rangeFactory.NewEmptyRange(0)
	var cpRoot []byte
	if cp.Size == 0 {
		cpRoot = hasher.EmptyRoot()
	}
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level == 0 {
			return // leaves are compared below, in pages
		}
		stored, err := t.readNodes([]compact.NodeID{id})
		if err != nil {
			problem("node %d of level %d: %v", id.Index, id.Level, err)
			return
		}
		if !bytes.Equal(stored[0], hash) {
			problem("node %d of level %d (leaves %d to %d) differs from its recomputation", id.Index, id.Level, id.Index<<id.Level, (id.Index+1)<<id.Level-1)
		}
	}
	var (
		after        = eventstore.Start
		index        uint64
		le           leaf.Encoder
		stored, posb []byte
	)
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		recs, err := t.store.ReadAll(ctx, after, int(exportPage))
		if err != nil {
			return res, fmt.Errorf("read the store after %s: %w", after, err)
		}
		if len(recs) == 0 {
			break
		}
		inTree := uint64(0)
		if index < size {
			inTree = min(uint64(len(recs)), size-index)
			if stored, posb, err = t.readLeaves(index, inTree, stored, posb); err != nil {
				return res, err
			}
		}
		for k, rec := range recs {
			after = rec.Position
			if uint64(k) >= inTree {
				index++
				continue
			}
			ev, err := le.Decode(recordOf(rec), index)
			var lh [32]byte
			if err == nil {
				lh, err = le.LeafHash(&ev)
			}
			if err != nil {
				problem("leaf %d (event %s at position %s): %v", index, rec.ID, rec.Position, err)
				return res, fmt.Errorf("%w: audit tree %s: %s", eventstore.ErrCorrupt, t.dir, res.Problems[0])
			}
			if !bytes.Equal(lh[:], stored[k*hashSize:(k+1)*hashSize]) {
				problem("leaf %d (event %s at position %s): the stored leaf hash differs from the event's", index, rec.ID, rec.Position)
			}
			pos := eventstore.Position{Commit: binary.BigEndian.Uint64(posb[k*posSize:]), Prepare: binary.BigEndian.Uint64(posb[k*posSize+8:])}
			if pos != rec.Position {
				problem("leaf %d: stored position %s, the store's event is at %s", index, pos, rec.Position)
			}
			if err := rng.Append(lh[:], visit); err != nil {
				return res, err
			}
			index++
			if rng.End() == cp.Size {
				cpRoot, _ = rng.GetRootHash(nil)
			}
		}
	}
	res.StoreEvents = index
	if index < size {
		problem("the store holds %d events but the tree has %d leaves", index, size)
	}
	if cp.Size > size {
		problem("the latest checkpoint covers %d events but the tree has %d leaves", cp.Size, size)
	} else if cpRoot != nil && !bytes.Equal(cpRoot, cp.Hash) {
		problem("the latest signed checkpoint (tree size %d) does not match the store's first %d events", cp.Size, cp.Size)
	}
	if rng.End() == size {
		root, _ := rootOf(rng)
		if stored, err := t.Root(size); err != nil || !bytes.Equal(root, stored) {
			problem("the tree's root (size %d) differs from its recomputation from the store", size)
		}
	}
	if len(res.Problems) > 0 {
		return res, fmt.Errorf("%w: audit tree %s: %d problem(s), the first: %s", eventstore.ErrCorrupt, t.dir, len(res.Problems), res.Problems[0])
	}
	return res, nil
}

// CheckHistory replays the store's whole log, in global order, through the domain's history
// validator (domain.NewHistoryValidator; verify.ReplayHistory does the replay). It returns how many
// events were permitted, and the first event not permitted ("leaf N: …"), a read error, or what
// the validator's Finish reports. It reads the store in pages: memory stays flat.
func CheckHistory(ctx context.Context, store eventstore.Store, val verify.HistoryValidator) (int, error) {
	return verify.ReplayHistory(storedEvents(ctx, store), val)
}

// storedEvents yields the store's events in global order, as the domain sees them.
func storedEvents(ctx context.Context, store eventstore.Store) iter.Seq2[domain.StoredEvent, error] {
	return func(yield func(domain.StoredEvent, error) bool) {
		after := eventstore.Start
		for {
			recs, err := store.ReadAll(ctx, after, int(exportPage))
			if err != nil {
				yield(domain.StoredEvent{}, err)
				return
			}
			if len(recs) == 0 {
				return
			}
			for _, rec := range recs {
				if !yield(domain.StoredEvent{ID: rec.ID, Type: rec.Type, Stream: rec.Stream, Revision: rec.Revision,
					Position: rec.Position.String(), Data: rec.Data, Metadata: rec.Metadata}, nil) {
					return
				}
				after = rec.Position
			}
		}
	}
}
