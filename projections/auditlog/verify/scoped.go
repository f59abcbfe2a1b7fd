package verify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/transparency-dev/merkle/compact"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// ScopeInput is what a scoped bundle adds to its export and checkpoint.
type ScopeInput struct {
	Proof leaf.ScopeProof // scope.json
	Heads []byte          // the signed stream heads
	Gaps  io.Reader       // gaps.bin, the gap proof
}

// ScopeReport is what a verified scoped bundle proves: for each stream of the signed heads, its
// lines are the stream's consecutive revisions, every event of the stream with a leaf index in
// [First, End) of the checkpoint's tree is among them, and each line is that leaf of the tree.
type ScopeReport struct {
	Scope      string
	First, End uint64
	Streams    []StreamReport
}

// StreamReport is one stream of a scoped bundle.
type StreamReport struct {
	Head                        leaf.StreamHead // the signed head at the checkpoint's size
	Lines, Redacted             int
	FirstRevision, LastRevision uint64 // of its lines (when Lines > 0)
}

type streamState struct {
	rep              *StreamReport
	lastIdx, lastRev uint64
}

// scoped checks a scoped bundle: the signed heads, every line (leaf hash, order, stream, revision),
// the gap proof merged with the lines' leaves against the checkpoint's root, each stream's ends
// against its head and the range, and the earlier checkpoint (with the consistency proof).
func (v *verifier) scoped(ctx context.Context) error {
	sc := v.in.Scope
	n := v.cp.Size
	rep := &ScopeReport{Scope: sc.Proof.Scope, First: sc.Proof.First, End: sc.Proof.End}
	v.rep.Scope = rep
	heads, err := leaf.OpenStreamHeads(sc.Heads, v.in.PublicKey)
	if err != nil {
		v.problem(Problem{What: err.Error()})
		return nil
	}
	if heads.Size != n || !bytes.Equal(heads.Hash, v.cp.Hash) {
		v.problem(Problem{What: fmt.Sprintf("the stream heads are signed for tree size %d, the checkpoint is of size %d (or another root): they are not of the same tree", heads.Size, n)})
		return nil
	}
	if sc.Proof.TreeSize != n || sc.Proof.First > sc.Proof.End || sc.Proof.End > n {
		v.problem(Problem{What: fmt.Sprintf("scope.json: range [%d, %d) of tree size %d does not fit the checkpoint's tree size %d", sc.Proof.First, sc.Proof.End, sc.Proof.TreeSize, n)})
		return nil
	}
	first, end := sc.Proof.First, sc.Proof.End
	streams := map[string]*streamState{}
	rep.Streams = make([]StreamReport, len(heads.Heads))
	var names []string
	for i, h := range heads.Heads {
		rep.Streams[i].Head = h
		streams[h.Stream] = &streamState{rep: &rep.Streams[i]}
		names = append(names, h.Stream)
	}
	v.rep.First, v.rep.End = first, end

	gaps := bufio.NewReaderSize(sc.Gaps, 64<<10)
	rng := rangeFactory.NewEmptyRange(0)
	rootOK := true // false once a line could not be placed in the tree (its problem is reported)
	mergeGap := func(a, b uint64) error {
		k := compact.RangeSize(a, b)
		gapBuf := make([]byte, k*hashSize) // the range keeps the hashes: a fresh buffer per gap
		if _, err := io.ReadFull(gaps, gapBuf); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("gap proof: it ends before the gap [%d, %d)", a, b)
			}
			return err
		}
		hs := make([][]byte, k)
		for i := range hs {
			hs[i] = gapBuf[i*hashSize : (i+1)*hashSize]
		}
		g, err := rangeFactory.NewRange(a, b, hs)
		if err != nil {
			return fmt.Errorf("gap proof: %w", err)
		}
		return rng.AppendRange(g, nil)
	}
	var (
		lastIdx uint64
		any     bool
	)
	lines, err := parseLines(ctx, v.in.Export, func(pl *parsedLine) error {
		line, f := pl.line, &pl.f
		if pl.empty {
			v.problem(Problem{Line: line, What: "empty line"})
			return nil
		}
		if pl.err != nil {
			v.problem(Problem{Line: line, What: "not an event: " + pl.err.Error()})
			rootOK = false
			return nil
		}
		p := Problem{Line: line, Index: f.Index, EventID: f.EventID}
		if f.Redacted {
			p.EventID = "redacted"
		} else if got := base64.StdEncoding.EncodeToString(pl.leaf[:]); got != f.LeafHash {
			v.problem(withWhat(p, fmt.Sprintf("the event's content hashes to leaf %s but the line says %s: the line was altered", got, f.LeafHash)))
		}
		switch {
		case any && f.Index <= lastIdx:
			v.problem(withWhat(p, fmt.Sprintf("index %d after index %d: lines were reordered or repeated (a bundle's lines are in leaf order)", f.Index, lastIdx)))
			rootOK = false
			return nil
		case f.Index >= n:
			v.problem(withWhat(p, fmt.Sprintf("the line is beyond the checkpoint, which covers %d events: it is not covered by the signed log (an appended event?)", n)))
			rootOK = false
			return nil
		}
		if rootOK {
			var prevEnd uint64
			if any {
				prevEnd = lastIdx + 1
			}
			if err := mergeGap(prevEnd, f.Index); err != nil {
				v.problem(Problem{What: err.Error()})
				rootOK = false
			} else if err := rng.Append(pl.leaf[:], nil); err != nil {
				return err
			}
		}
		lastIdx, any = f.Index, true

		st := streams[f.Stream]
		if st == nil {
			v.problem(withWhat(p, fmt.Sprintf("stream %q is not in the bundle's scope (the signed heads name %v): an event from outside the scope", f.Stream, names)))
			return nil
		}
		r := st.rep
		switch {
		case r.Lines == 0:
			if f.Revision != 0 && f.Index >= first {
				v.problem(withWhat(p, fmt.Sprintf("%s: the stream's first line has revision %d, inside the range [%d, %d): revision %s missing (or the stream's last event before the range)",
					f.Stream, f.Revision, first, end, revRange(0, f.Revision-1))))
			}
			r.FirstRevision = f.Revision
		case f.Revision > st.lastRev+1:
			v.problem(withWhat(p, fmt.Sprintf("%s: revision %s missing: this line has revision %d, the stream's previous line revision %d",
				f.Stream, revRange(st.lastRev+1, f.Revision-1), f.Revision, st.lastRev)))
		case f.Revision <= st.lastRev:
			v.problem(withWhat(p, fmt.Sprintf("%s: revision %d after revision %d: lines were reordered or repeated", f.Stream, f.Revision, st.lastRev)))
		}
		if r.Lines > 0 && f.Index < first {
			v.problem(withWhat(p, fmt.Sprintf("%s: a second line before the range [%d, %d): only the stream's last event before the range belongs in the bundle", f.Stream, first, end)))
		}
		if r.Lines > 0 && st.lastIdx >= end {
			v.problem(withWhat(p, fmt.Sprintf("%s: a line after the stream's first event at or after the end of the range [%d, %d): it does not belong in the bundle", f.Stream, first, end)))
		}
		r.Lines++
		if f.Redacted {
			r.Redacted++
		}
		r.LastRevision = f.Revision
		st.lastIdx, st.lastRev = f.Index, f.Revision
		return nil
	})
	if err != nil {
		if !errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("read export: %w", err)
		}
		v.problem(Problem{Line: lines + 1, What: "line longer than 4 MiB"})
		rootOK = false
	}
	v.rep.Lines = lines
	v.in.MaxProblems = len(v.rep.Problems) + 2*len(streams) + 3 // the whole-bundle checks are always reported
	if rootOK {
		var prevEnd uint64
		if any {
			prevEnd = lastIdx + 1
		}
		if err := mergeGap(prevEnd, n); err != nil {
			v.problem(Problem{What: err.Error()})
		} else if _, err := gaps.ReadByte(); err == nil {
			v.problem(Problem{What: "gap proof: it has more hashes than the bundle's gaps need"})
		} else if root, err := rootOf(rng); err != nil || !bytes.Equal(root, v.cp.Hash) {
			v.problem(Problem{What: fmt.Sprintf("the bundle's leaves and gap proof do not hash to the checkpoint's root (tree size %d): an event was altered, added, removed or moved", n)})
		}
	}
	for _, h := range heads.Heads {
		st := streams[h.Stream]
		r := st.rep
		switch {
		case h.Empty && r.Lines > 0:
			v.problem(Problem{What: fmt.Sprintf("%s: the signed heads say the stream has no event in the tree of size %d, but the bundle has %d line(s) of it", h.Stream, n, r.Lines)})
		case h.Empty:
		case r.Lines == 0:
			v.problem(Problem{What: fmt.Sprintf("%s: the signed heads say its last event is revision %d at index %d, but the bundle has no line of it: revision %s missing", h.Stream, h.Revision, h.Index, revRange(0, h.Revision))})
		case st.lastIdx < end && st.lastRev < h.Revision:
			v.problem(Problem{What: fmt.Sprintf("%s: the bundle ends at revision %d (index %d) but the signed heads say the stream's last event is revision %d at index %d: revision %s missing at the end",
				h.Stream, st.lastRev, st.lastIdx, h.Revision, h.Index, revRange(st.lastRev+1, h.Revision))})
		case st.lastIdx < end && (st.lastRev != h.Revision || st.lastIdx != h.Index),
			st.lastIdx >= end && (st.lastRev > h.Revision || (st.lastRev == h.Revision && st.lastIdx != h.Index)):
			v.problem(Problem{What: fmt.Sprintf("%s: the bundle's last line, revision %d at index %d, disagrees with the signed head, revision %d at index %d", h.Stream, st.lastRev, st.lastIdx, h.Revision, h.Index)})
		}
	}
	v.checkPrevious()
	return nil
}

func revRange(a, b uint64) string {
	if a == b {
		return fmt.Sprintf("%d is", a)
	}
	return fmt.Sprintf("%d to %d are", a, b)
}

const hashSize = 32

func rootOf(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return hasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}
