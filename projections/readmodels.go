// Package projections is freezeledger's read side: in-memory read models fed by a subscription to
// the event store (eventstore.Store.SubscribeAll), answering the questions of docs/HTTP-API.md:
//
//   - customer status with the partner cascade of rule 7 (CustomerStatus);
//   - operation permissions per DOMAIN.md's table, both billing modes, with each denial's reason, and
//     marketplace products per rule 9 (Operations, CheckOperation, ProductKinds);
//   - partners with frozen, effective_frozen and delegation (Partner);
//   - customer search with the API's filters and stable cursors (SearchCustomers);
//   - history per customer, per partner and per actor, oldest first (History);
//   - all of status, operations and partners as of a past time or log position (AsOf), equal to the
//     read models built from the log prefix up to that moment;
//   - read-your-writes (WaitFor) and lag (Applied, Head);
//   - checkpoints in a directory, so that a restart does not replay the log from zero (Open), and a
//     full rebuild (Rebuild), also forced by a change of ProjectionVersion.
//
// Every event received gets a leaf index: the number of events before it in the subscription's
// global order, reservation events included. It is the audit Merkle tree's leaf index
// (projections/auditlog), shown as "index" in history.
//
// Concurrency: all methods are safe for concurrent use. Reads take a shared lock and never wait for
// the store, except History, which reads event bodies from the store after releasing the lock.
package projections

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

// ProjectionVersion is the version of the read models' derivation and checkpoint format. Changing
// it (whenever apply's meaning or the checkpoint layout changes) makes Open discard any checkpoint
// written by another version and rebuild from the log.
const ProjectionVersion = 7

// Options configure Open. The zero value is usable.
type Options struct {
	// Logger receives warnings (undecodable events, subscription errors, checkpoint failures). Nil
	// discards them.
	Logger hclog.Logger
	// Clock times checkpoints (CheckpointInterval). Nil is the wall clock.
	Clock domain.Clock
	// Retention is the resource retention period (rule 8), used to display the retention deadline
	// of an ACCOUNT_AND_RESOURCE freeze whose event carries none. Default 15 days.
	Retention time.Duration
	// Currency is the deployment's one currency, shown wherever money is (default USD).
	Currency string
	// CheckpointEvery writes a checkpoint after this many events applied since the last one
	// (default 200,000); CheckpointInterval after this long with any event applied (default 1 min).
	// Past 10 × CheckpointEvery events, both wait for a tenth of the events held to be new.
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// PersonalKeys opens sealed personal data (rule 21); nil shows none. Open refuses a checkpoint
	// whose sealed values name a key it does not know (ErrPersonalKeyMissing).
	PersonalKeys PersonalKeys
}

// DefaultRetention is rule 8's default retention period.
const DefaultRetention = 15 * 24 * time.Hour

// ReadModels holds the read models. Create it with Open, feed it with Run, release it with Close.
type ReadModels struct {
	store eventstore.Store
	dir   string
	opts  Options
	log   hclog.Logger

	mu     sync.RWMutex
	st     *state
	gen    uint64        // bumped when Rebuild replaces st, so Run resubscribes
	notify chan struct{} // closed (and replaced) whenever events are applied or st is replaced
	dec    decoded       // scratch for apply, guarded by mu (write)
	closed bool
	cancel []context.CancelFunc // of running Runs, called by Close

	ckptMu      sync.Mutex   // serialises checkpoint writes
	sinceCkpt   atomic.Int64 // events applied since the last checkpoint
	lastCkptAt  time.Time    // guarded by mu
	ckptApplied eventstore.Position
	ckptBytes   atomic.Int64 // size of the last checkpoint written, to size the next one's buffer

	changeSets changeCache // the change feed's items of recent events, shared by its readers
}

