package auditlog

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// WitnessOptions configure Witnesses.
type WitnessOptions struct {
	// Client sends the requests. Default: a client of its own with a 10 s timeout, whose idle
	// connections Run closes when it returns.
	Client *http.Client
	// MinBackoff and MaxBackoff bound the wait before a witness that did not answer (or answered
	// with an error) is asked again: it doubles from MinBackoff (default 100 ms) up to MaxBackoff
	// (default 30 s), and starts over after a cosignature.
	MinBackoff, MaxBackoff time.Duration
	// Keep is how many recent checkpoints' cosignatures are kept (default 64).
	Keep int
	// Logger logs refusals (warnings) and failures (debug, then a warning when a witness that was
	// cosigning stops). Default: none.
	Logger hclog.Logger
}

// WitnessStatus is one witness's state, for metrics and logs.
type WitnessStatus struct {
	Name string
	// CosignedSize is the size of the latest checkpoint it cosigned in this process (0: none yet).
	CosignedSize uint64
	// Good: its latest answer was a cosignature (it counts in the choice of the served checkpoint).
	Good bool
	// Cosignatures, Refusals and Failures count its answers since start: cosigned; refused (422, an
	// inconsistent checkpoint; 403 or 404, an unknown log or key; or a witness ahead of the log);
	// no usable answer (down, timeouts, other statuses, invalid cosignatures).
	Cosignatures, Refusals, Failures uint64
	LastError                        string // the latest refusal or failure, "" after a cosignature
}

// Witnesses sends each new signed checkpoint of a tree to witnesses (C2SP tlog-witness) and keeps
// their cosignatures (C2SP tlog-cosignature). Each witness is served by its own goroutine: it sends
// the latest checkpoint with a consistency proof from the size the witness last cosigned (learnt
// from a 409 answer when not known, e.g. after a restart), then waits for the next checkpoint. A
// witness that is down is retried with backoff (WitnessOptions) with whatever checkpoint is latest
// then, so nothing queues up: memory is bounded whatever the witnesses do. The log never waits for
// a witness: checkpoints are signed and served as before, and cosignatures are added when they come.
//
// Methods are safe for concurrent use with Run and with each other.
type Witnesses struct {
	tree   *Tree
	ws     []Witness
	opts   WitnessOptions
	client *http.Client
	own    *http.Transport // the default client's transport, closed by Run

	mu      sync.Mutex
	store   cosignatureStore
	state   []WitnessStatus
	done    []uint64      // per witness, the largest checkpoint size it answered for (or was found past)
	changed chan struct{} // closed and replaced at every answer
	// The checkpoint Checkpoint served last (as the log signed it) and its size.
	served     []byte
	servedSize uint64
}

// NewWitnesses prepares the witnessing of tree's checkpoints by ws (names must be distinct). Call Run.
func NewWitnesses(tree *Tree, ws []Witness, opts WitnessOptions) (*Witnesses, error) {
	seen := map[string]bool{}
	for _, w := range ws {
		if w.Key == nil || w.URL == "" {
			return nil, fmt.Errorf("witness %q: no URL or key", w.Name)
		}
		if seen[w.Name] {
			return nil, fmt.Errorf("witness %q is given twice", w.Name)
		}
		seen[w.Name] = true
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(opts.MinBackoff, 30*time.Second)
	}
	if opts.Keep <= 0 {
		opts.Keep = 64
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	w := &Witnesses{tree: tree, ws: ws, opts: opts, client: opts.Client, changed: make(chan struct{}),
		store: cosignatureStore{witnesses: len(ws), keep: opts.Keep}, state: make([]WitnessStatus, len(ws)), done: make([]uint64, len(ws))}
	if w.client == nil {
		w.own = http.DefaultTransport.(*http.Transport).Clone()
		w.client = &http.Client{Transport: w.own, Timeout: 10 * time.Second}
	}
	for i, x := range ws {
		w.state[i].Name = x.Name
	}
	return w, nil
}

// Run witnesses checkpoints until ctx is done, then returns nil. Only one Run at a time.
func (w *Witnesses) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range w.ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.runOne(ctx, i)
		}()
	}
	wg.Wait()
	if w.own != nil {
		w.own.CloseIdleConnections()
	}
	return nil
}

