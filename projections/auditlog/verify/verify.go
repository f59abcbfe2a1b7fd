package verify

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// hasher is the RFC 6962 SHA-256 hasher.
var hasher = rfc6962.DefaultHasher

var rangeFactory = compact.RangeFactory{Hash: hasher.HashChildren}

// VerifyInput is what the offline verifier checks: no server and no data directory are needed.
type VerifyInput struct {
	Export     io.Reader // the export, JSON Lines
	Checkpoint []byte    // a signed checkpoint
	PublicKey  string    // the log's verifier key, obtained independently of the export
	// Range ties the export to the checkpoint when it is not the whole tree of the checkpoint's size
	// (a bundle's proof.json). Without it the export must hold leaves 0 to the checkpoint's size.
	Range *leaf.RangeProof
	// Previous is an earlier signed checkpoint the auditor holds (optional). The log must have only
	// grown since: checked from the export's own leaves when they cover it from leaf 0, otherwise
	// with Consistency, the proof from GET /v1/audit/proof/consistency?first=<its size>&second=<the
	// checkpoint's size>.
	Previous    []byte
	Consistency [][]byte
	// Validator, if set, replays the domain rules; it needs the history from leaf 0.
	Validator HistoryValidator
	// MaxProblems stops after this many problems (default 20); the root and checkpoint checks are
	// reported in any case.
	MaxProblems int
	// Scope, for a scoped bundle (one with scope.json), replaces Range: the export holds the events
	// of a few streams, proved complete (docs/AUDIT.md, "Scoped bundles").
	Scope *ScopeInput
	// WitnessKeys are witnesses' cosignature verifier keys; the checkpoint must carry valid
	// cosignatures of at least WitnessThreshold of them (0: all of them). docs/AUDIT.md, "Witnesses".
	WitnessKeys      []string
	WitnessThreshold int
}

// Problem is one thing wrong with an export. Line is 1-based (0: not about one line).
type Problem struct {
	Line    int
	Index   uint64
	EventID string
	What    string
}

func (p Problem) String() string {
	if p.Line == 0 {
		return p.What
	}
	id := p.EventID
	if id == "" {
		id = "?"
	}
	return fmt.Sprintf("line %d (event %s, index %d): %s", p.Line, id, p.Index, p.What)
}

// VerifyReport is the verifier's result.
type VerifyReport struct {
	Checkpoint   leaf.Checkpoint
	Previous     *leaf.Checkpoint
	Lines        int
	First, End   uint64 // the leaves the export holds, by the first line's index and the line count
	RulesChecked bool   // the domain rules were replayed (a validator was given and the export starts at leaf 0)
	// RulesStoppedAt is the line at which the rule replay stopped because the export was found not
	// intact there (a replay past a missing or altered event only reports consequences); 0 if it
	// did not stop.
	RulesStoppedAt int
	Problems       []Problem
	// Scope is what a scoped bundle was found to prove (nil for other exports).
	Scope *ScopeReport
	// Witnesses is what the checkpoint's cosignatures were found to be (nil without witness keys).
	Witnesses *WitnessReport
}

// ErrVerification: the export, checkpoint or proofs did not verify; the report lists why.
var ErrVerification = errors.New("verification failed")