// Open loads the read models from the checkpoint in dir (created if missing) if there is one of
// this ProjectionVersion that matches store, and otherwise starts empty (Run then replays the log).
// A checkpoint that is unreadable, of another version, or ahead of or different from the store is
// logged and ignored: the read models are derived data and are rebuilt from the log.
func Open(store eventstore.Store, dir string, opts Options) (*ReadModels, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Clock == nil {
		opts.Clock = domain.SystemClock{}
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Currency == "" {
		opts.Currency = "USD"
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 200_000
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = time.Minute
	}
	m := &ReadModels{store: store, dir: dir, opts: opts, log: opts.Logger, notify: make(chan struct{})}
	st, err := m.loadCheckpoint()
	if err != nil {
		return nil, err
	}
	if st == nil {
		st = newState()
	}
	st.clock, st.currency = opts.Clock, opts.Currency
	st.keys = opts.PersonalKeys
	if err := st.unsealAll(); err != nil {
		return nil, fmt.Errorf("projections: the checkpoint's personal data: %w", err)
	}
	m.st = st
	m.ckptApplied = st.applied()
	m.lastCkptAt = opts.Clock.Now()
	return m, nil
}

// Run feeds the read models from the store until ctx is done or Close is called (then it returns
// nil). It catches up by reading pages of the store, then subscribes after the last applied event;
// on an error it logs, waits (50 ms, doubling up to 5 s while no event gets applied) and starts
// again from where it stopped. It writes checkpoints as configured.
// It returns an error only if the store is closed.
func (m *ReadModels) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.cancel = append(m.cancel, cancel)
	m.mu.Unlock()
	const minBackoff, maxBackoff = 50 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	for {
		m.mu.RLock()
		gen, after, closed := m.gen, m.st.applied(), m.closed
		m.mu.RUnlock()
		if closed || ctx.Err() != nil {
			return nil
		}
		start := after
		err := m.catchUp(ctx)
		var sub eventstore.Subscription
		if err == nil {
			m.mu.RLock()
			gen, after = m.gen, m.st.applied()
			m.mu.RUnlock()
			sub, err = m.store.SubscribeAll(ctx, after)
		}
		if err == nil {
			err = m.consume(ctx, sub, gen)
			sub.Close()
			if err == nil { // Rebuild replaced the state: resubscribe at once
				backoff = minBackoff
				continue
			}
		}
		if ctx.Err() != nil || m.isClosed() {
			return nil
		}
		if errors.Is(err, eventstore.ErrClosed) {
			return fmt.Errorf("projections: store closed: %w", err)
		}
		if m.Applied() != start { // progress since the last failure: the fault is not persistent
			backoff = minBackoff
		}
		m.log.Warn("projections: subscription failed, resubscribing", "after", m.Applied().String(), "error", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// consume applies batches from sub until an error (returned) or a Rebuild (nil).
func (m *ReadModels) consume(ctx context.Context, sub eventstore.Subscription, gen uint64) error {
	for {
		evs, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		if !m.applyBatch(gen, evs) {
			return nil
		}
		m.maybeCheckpoint()
	}
}

func (m *ReadModels) isClosed() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.closed
}

// applyBatch applies evs unless the state was replaced since gen; it reports whether it did.
func (m *ReadModels) applyBatch(gen uint64, evs []eventstore.RecordedEvent) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen != gen {
		return false
	}
	n := m.applyLocked(m.st, evs)
	if n > 0 {
		m.sinceCkpt.Add(int64(n))
		close(m.notify)
		m.notify = make(chan struct{})
	}
	return true
}

// applyLocked applies evs to st, skipping any at or before st's applied position (a resubscription
// never duplicates, but this keeps the leaf numbering safe if a backend did).
func (m *ReadModels) applyLocked(st *state, evs []eventstore.RecordedEvent) int {
	n := 0
	for i := range evs {
		if st.pos.len() > 0 && !st.applied().Less(evs[i].Position) {
			continue
		}
		if err := st.apply(&evs[i], &m.dec); err != nil {
			m.log.Error("projections: event not applied (it keeps its leaf index)", "error", err)
		}
		n++
	}
	return n
}

// Close stops Run, writes a final checkpoint if events were applied since the last one, and
// releases the read models. It does not close the store.
func (m *ReadModels) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for _, c := range m.cancel {
		c()
	}
	close(m.notify)
	m.notify = make(chan struct{})
	m.mu.Unlock()
	return m.Checkpoint()
}