// maxConflicts is how many 409 answers in a row are followed at once before backing off (a witness
// whose size keeps changing under us is being fed by someone else too).
const maxConflicts = 3

// runOne serves witness i until ctx is done.
func (w *Witnesses) runOne(ctx context.Context, i int) {
	wit := w.ws[i]
	log := w.opts.Logger.With("witness", wit.Name, "url", wit.URL)
	var (
		known     uint64 // the size the witness has of this log, as far as we know (0: unknown)
		next      uint64 // the least checkpoint size worth sending
		backoff   time.Duration
		conflicts int
	)
	for {
		cp, signed, err := w.tree.WaitCheckpoint(ctx, max(next, 1))
		if err != nil {
			return
		}
		if known > cp.Size {
			w.refused(i, cp.Size, fmt.Sprintf("the witness has cosigned size %d of this log, beyond its checkpoint of size %d: the log was rolled back, or another log signs with its key", known, cp.Size))
			log.Warn("witness is ahead of the log", "witness_size", known, "checkpoint_size", cp.Size)
			next = known
			continue
		}
		var proof [][]byte
		if known > 0 && known < cp.Size {
			if proof, err = w.tree.ConsistencyProof(known, cp.Size); err != nil {
				w.failed(i, cp.Size, fmt.Sprintf("consistency proof %d to %d: %v", known, cp.Size, err))
				log.Error("consistency proof for the witness", "from", known, "to", cp.Size, "error", err)
				if !sleep(ctx, w.opts.MaxBackoff) {
					return
				}
				continue
			}
		}
		out := addCheckpoint(ctx, w.client, wit, known, proof, signed)
		if ctx.Err() != nil {
			return
		}
		switch {
		case out.err == nil && out.refused == "" && !out.conflict:
			w.cosigned(i, cp.Size, signed, out.cosig)
			known, next, backoff, conflicts = cp.Size, cp.Size+1, 0, 0
			continue
		case out.conflict && conflicts < maxConflicts:
			log.Debug("witness has another size of the log", "sent_old", known, "witness_size", out.known)
			known, next = out.known, 0
			conflicts++
			continue
		case out.refused != "":
			w.refused(i, cp.Size, out.refused)
			log.Warn("witness refused the checkpoint", "size", cp.Size, "old", known, "reason", out.refused)
			conflicts = 0
			if out.status == http.StatusUnprocessableEntity {
				next = cp.Size + 1 // the same checkpoint would be refused again: wait for the next
				continue
			}
			backoff = w.opts.MaxBackoff // an unknown log or key: the witness's operator must act
		default:
			why := "409 Conflict answers keep changing the witness's size"
			if out.err != nil {
				why = out.err.Error()
			}
			if w.failed(i, cp.Size, why) {
				log.Warn("witness stopped cosigning; retrying with backoff", "error", why)
			} else {
				log.Debug("witness failed", "error", why)
			}
			conflicts = 0
			backoff = min(max(2*backoff, w.opts.MinBackoff), w.opts.MaxBackoff)
		}
		next = 0
		if !sleep(ctx, backoff) {
			return
		}
	}
}

// sleep waits d or until ctx is done; false if ctx is done.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (w *Witnesses) cosigned(i int, size uint64, signed []byte, c leaf.Cosignature) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.store.add(i, size, signed, c.Line)
	st := &w.state[i]
	st.CosignedSize, st.Good, st.LastError = size, true, ""
	st.Cosignatures++
	w.answeredLocked(i, size)
}

func (w *Witnesses) refused(i int, size uint64, why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := &w.state[i]
	st.Good, st.LastError = false, why
	st.Refusals++
	w.answeredLocked(i, size)
}

// failed records a failure; it reports whether the witness was in good standing until now.
func (w *Witnesses) failed(i int, size uint64, why string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := &w.state[i]
	was := st.Good
	st.Good, st.LastError = false, why
	st.Failures++
	w.answeredLocked(i, size)
	return was
}

