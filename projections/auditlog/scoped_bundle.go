package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/transparency-dev/merkle/compact"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// ScopeRequest says what a scoped bundle holds: the events of one stream (a partner's channel
// stream) in a range, proved complete (docs/AUDIT.md, "Scoped bundles").
type ScopeRequest struct {
	Scope  string // the partner ID asked for, recorded in scope.json
	Stream string // the scope's stream
	// Show, if set, says whether an event's content may be shown; an event it refuses is written as
	// a redacted line (index, stream, revision, leaf hash). Nil shows every event.
	Show func(ev *leaf.Event) bool
	// From and To bound the range as for an export (positions or times; open when zero).
	From, To Bound
}

// ScopedBundleResult describes a written scoped bundle.
type ScopedBundleResult struct {
	Checkpoint leaf.Checkpoint
	First, End uint64          // the leaf range the bundle is complete for
	Lines      int             // lines written (boundary lines included)
	Redacted   int             // of which redacted
	Head       leaf.StreamHead // the stream's head at the checkpoint's size
}

// scopePage is how many events of the stream are read at a time.
const scopePage = 1024

// WriteScopedBundle writes a scoped bundle into dir (created if needed): events.jsonl (the
// stream's events in the range, in leaf order, plus the stream's last event before the range and
// its first event after it as boundary lines), checkpoint (the latest signed checkpoint, of size
// N), heads (the signed StreamHeads of the stream at size N), gaps.bin (the compact ranges of the
// leaves between the bundle's lines, which with the lines' leaf hashes give the checkpoint's root),
// scope.json and public-key. Each event's leaf hash is recomputed from the store and compared with
// the tree's (a difference wraps eventstore.ErrCorrupt). Memory holds the lines' leaf indices (8
// bytes each); the events stream to the file.
func (t *Tree) WriteScopedBundle(ctx context.Context, dir string, req ScopeRequest) (ScopedBundleResult, error) {
	cp, signed := t.Checkpoint()
	res := ScopedBundleResult{Checkpoint: cp, Head: leaf.StreamHead{Stream: req.Stream, Empty: true}}
	size := cp.Size
	first, end := uint64(0), size
	var err error
	if req.From.Position != nil {
		if first, err = t.IndexOf(*req.From.Position); err != nil {
			return res, err
		}
		first = min(first, size)
	}
	if req.To.Position != nil {
		to, err := t.IndexOf(*req.To.Position)
		if err != nil {
			return res, err
		}
		end = min(end, to)
	}
	end = max(end, first)
	var fromTime, toTime string
	if req.From.Time != nil {
		fromTime = req.From.Time.Format(leaf.TimeFormat)
	}
	if req.To.Time != nil {
		toTime = req.To.Time.Format(leaf.TimeFormat)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	f, err := os.Create(filepath.Join(dir, leaf.BundleEvents))
	if err != nil {
		return res, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 256<<10)

	var (
		cur      = leafCursor{t: t, size: size}
		enc      leaf.Encoder
		indices  []uint64
		line     []byte
		before   []byte // the encoded line of the stream's last event before the range
		beforeAt uint64
		beforeR  bool // before is redacted
		after    bool // the boundary after the range is written: only the head is looked for now
		afterAt  uint64
		anyIn    bool
		firstIn  uint64
		lastIn   uint64
	)
	emit := func(idx uint64, b []byte, redacted bool) error {
		indices = append(indices, idx)
		res.Lines++
		if redacted {
			res.Redacted++
		}
		_, err := w.Write(b)
		return err
	}
	flushBefore := func() error {
		if before == nil {
			return nil
		}
		err := emit(beforeAt, before, beforeR)
		before = nil
		return err
	}
	from := uint64(0)
scan:
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		recs, err := t.store.ReadStream(ctx, req.Stream, eventstore.Forwards, from, scopePage)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("scoped bundle: read %s from revision %d: %w", req.Stream, from, err)
		}
		for _, rec := range recs {
			idx, stored, ok, err := cur.find(rec.Position)
			if err != nil {
				return res, err
			}
			if !ok {
				break scan // beyond the checkpoint
			}
			res.Head = leaf.StreamHead{Stream: req.Stream, Revision: rec.Revision, Index: idx}
			if after {
				continue
			}
			ev, err := enc.Decode(recordOf(rec), idx)
			if err != nil {
				return res, fmt.Errorf("scoped bundle: leaf %d: %w", idx, err)
			}
			lh, err := enc.LeafHash(&ev)
			if err != nil {
				return res, fmt.Errorf("scoped bundle: leaf %d: %w", idx, err)
			}
			if !bytes.Equal(lh[:], stored) {
				return res, fmt.Errorf("%w: scoped bundle: event %s at position %s hashes differently from leaf %d of the audit tree: the stored event changed after it was indexed",
					eventstore.ErrCorrupt, rec.ID, rec.Position, idx)
			}
			ev.LeafHash = base64.StdEncoding.EncodeToString(lh[:])
			redacted := req.Show != nil && !req.Show(&ev)
			if redacted {
				line = leaf.AppendRedactedLine(line[:0], idx, ev.Stream, ev.Revision, ev.LeafHash)
			} else {
				line = leaf.AppendLine(line[:0], &ev, enc.Canonical())
			}
			switch {
			case idx < first || (fromTime != "" && ev.Time < fromTime):
				before, beforeAt, beforeR = append(before[:0], line...), idx, redacted
			case idx >= end || (toTime != "" && ev.Time >= toTime):
				if err := flushBefore(); err != nil {
					return res, err
				}
				if err := emit(idx, line, redacted); err != nil {
					return res, err
				}
				after, afterAt = true, idx
			default:
				if err := flushBefore(); err != nil {
					return res, err
				}
				if !anyIn {
					firstIn = idx
				}
				anyIn, lastIn = true, idx
				if err := emit(idx, line, redacted); err != nil {
					return res, err
				}
			}
		}
		if len(recs) < scopePage {
			break
		}
		from = recs[len(recs)-1].Revision + 1
	}
	if err := flushBefore(); err != nil { // the stream's head lies before the range
		return res, err
	}
	if fromTime != "" || toTime != "" {
		switch {
		case anyIn:
			first, end = firstIn, lastIn+1
		case after:
			first, end = afterAt, afterAt
		default:
			first, end = size, size
		}
	}
	res.First, res.End = first, end
	if err := w.Flush(); err != nil {
		return res, err
	}
	if err := f.Close(); err != nil {
		return res, err
	}
	if err := t.writeGaps(filepath.Join(dir, leaf.BundleGaps), indices, size); err != nil {
		return res, err
	}
	heads, err := leaf.SignStreamHeads(leaf.StreamHeads{Origin: t.origin, Size: size, Hash: cp.Hash, Heads: []leaf.StreamHead{res.Head}}, t.signer)
	if err != nil {
		return res, err
	}
	sj, err := json.MarshalIndent(leaf.ScopeProof{Scope: req.Scope, TreeSize: size, First: first, End: end}, "", "  ")
	if err != nil {
		return res, err
	}
	for name, data := range map[string][]byte{leaf.BundleCheckpoint: signed, leaf.BundleHeads: heads, leaf.BundleScope: append(sj, '\n'),
		leaf.BundlePublicKey: []byte(t.vkey + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return res, err
		}
	}
	return res, nil
}

// writeGaps writes the gap proof of the leaves indices (increasing) in the tree of size size: the
// stored nodes of the compact ranges [0, i1), [i1+1, i2), …, [ik+1, size), in that order.
func (t *Tree) writeGaps(path string, indices []uint64, size uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 256<<10)
	nr := nodeReader{t: t}
	var ids []compact.NodeID
	var buf []byte
	gap := func(a, b uint64) error {
		ids = compact.RangeNodes(a, b, ids[:0])
		if buf, err = nr.appendNodes(buf[:0], ids); err != nil {
			return err
		}
		_, err := w.Write(buf)
		return err
	}
	next := uint64(0)
	for _, i := range indices {
		if err := gap(next, i); err != nil {
			return err
		}
		next = i + 1
	}
	if err := gap(next, size); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