// Verify checks an export against a signed checkpoint: the signature (and origin) with the public
// key; each line's leaf hash, recomputed from the line per the canonical form; the order of the
// lines (consecutive indices, increasing positions); the root of the recomputed tree against the
// checkpoint; an earlier checkpoint's consistency with it; with witness keys, the checkpoint's
// cosignatures (WitnessKeys, WitnessThreshold); and, with a validator, the domain rules.
// Memory stays flat in the export's size. It returns ErrVerification (wrapped, with the problems'
// count) when anything is wrong, and another error when an input cannot be read at all.
func Verify(ctx context.Context, in VerifyInput) (VerifyReport, error) {
	var rep VerifyReport
	if in.MaxProblems <= 0 {
		in.MaxProblems = 20
	}
	cp, err := leaf.OpenCheckpoint(in.Checkpoint, in.PublicKey)
	if err != nil {
		rep.Problems = append(rep.Problems, Problem{What: "checkpoint: " + err.Error()})
		return rep, fmt.Errorf("%w: %s", ErrVerification, rep.Problems[0])
	}
	rep.Checkpoint = cp
	v := verifier{in: in, rep: &rep, cp: cp}
	v.witnesses()
	if err := v.previous(); err != nil {
		return rep, err
	}
	if in.Scope != nil {
		if err := v.scoped(ctx); err != nil {
			return rep, err
		}
	} else {
		if err := v.lines(ctx); err != nil {
			return rep, err
		}
		v.finish()
	}
	if len(rep.Problems) > 0 {
		more := ""
		if v.full {
			more = " (more were not listed)"
		}
		return rep, fmt.Errorf("%w: %d problem(s)%s, the first: %s", ErrVerification, len(rep.Problems), more, rep.Problems[0])
	}
	return rep, nil
}

type verifier struct {
	in       VerifyInput
	rep      *VerifyReport
	cp       leaf.Checkpoint
	prev     *leaf.Checkpoint
	prevRoot []byte // the root of the export's leaves at the previous checkpoint's size, if reached
	rng      *compact.Range
	full     bool // too many problems
	broken   bool // a line was found not intact
}

func (v *verifier) problem(p Problem) {
	if p.Line > 0 {
		v.broken = true
	}
	if len(v.rep.Problems) < v.in.MaxProblems {
		v.rep.Problems = append(v.rep.Problems, p)
	} else {
		v.full = true
	}
}

// previous opens the earlier checkpoint and checks what does not need the leaves.
func (v *verifier) previous() error {
	if v.in.Previous == nil {
		return nil
	}
	prev, err := leaf.OpenCheckpoint(v.in.Previous, v.in.PublicKey)
	if err != nil {
		v.problem(Problem{What: "earlier checkpoint: " + err.Error()})
		return nil
	}
	if prev.Origin != v.cp.Origin {
		v.problem(Problem{What: fmt.Sprintf("earlier checkpoint is of log %q, not %q", prev.Origin, v.cp.Origin)})
		return nil
	}
	v.prev = &prev
	v.rep.Previous = &prev
	switch {
	case prev.Size > v.cp.Size:
		v.problem(Problem{What: fmt.Sprintf("checkpoint rolled back: it covers %d events but an earlier checkpoint covered %d", v.cp.Size, prev.Size)})
		v.prev = nil
	case prev.Size == v.cp.Size && !bytes.Equal(prev.Hash, v.cp.Hash):
		v.problem(Problem{What: fmt.Sprintf("checkpoint forked: an earlier checkpoint of the same size %d has a different root", prev.Size)})
		v.prev = nil
	case prev.Size == v.cp.Size || prev.Size == 0:
		v.prev = nil // nothing more to check
	}
	return nil
}