// Applied is the position of the last event the read models have applied (eventstore.Start if none).
func (m *ReadModels) Applied() eventstore.Position {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.st.applied()
}

// Events is the number of events applied (the next event's leaf index).
func (m *ReadModels) Events() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return uint64(m.st.leaves())
}

// Head is the store's head position; with Applied it shows the read models' lag.
func (m *ReadModels) Head(ctx context.Context) (eventstore.Position, error) {
	return m.store.Head(ctx)
}

// Ready returns nil when the read models have applied everything up to the store's head at the
// time of the call, and a *domain.Error with code unavailable otherwise.
func (m *ReadModels) Ready(ctx context.Context) error {
	head, err := m.store.Head(ctx)
	if err != nil {
		return domain.Errorf(domain.CodeUnavailable, "event store head: %v", err)
	}
	if applied := m.Applied(); applied.Less(head) {
		return domain.Errorf(domain.CodeUnavailable, "read models at position %s, store head at %s", applied, head)
	}
	return nil
}

// WaitFor returns nil once the read models have applied pos (at or after it), or ctx's error. The
// HTTP layer bounds ctx (5 s for min_position) and maps the timeout to 503 unavailable. After
// Close it returns a *domain.Error with code unavailable.
func (m *ReadModels) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for {
		m.mu.RLock()
		ok, ch, closed := !m.st.applied().Less(pos), m.notify, m.closed
		m.mu.RUnlock()
		if ok {
			return nil
		}
		if closed {
			return domain.Errorf(domain.CodeUnavailable, "read models closed before position %s was applied", pos)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// readPages calls fn with successive pages of the store's events after after, until the head at
// the time of the last read, or fn returns false. A goroutine reads the next page while fn applies
// the current one, so a catch-up uses both the store's and the read models' share of the CPU.
func (m *ReadModels) readPages(ctx context.Context, after eventstore.Position, fn func([]eventstore.RecordedEvent) bool) error {
	const page = 4096
	type result struct {
		evs []eventstore.RecordedEvent
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan result, 2)
	go func() {
		defer close(pages)
		for {
			evs, err := m.store.ReadAll(ctx, after, page)
			select {
			case pages <- result{evs, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(evs) == 0 {
				return
			}
			after = evs[len(evs)-1].Position
		}
	}()
	for r := range pages {
		if r.err != nil {
			return r.err
		}
		if len(r.evs) == 0 || !fn(r.evs) {
			return nil
		}
	}
	return ctx.Err()
}

// catchUp applies the events already in the store by reading pages (faster than a subscription's
// catch-up, as reading and applying overlap). It stops early if Rebuild replaces the state.
func (m *ReadModels) catchUp(ctx context.Context) error {
	m.mu.RLock()
	gen, after := m.gen, m.st.applied()
	m.mu.RUnlock()
	// No checkpoint per page: a first start over millions of events would write many growing
	// checkpoints. One is considered once caught up.
	err := m.readPages(ctx, after, func(evs []eventstore.RecordedEvent) bool {
		return m.applyBatch(gen, evs)
	})
	// Also when the catch-up ended early (ctx done, a read failed): what was applied is whole
	// batches, so it may be checkpointed, and a Run cancelled right after catching up loses nothing.
	m.maybeCheckpoint()
	return err
}

// Rebuild rebuilds the read models from the first event of the store. The current models keep
// serving until the new ones have caught up with the store; then they are swapped in at once, Run
// resubscribes from the new position, and a checkpoint is written.
func (m *ReadModels) Rebuild(ctx context.Context) error {
	fresh := newState()
	fresh.clock, fresh.currency = m.opts.Clock, m.opts.Currency
	fresh.keys = m.opts.PersonalKeys
	var dec decoded
	apply := func(evs []eventstore.RecordedEvent) bool {
		for i := range evs {
			if err := fresh.apply(&evs[i], &dec); err != nil {
				m.log.Error("projections: event not applied (it keeps its leaf index)", "error", err)
			}
		}
		return true
	}
	if err := m.readPages(ctx, eventstore.Start, apply); err != nil {
		return fmt.Errorf("projections: rebuild: read after %s: %w", fresh.applied(), err)
	}
	m.mu.Lock()
	// Catch up with what Run applied meanwhile, under the lock so nothing is missed at the swap.
	for fresh.applied().Less(m.st.applied()) {
		evs, err := m.store.ReadAll(ctx, fresh.applied(), 4096)
		if err != nil || len(evs) == 0 {
			m.mu.Unlock()
			return fmt.Errorf("projections: rebuild: catching up after %s: %v", fresh.applied(), err)
		}
		m.applyLocked(fresh, evs)
	}
	m.st = fresh
	m.gen++
	m.sinceCkpt.Add(1) // force the checkpoint below
	close(m.notify)
	m.notify = make(chan struct{})
	m.mu.Unlock()
	return m.Checkpoint()
}

// view resolves customer id at a: the caller holds m.mu (read).
func (m *ReadModels) viewLocked(id string, a AsOf) (view, error) {
	ci, ok := m.st.lookup(id)
	if !ok {
		return view{}, domain.Errorf(domain.CodeNotFound, "customer %q not found", id)
	}
	cut, err := m.st.cut(a)
	if err != nil {
		return view{}, err
	}
	v, ok := m.st.view(ci, cut)
	if !ok {
		return view{}, domain.Errorf(domain.CodeNotFound, "customer %q not found at that moment", id)
	}
	return v, nil
}

// Status returns customer id's status as of a (AsOf{} for now). Errors are *domain.Error: not_found
// for an unknown customer (or one associated after a), unavailable for a position not yet applied.
func (m *ReadModels) Status(id string, a AsOf) (CustomerStatus, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, err := m.viewLocked(id, a)
	if err != nil {
		return CustomerStatus{}, err
	}
	return m.st.status(&v, id, m.opts.Retention), nil
}

// Operations returns every operation's permission for customer id (DOMAIN.md's table), in
// OperationNames order. Errors as Status, plus invalid for an unknown billing mode or product.
func (m *ReadModels) Operations(id string, q OperationsQuery) (Operations, error) {
	mode, err := validateOpsQuery(&q)
	if err != nil {
		return Operations{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, err := m.viewLocked(id, q.AsOf)
	if err != nil {
		return Operations{}, err
	}
	out := Operations{CustomerID: id, BillingMode: q.BillingMode, Product: q.Product, EffectiveState: effectiveState(&v),
		Operations: make([]OperationCheck, len(OperationNames))}
	for i, op := range OperationNames {
		out.Operations[i] = m.st.check(&v, op, mode, q.Product)
	}
	return out, nil
}

// CheckOperation decides one operation for customer id. Errors as Operations, plus invalid for an
// unknown operation.
func (m *ReadModels) CheckOperation(id, op string, q OperationsQuery) (OperationCheck, error) {
	if opBit(op) == 0 {
		return OperationCheck{}, domain.Errorf(domain.CodeInvalid, "unknown operation %q", op)
	}
	mode, err := validateOpsQuery(&q)
	if err != nil {
		return OperationCheck{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, err := m.viewLocked(id, q.AsOf)
	if err != nil {
		return OperationCheck{}, err
	}
	return m.st.check(&v, op, mode, q.Product), nil
}

// Partner returns partner id as of a. Errors: not_found, unavailable (position not yet applied).
func (m *ReadModels) Partner(id string, a AsOf) (PartnerStatus, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	pi, ok := m.st.partnerIdx[id]
	if !ok {
		return PartnerStatus{}, domain.Errorf(domain.CodeNotFound, "partner %q not found", id)
	}
	cut, err := m.st.cut(a)
	if err != nil {
		return PartnerStatus{}, err
	}
	p, ok := m.st.partnerStatus(pi, cut)
	if !ok {
		return PartnerStatus{}, domain.Errorf(domain.CodeNotFound, "partner %q not found at that moment", id)
	}
	return p, nil
}

// DecodeErrors is the number of events that could not be applied (malformed, or about an unknown
// customer); each was logged with its position when applied.
func (m *ReadModels) DecodeErrors() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.st.decodeErrors
}