func (w *Witnesses) answeredLocked(i int, size uint64) {
	w.done[i] = max(w.done[i], size)
	close(w.changed)
	w.changed = make(chan struct{})
}

// Status returns every witness's state, in the order given to NewWitnesses.
func (w *Witnesses) Status() []WitnessStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]WitnessStatus(nil), w.state...)
}

// Checkpoint is the checkpoint to serve (GET /v1/audit/checkpoint), as a signed note with every
// cosignature held for it added after the log's own signature line (docs/AUDIT.md, "Witnesses"):
// the newest checkpoint cosigned by every witness in good standing (whose latest answer was a
// cosignature); if there is none (no witness in good standing, or they are still answering), the
// tree's latest checkpoint with whatever cosignatures it has. Its size never decreases: a choice
// older than a checkpoint served before gives that one again. Nil before the tree has signed anything.
func (w *Witnesses) Checkpoint() []byte {
	latestCp, latest := w.tree.Checkpoint()
	w.mu.Lock()
	defer w.mu.Unlock()
	good := make([]bool, len(w.state))
	for i, st := range w.state {
		good[i] = st.Good
	}
	size, signed := latestCp.Size, latest
	if c := w.store.choose(good); c != nil {
		size, signed = c.size, c.signed
	}
	if size < w.servedSize {
		size, signed = w.servedSize, w.served
	}
	if len(signed) == 0 {
		return nil
	}
	w.servedSize, w.served = size, signed
	if c := w.store.find(size); c != nil && bytes.Equal(noteText(c.signed), noteText(signed)) {
		return leaf.AddSignatureLines(signed, c.held())
	}
	return signed
}

// Cosign returns the signed checkpoint with the cosignatures its witnesses give it: it waits until
// every witness in good standing (or yet to answer since start) has answered for that checkpoint or
// a later one, or until ctx is done, and then returns the note with every cosignature held for it (none if the checkpoint is
// not one of this tree's recent ones). It never fails: a checkpoint without cosignatures is still
// the log's signed checkpoint.
func (w *Witnesses) Cosign(ctx context.Context, signed []byte) []byte {
	cp, err := leaf.ParseCheckpoint(noteText(signed))
	if err != nil {
		return signed
	}
	for {
		w.mu.Lock()
		settled := true
		c := w.store.find(cp.Size)
		for i, st := range w.state {
			pending := st.Cosignatures+st.Refusals+st.Failures == 0 // no answer yet since start
			if (st.Good || pending) && w.done[i] < cp.Size {
				settled = false
			}
		}
		changed := w.changed
		var out []byte
		if c != nil && bytes.Equal(noteText(c.signed), noteText(signed)) {
			out = leaf.AddSignatureLines(signed, c.held())
		}
		w.mu.Unlock()
		if settled || ctx.Err() != nil {
			if out == nil {
				return signed
			}
			return out
		}
		select {
		case <-ctx.Done():
		case <-changed:
		}
	}
}

// WaitCosigned waits until the served checkpoint (Checkpoint) covers at least size leaves and
// carries at least n cosignatures, and returns it, or ctx's error.
func (w *Witnesses) WaitCosigned(ctx context.Context, size uint64, n int) ([]byte, error) {
	for {
		w.mu.Lock()
		changed := w.changed
		w.mu.Unlock()
		signed := w.Checkpoint()
		if checkpointSize(signed) >= size && countLines(signed)-1 >= n {
			return signed, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// checkpointSize is the tree size of a signed checkpoint note (0 if it does not parse).
func checkpointSize(signed []byte) uint64 {
	cp, err := leaf.ParseCheckpoint(noteText(signed))
	if err != nil {
		return 0
	}
	return cp.Size
}

// noteText is a signed note's text (up to and including the newline before the blank line).
func noteText(signed []byte) []byte {
	if i := bytes.LastIndex(signed, []byte("\n\n")); i >= 0 {
		return signed[:i+1]
	}
	return signed
}

// countLines counts a note's signature lines.
func countLines(signed []byte) int {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return 0
	}
	return bytes.Count(signed[i+2:], []byte("\n"))
}