func (v *verifier) lines(ctx context.Context) error {
	first := uint64(0)
	if v.in.Range != nil {
		first = v.in.Range.First
	}
	v.rep.First = first
	v.rng = rangeFactory.NewEmptyRange(first)
	rules := v.in.Validator != nil && first == 0
	v.rep.RulesChecked = rules
	var replay *ruleReplayer
	if rules {
		replay = newRuleReplayer(v.in.Validator, v.in.MaxProblems)
		defer replay.close()
	}
	if v.prev != nil && first == 0 && v.prev.Size == 0 {
		v.prevRoot = hasher.EmptyRoot()
	}

	var (
		expect  = first
		lastPos leaf.Position
		havePos bool
		beyond  bool
		metaBuf []byte
	)
	line, err := parseLines(ctx, v.in.Export, func(pl *parsedLine) error {
		line, f := pl.line, &pl.f
		if pl.empty {
			v.problem(Problem{Line: line, What: "empty line"})
			return nil
		}
		if pl.err != nil {
			v.problem(Problem{Line: line, Index: expect, What: "not an event: " + pl.err.Error()})
			expect++
			return nil
		}
		p := Problem{Line: line, Index: f.Index, EventID: f.EventID}
		if f.Redacted {
			v.problem(withWhat(p, "a redacted line (no event content): only a scoped bundle may hold one"))
		}
		inOrder := f.Index == expect
		if !inOrder {
			what := fmt.Sprintf("index %d where %d was expected: ", f.Index, expect)
			switch {
			case f.Index > expect:
				what += fmt.Sprintf("%d line(s) are missing before this one, or lines were reordered", f.Index-expect)
			default:
				what += "the line is out of order or repeated"
			}
			v.problem(Problem{Line: line, Index: f.Index, EventID: f.EventID, What: what})
		}
		// Resynchronise on the highest index seen, so that one moved or missing line is reported
		// once rather than for every line after it.
		expect = max(expect, f.Index+1)
		if f.Position != "" {
			pos, err := leaf.ParsePosition(f.Position)
			switch {
			case err != nil:
				v.problem(withWhat(p, "position: "+err.Error()))
			case inOrder && havePos && !lastPos.Less(pos):
				v.problem(withWhat(p, fmt.Sprintf("position %s does not follow the previous line's %s", pos, lastPos)))
			}
			if err == nil && (!havePos || lastPos.Less(pos)) {
				lastPos, havePos = pos, true
			}
		} else {
			v.problem(withWhat(p, "no position"))
		}
		lh := pl.leaf
		if got := base64.StdEncoding.EncodeToString(lh[:]); got != f.LeafHash {
			v.problem(withWhat(p, fmt.Sprintf("the event's content hashes to leaf %s but the line says %s: the line was altered", got, f.LeafHash)))
		}
		if v.rng.End() >= v.cp.Size {
			if !beyond {
				v.problem(withWhat(p, fmt.Sprintf("the line is beyond the checkpoint, which covers %d events: it is not covered by the signed log (an appended event?)", v.cp.Size)))
				beyond = true
			}
		} else {
			if err := v.rng.Append(lh[:], nil); err != nil {
				return err
			}
			if v.prev != nil && first == 0 && v.rng.End() == v.prev.Size {
				v.prevRoot, _ = v.rng.GetRootHash(nil)
			}
		}
		if rules && v.broken {
			rules = false
			v.rep.RulesStoppedAt = line
		}
		if rules {
			var err error
			metaBuf, err = rebuildMetadata(metaBuf[:0], *f)
			if err != nil {
				v.ruleProblem(withWhat(p, "metadata: "+err.Error()))
				return nil
			}
			replay.add(p, *f, metaBuf)
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("read export: %w", err)
		}
		v.problem(Problem{Line: line + 1, What: "line longer than 4 MiB"})
	}
	v.rep.Lines = line
	v.rep.End = first + uint64(line)
	if replay != nil {
		finish := rules // the whole export was replayed
		for _, p := range replay.close() {
			if p.Line == 0 && !finish {
				continue
			}
			v.rep.Problems = append(v.rep.Problems, p)
		}
		slices.SortStableFunc(v.rep.Problems, func(a, b Problem) int {
			return cmp.Compare(lineOrder(a), lineOrder(b))
		})
		if len(v.rep.Problems) > v.in.MaxProblems {
			v.rep.Problems = v.rep.Problems[:v.in.MaxProblems]
			v.full = true
		}
	}
	return nil
}

// ruleProblem records a domain rule violation: the line is intact, the event was not permitted.
func (v *verifier) ruleProblem(p Problem) {
	broken := v.broken
	v.problem(p)
	v.broken = broken
}

func withWhat(p Problem, what string) Problem { p.What = what; return p }

// finish checks the root and the earlier checkpoint.
func (v *verifier) finish() {
	v.in.MaxProblems = len(v.rep.Problems) + 3 // the whole-export checks are always reported
	root, ok := v.root()
	if ok && !bytes.Equal(root, v.cp.Hash) {
		v.problem(Problem{What: fmt.Sprintf("the export's leaves do not hash to the checkpoint's root (tree size %d): an event was altered, removed, reordered or inserted", v.cp.Size)})
	}
	v.checkPrevious()
}

// checkPrevious checks the earlier checkpoint against the export's leaves or the consistency proof.
func (v *verifier) checkPrevious() {
	if v.prev == nil {
		return
	}
	if v.prevRoot != nil {
		if !bytes.Equal(v.prevRoot, v.prev.Hash) {
			v.problem(Problem{What: fmt.Sprintf("the earlier checkpoint (tree size %d) does not match the export's first %d events: the log was rewritten since", v.prev.Size, v.prev.Size)})
		}
		return
	}
	if v.in.Consistency == nil {
		v.problem(Problem{What: fmt.Sprintf("cannot check the earlier checkpoint (tree size %d): the export does not hold its leaves from 0; give the consistency proof", v.prev.Size)})
		return
	}
	if err := proof.VerifyConsistency(hasher, v.prev.Size, v.cp.Size, v.in.Consistency, v.prev.Hash, v.cp.Hash); err != nil {
		v.problem(Problem{What: fmt.Sprintf("the checkpoint is not consistent with the earlier one (tree sizes %d and %d): %v", v.prev.Size, v.cp.Size, err)})
	}
}

// root merges the range proof's left and right parts with the export's leaves.
func (v *verifier) root() ([]byte, bool) {
	got := v.rng.End()
	if v.in.Range == nil {
		if got < v.cp.Size {
			v.problem(Problem{What: fmt.Sprintf("the export ends at index %d but the checkpoint covers %d events: %d event(s) are missing at the end (give the bundle's proof for a partial export)",
				int64(got)-1, v.cp.Size, v.cp.Size-got)})
			return nil, false
		}
		if got == 0 {
			return hasher.EmptyRoot(), true
		}
		r, err := v.rng.GetRootHash(nil)
		return r, err == nil
	}
	rp := v.in.Range
	if rp.TreeSize != v.cp.Size {
		v.problem(Problem{What: fmt.Sprintf("the range proof is for tree size %d, the checkpoint's is %d", rp.TreeSize, v.cp.Size)})
		return nil, false
	}
	if got != rp.End {
		v.problem(Problem{What: fmt.Sprintf("the export holds leaves %d to %d but the range proof covers %d to %d: %s", rp.First, int64(got)-1, rp.First, int64(rp.End)-1, missingOrExtra(got, rp.End))})
		return nil, false
	}
	left, err := rangeFactory.NewRange(0, rp.First, rp.Left)
	if err != nil {
		v.problem(Problem{What: "range proof, left part: " + err.Error()})
		return nil, false
	}
	right, err := rangeFactory.NewRange(rp.End, rp.TreeSize, rp.Right)
	if err != nil {
		v.problem(Problem{What: "range proof, right part: " + err.Error()})
		return nil, false
	}
	if err := left.AppendRange(v.rng, nil); err != nil {
		v.problem(Problem{What: "range proof: " + err.Error()})
		return nil, false
	}
	if err := left.AppendRange(right, nil); err != nil {
		v.problem(Problem{What: "range proof: " + err.Error()})
		return nil, false
	}
	if left.End() == 0 {
		return hasher.EmptyRoot(), true
	}
	r, err := left.GetRootHash(nil)
	return r, err == nil
}

func missingOrExtra(got, want uint64) string {
	if got < want {
		return fmt.Sprintf("%d line(s) are missing", want-got)
	}
	return fmt.Sprintf("%d line(s) were added", got-want)
}

func lineOrder(p Problem) int {
	if p.Line == 0 {
		return math.MaxInt
	}
	return p.Line
}
