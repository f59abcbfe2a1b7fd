package auditlog

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
	"runtime"
	"slices"
	"sync"

	"github.com/google/uuid"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// HistoryValidator replays the domain's rules over a log in global order; *domain.HistoryValidator
// (domain.NewHistoryValidator) is one.
type HistoryValidator interface {
	// Check checks the next event; an error says why it was not permitted at its position.
	Check(domain.StoredEvent) error
	// Finish reports what can only be judged at the end of the log.
	Finish() error
}

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
}

// ErrVerification: the export, checkpoint or proofs did not verify; the report lists why.
var ErrVerification = errors.New("verification failed")

// Verify checks an export against a signed checkpoint: the signature (and origin) with the public
// key; each line's leaf hash, recomputed from the line per the canonical form; the order of the
// lines (consecutive indices, increasing positions); the root of the recomputed tree against the
// checkpoint; an earlier checkpoint's consistency with it; and, with a validator, the domain rules.
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
	if err := v.previous(); err != nil {
		return rep, err
	}
	if err := v.lines(ctx); err != nil {
		return rep, err
	}
	v.finish()
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
	case prev.Size == v.cp.Size && !equalHash(prev.Hash, v.cp.Hash):
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
		lastPos eventstore.Position
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
			pos, err := eventstore.ParsePosition(f.Position)
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
	if ok && !equalHash(root, v.cp.Hash) {
		v.problem(Problem{What: fmt.Sprintf("the export's leaves do not hash to the checkpoint's root (tree size %d): an event was altered, removed, reordered or inserted", v.cp.Size)})
	}
	if v.prev == nil {
		return
	}
	if v.prevRoot != nil {
		if !equalHash(v.prevRoot, v.prev.Hash) {
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

// rebuildMetadata rebuilds the stored metadata of an export line: its metadata object with actor and
// time added back.
func rebuildMetadata(dst []byte, f leaf.Line) ([]byte, error) {
	meta := bytes.TrimSpace(f.Metadata)
	if !f.HasMetadata || len(meta) < 2 || meta[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	dst = append(dst, '{')
	if f.Actor != nil {
		dst = append(dst, `"actor":`...)
		dst = append(dst, f.Actor...)
		dst = append(dst, ',')
	}
	if f.RawTime != nil {
		dst = append(dst, `"time":`...)
		dst = append(dst, f.RawTime...)
		dst = append(dst, ',')
	}
	inner := bytes.TrimSpace(meta[1 : len(meta)-1])
	if len(inner) == 0 {
		dst = dst[:len(dst)-1]
		if len(dst) == 0 {
			dst = append(dst, '{')
		}
		return append(dst, '}'), nil
	}
	dst = append(dst, inner...)
	return append(dst, '}'), nil
}

// ReadBundle loads a bundle directory written by WriteBundle into a VerifyInput: the export (an
// open file: close it with the returned Closer), the checkpoint and the range proof. The public key
// is not taken from the bundle: set PublicKey from a source the auditor trusts.
func ReadBundle(dir string) (VerifyInput, io.Closer, error) {
	var in VerifyInput
	b, err := leaf.OpenBundle(dir)
	if err != nil {
		return in, nil, err
	}
	in.Export, in.Checkpoint, in.Range = b.Events, b.Checkpoint, &b.Proof
	return in, b.Events, nil
}

func lineOrder(p Problem) int {
	if p.Line == 0 {
		return math.MaxInt
	}
	return p.Line
}

// ruleReplayer runs the domain's history validator in its own goroutine, on batches of events, so
// that the rule replay overlaps the hashing. Problems it finds are returned by close.
type ruleReplayer struct {
	val      HistoryValidator
	max      int
	batches  chan *ruleBatch
	free     chan *ruleBatch
	done     chan struct{}
	cur      *ruleBatch
	problems []Problem
	closed   bool
}

type ruleBatch struct {
	items []ruleItem
	arena []byte // the items' data and metadata
}

type ruleItem struct {
	p                                  Problem
	ev                                 domain.StoredEvent
	dataOff, dataEnd, metaOff, metaEnd int
}

const ruleBatchSize = 256

func newRuleReplayer(val HistoryValidator, max int) *ruleReplayer {
	r := &ruleReplayer{val: val, max: max, batches: make(chan *ruleBatch, 4), free: make(chan *ruleBatch, 6), done: make(chan struct{})}
	go r.run()
	return r
}

func (r *ruleReplayer) run() {
	defer close(r.done)
	for b := range r.batches {
		for i := range b.items {
			it := &b.items[i]
			it.ev.Data = b.arena[it.dataOff:it.dataEnd:it.dataEnd]
			it.ev.Metadata = b.arena[it.metaOff:it.metaEnd:it.metaEnd]
			if err := r.val.Check(it.ev); err != nil && len(r.problems) < r.max {
				it.p.What = "not permitted at its position: " + err.Error()
				r.problems = append(r.problems, it.p)
			}
		}
		select {
		case r.free <- b:
		default:
		}
	}
	if err := r.val.Finish(); err != nil {
		r.problems = append(r.problems, Problem{What: "end of the export: " + err.Error()})
	}
}

// add queues the event of line f (with its rebuilt metadata) for the replay.
func (r *ruleReplayer) add(p Problem, f leaf.Line, meta []byte) {
	if r.cur == nil {
		select {
		case r.cur = <-r.free:
			r.cur.items, r.cur.arena = r.cur.items[:0], r.cur.arena[:0]
		default:
			r.cur = &ruleBatch{items: make([]ruleItem, 0, ruleBatchSize)}
		}
	}
	b := r.cur
	id, _ := uuid.Parse(f.EventID)
	it := ruleItem{p: p, ev: domain.StoredEvent{ID: id, Type: f.Type, Stream: f.Stream, Revision: f.Revision, Position: f.Position}}
	it.dataOff = len(b.arena)
	b.arena = append(b.arena, f.Data...)
	it.dataEnd = len(b.arena)
	it.metaOff = len(b.arena)
	b.arena = append(b.arena, meta...)
	it.metaEnd = len(b.arena)
	b.items = append(b.items, it)
	if len(b.items) == ruleBatchSize {
		r.batches <- b
		r.cur = nil
	}
}

// close replays what is queued, runs the validator's Finish and returns the problems found. It may
// be called more than once.
func (r *ruleReplayer) close() []Problem {
	if !r.closed {
		r.closed = true
		if r.cur != nil && len(r.cur.items) > 0 {
			r.batches <- r.cur
		}
		close(r.batches)
		<-r.done
	}
	return r.problems
}

// parsedLine is one export line, parsed and hashed.
type parsedLine struct {
	line  int // 1-based
	empty bool
	f     leaf.Line // aliases the batch the line was read into
	leaf  [32]byte
	err   error
}

const verifyBatch = 512

type lineBatch struct {
	first int // line number of the first line
	arena []byte
	ends  []int
	out   []parsedLine
	done  chan struct{}
}

// parseLines reads JSON Lines from r, parses and hashes them in parallel batches, and calls fn with
// each line in order. It returns how many lines fn was called with and, after the last line, the read
// error (bufio.ErrTooLong for a line longer than 4 MiB). A few batches are in flight at a time:
// memory stays flat.
func parseLines(ctx context.Context, r io.Reader, fn func(*parsedLine) error) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	workers := max(1, min(runtime.GOMAXPROCS(0), 4))
	work := make(chan *lineBatch)
	order := make(chan *lineBatch, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lp leaf.LineParser
			for b := range work {
				start := 0
				for k, end := range b.ends {
					raw := b.arena[start:end:end]
					start = end
					pl := parsedLine{line: b.first + k}
					if len(bytes.TrimSpace(raw)) == 0 {
						pl.empty = true
					} else {
						pl.f, pl.leaf, pl.err = lp.Parse(raw)
					}
					b.out = append(b.out, pl)
				}
				close(b.done)
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(work)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		newBatch := func(first int) *lineBatch {
			return &lineBatch{first: first, ends: make([]int, 0, verifyBatch), out: make([]parsedLine, 0, verifyBatch), done: make(chan struct{})}
		}
		send := func(b *lineBatch) bool {
			select {
			case order <- b:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- b:
				return true
			case <-ctx.Done():
				return false
			}
		}
		line := 0
		b := newBatch(1)
		for sc.Scan() {
			line++
			b.arena = append(b.arena, sc.Bytes()...)
			b.ends = append(b.ends, len(b.arena))
			if len(b.ends) == verifyBatch {
				if !send(b) {
					readErr <- ctx.Err()
					return
				}
				b = newBatch(line + 1)
			}
		}
		if len(b.ends) > 0 && !send(b) {
			readErr <- ctx.Err()
			return
		}
		readErr <- sc.Err()
	}()
	defer func() {
		cancel() // stops the reader, which closes work, which stops the workers
		wg.Wait()
	}()
	n := 0
	for b := range order {
		select {
		case <-b.done:
		case <-ctx.Done():
			return n, ctx.Err()
		}
		for i := range b.out {
			n++
			if err := fn(&b.out[i]); err != nil {
				return n, err
			}
		}
	}
	return n, <-readErr
}
