package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
	"github.com/freezeledger/freezeledger/httpapi"
	"github.com/freezeledger/freezeledger/projections"
	"github.com/freezeledger/freezeledger/projections/auditlog"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// ledger is everything serve, demo and rebuild wire together over one store.
type ledger struct {
	store eventstore.Store
	svc   *domain.Service
	reads *projections.ReadModels
	tree  *auditlog.Tree
	reg   *prometheus.Registry
}

// openStore opens the event store named by --store.
func (m *Main) openStore(ctx context.Context, log hclog.Logger) (eventstore.Store, error) {
	switch {
	case m.cfg.store == "" || m.cfg.store == "embedded":
		dir := StoreDir(m.cfg.dataDir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		// A record altered in the middle (a flipped bit, an edit) breaks the hash chain there, and
		// the server must refuse to start on it, naming where. VerifyOnOpen makes Open run all of
		// Verify's checks in the scan that rebuilds its index (the data is read once, the chain
		// hashed in parallel), so a failure here is an integrity failure unless ErrCorrupt is absent.
		start := time.Now()
		s, err := embedded.Open(dir, embedded.Options{Logger: log.Named("store"), UnsafeNoSync: m.UnsafeNoSync, Faults: m.StoreFaults, VerifyOnOpen: true})
		if errors.Is(err, eventstore.ErrCorrupt) {
			return nil, fmt.Errorf("the embedded store in %s fails its integrity check, refusing to start (nothing was changed; freezeledger verify --data-dir %s reports the same): %w", dir, m.cfg.dataDir, err)
		}
		if err != nil {
			return nil, fmt.Errorf("data directory %s: open its embedded store: %w", m.cfg.dataDir, err)
		}
		head, _ := s.Head(ctx)
		log.Info("event store verified: records and hash chain", "events", head.Commit, "duration", time.Since(start).Round(time.Millisecond))
		return s, nil
	case isESDB(m.cfg.store):
		return openESDB(ctx, m.cfg.store, m.loggerTo(m.Stderr).Named("esdb"))
	}
	return nil, fmt.Errorf("--store %q is neither embedded nor an EventStoreDB connection string (esdb://...)", m.cfg.store)
}

// openLedger opens the store, the command service, the read models and the audit tree (all closed by
// m.Close in reverse order). Nothing runs yet.
//
// Nothing is written to the data directory before the store has opened: a start that fails there
// (a store locked by another process, an EventStoreDB that cannot be reached) leaves a fresh data
// directory as absent as it was and a used one as it was.
func (m *Main) openLedger(ctx context.Context, log hclog.Logger) (*ledger, error) {
	if !dirExists(ProjectionsDir(m.cfg.dataDir)) || !dirExists(AuditDir(m.cfg.dataDir)) {
		// A fresh data directory: the read models and the tree have nothing to load, so there is
		// nothing to gain from opening them alongside the store, and they would create their
		// directories (and the tree its signing key) before the store had a chance to fail.
		store, err := m.openStore(ctx, log)
		if err != nil {
			return nil, err
		}
		return m.openOver(store, func() (*projections.ReadModels, *auditlog.Tree, error, error) {
			return m.openReadSide(store, log)
		})
	}
	// Opening the read models and the audit tree mostly loads their own files (the read models'
	// checkpoint: about a second at a million customers), so they are opened while the store is
	// opened and verified, through a reference whose methods wait for the store. Their log lines
	// are held until the store has opened, and dropped if it fails. Nothing runs or is served
	// unless all three succeed.
	held := newHeldWriter(m.Stderr)
	ref := newStoreRef()
	var (
		reads      *projections.ReadModels
		tree       *auditlog.Tree
		rerr, terr error
		opened     = make(chan struct{})
	)
	go func() {
		defer close(opened)
		reads, tree, rerr, terr = m.openReadSide(ref, m.loggerTo(held))
	}()
	store, err := m.openStore(ctx, log)
	ref.set(store, err)
	if err != nil {
		held.Drop()
		<-opened
		if reads != nil {
			reads.Close() // nothing was applied: it writes nothing
		}
		if tree != nil {
			tree.Close()
		}
		return nil, err
	}
	held.Release()
	return m.openOver(store, func() (*projections.ReadModels, *auditlog.Tree, error, error) {
		<-opened
		return reads, tree, rerr, terr
	})
}

// openReadSide opens the read models and then the audit tree over store.
func (m *Main) openReadSide(store eventstore.Store, log hclog.Logger) (reads *projections.ReadModels, tree *auditlog.Tree, rerr, terr error) {
	reads, rerr = projections.Open(store, ProjectionsDir(m.cfg.dataDir), projections.Options{
		Logger: log.Named("projections"), Clock: m.clock(), Retention: m.cfg.retention,
	})
	if rerr == nil {
		tree, terr = auditlog.OpenTree(AuditDir(m.cfg.dataDir), store, auditlog.Options{})
	}
	return reads, tree, rerr, terr
}

// openOver builds the ledger on an opened store and the read side readSide opens (or opened).
func (m *Main) openOver(store eventstore.Store, readSide func() (*projections.ReadModels, *auditlog.Tree, error, error)) (*ledger, error) {
	l := &ledger{reg: prometheus.NewRegistry(), store: store}
	m.onClose(l.store.Close)
	elog := newTimedLog(eventstore.DomainLog(l.store), l.reg)
	l.svc = domain.NewService(elog, domain.Options{
		Clock: m.clock(), Retention: m.cfg.retention, IdempotencyTTL: m.cfg.idemTTL,
		MaxLoadedChannels: m.cfg.maxLoaded, Snapshots: eventstore.NewFileSnapshots(SnapshotsDir(m.cfg.dataDir)),
		SnapshotEvery: m.SnapshotEvery,
		SnapshotError: func(stream string, err error) {
			if m.snapLog != nil {
				m.snapLog.Warn("channel snapshot", "stream", stream, "error", err)
			}
		},
	})
	reads, tree, rerr, terr := readSide()
	if rerr != nil {
		return nil, fmt.Errorf("open the read models: %w", rerr)
	}
	l.reads = reads
	m.onClose(l.reads.Close)
	if terr != nil {
		return nil, fmt.Errorf("open the audit tree: %w", terr)
	}
	l.tree = tree
	m.onClose(l.tree.Close)
	return l, nil
}

// dirExists reports whether path is an existing directory.
func dirExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// storeRef is the store as the read models and the audit tree hold it, so that they can be opened
// while the store is still being opened and verified: its methods wait until the store is open
// (or failed to open: they then fail with ErrUnavailable). Close is the store's owner's business.
type storeRef struct {
	ready chan struct{} // closed once store or err is set
	store eventstore.Store
	err   error
}

func newStoreRef() *storeRef { return &storeRef{ready: make(chan struct{})} }

func (r *storeRef) set(s eventstore.Store, err error) {
	r.store, r.err = s, err
	close(r.ready)
}

func (r *storeRef) get(ctx context.Context) (eventstore.Store, error) {
	select {
	case <-r.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: the event store did not open: %v", eventstore.ErrUnavailable, r.err)
	}
	return r.store, nil
}

func (r *storeRef) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	s, err := r.get(ctx)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.Append(ctx, stream, expected, events...)
}

func (r *storeRef) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, count int) ([]eventstore.RecordedEvent, error) {
	s, err := r.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.ReadStream(ctx, stream, dir, from, count)
}

func (r *storeRef) ReadAll(ctx context.Context, after eventstore.Position, count int) ([]eventstore.RecordedEvent, error) {
	s, err := r.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.ReadAll(ctx, after, count)
}

func (r *storeRef) SubscribeAll(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	s, err := r.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.SubscribeAll(ctx, after)
}

func (r *storeRef) Head(ctx context.Context) (eventstore.Position, error) {
	s, err := r.get(ctx)
	if err != nil {
		return eventstore.Position{}, err
	}
	return s.Head(ctx)
}

// Close does nothing: the store is closed by whoever opened it.
func (r *storeRef) Close() error { return nil }

// background runs the read models, the audit tree and the resource release loop until ctx is done;
// wait returns when all have stopped.
func (m *Main) background(ctx context.Context, l *ledger, log hclog.Logger) (wait func()) {
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				log.Error(name+" stopped", "error", err)
				return
			}
		}()
	}
	run("read models", l.reads.Run)
	run("audit tree", l.tree.Run)
	run("resource release", func(ctx context.Context) error { return m.releaseLoop(ctx, l.svc, log) })
	run("channel eviction", func(ctx context.Context) error { return m.evictLoop(ctx, l.svc) })
	return wg.Wait
}

// evictLoop evicts the channels unused for --channel-idle, checking every tenth of it (at most every
// minute).
func (m *Main) evictLoop(ctx context.Context, svc *domain.Service) error {
	idle := m.cfg.idle
	if idle <= 0 {
		idle = DefaultChannelIdle
	}
	t := time.NewTicker(min(idle/10, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			svc.EvictIdle(idle)
		}
	}
}

// releaseLoop appends customer.resources_released for every retention that ran out (rule 8), at
// start and then every ReleaseInterval.
func (m *Main) releaseLoop(ctx context.Context, svc *domain.Service, log hclog.Logger) error {
	every := m.ReleaseInterval
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := svc.ReleaseExpiredResources(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("releasing expired resources", "error", err)
		case n > 0:
			log.Info("released resources after retention", "customers", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// serve runs the HTTP service until ctx is done, then shuts down gracefully.
//
// What can fail is tried before anything is written: the flags were checked by ParseFlags, the
// socket is bound first, then the store is opened (openLedger writes nothing before it has), and
// only then are the principals created. So a start that fails (port in use, bad --listen, store
// locked or unreachable) leaves no data directory behind and keeps the one-time platform token for
// the start that succeeds.
func (m *Main) serve(ctx context.Context) error {
	out := &lockedWriter{w: m.Stderr} // one Write at a time: hclog's lines and the access log's batches
	log := m.loggerTo(out)
	m.snapLog = log.Named("domain")
	ln, err := listen(m.cfg.listen)
	if err != nil {
		return err
	}
	defer ln.Close() // after Serve has closed it, a second Close does nothing
	l, err := m.openLedger(ctx, log)
	if err != nil {
		return err
	}
	ps, err := m.loadOrInitPrincipals(m.cfg.principals, log)
	if err != nil {
		return err
	}
	registerLedgerMetrics(l, m.cfg.dataDir)

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	waitBG := m.background(bg, l, log)

	var access *httpapi.AccessLog
	if log.IsInfo() {
		access = httpapi.NewAccessLog(out, httpapi.AccessLogOptions{JSON: m.cfg.logFormat == "json", Name: "freezeledger.http"})
		defer access.Close() // after the http.Server has shut down: every line is out
	}
	srv, err := httpapi.New(httpapi.Options{
		Ledger: l.svc, Reads: l.reads, Audit: &auditAdapter{tree: l.tree, store: l.store},
		Principals: ps, Logger: log.Named("http"), AccessLog: access, Registry: l.reg, WaitTimeout: m.WaitTimeout,
		StreamWriteTimeout: m.StreamWriteTimeout,
		StoreReady:         func(ctx context.Context) error { _, err := l.store.Head(ctx); return err },
	})
	if err != nil {
		stopBG()
		waitBG()
		return err
	}
	reload := m.PrincipalsReload
	if reload <= 0 {
		reload = 2 * time.Second
	}
	go watchPrincipals(bg, m.cfg.principals, reload, srv, log)

	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	m.mu.Lock()
	m.addr = ln.Addr().String()
	m.server = srv
	m.led = l
	m.mu.Unlock()
	log.Info("serving", "addr", m.addr, "data_dir", m.cfg.dataDir, "store", m.cfg.store, "principals", m.cfg.principals)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	m.markReady(nil)

	select {
	case <-ctx.Done():
	case err = <-served:
	}
	log.Info("shutting down: no new connections, finishing requests in flight")
	timeout := m.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if serr := hs.Shutdown(sctx); serr != nil {
		log.Warn("shutdown: requests still in flight were cut", "error", serr)
		_ = hs.Close()
	}
	if access != nil {
		_ = access.Close() // the requests are done: their lines go out before the shutdown's
	}
	stopBG()
	waitBG()
	// Big channels leave a snapshot, so that the next start loads them from it (bounded like the
	// requests; a snapshot not written only makes that load slower).
	if serr := l.svc.SaveSnapshots(sctx); serr != nil {
		log.Warn("shutdown: channel snapshots not all written", "error", serr)
	}
	if cerr := m.Close(); cerr != nil {
		log.Error("closing", "error", cerr)
		if err == nil || errors.Is(err, http.ErrServerClosed) {
			err = cerr
		}
	}
	log.Info("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// rebuild rebuilds the read models from the first event of the store.
func (m *Main) rebuild(ctx context.Context) error {
	log := m.logger()
	if m.cfg.retention <= 0 {
		m.cfg.retention = domain.DefaultRetention
	}
	l, err := m.openLedger(ctx, log)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := l.reads.Rebuild(ctx); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "rebuilt the read models: %d events in %s (applied up to position %s)\n",
		l.reads.Events(), time.Since(start).Round(time.Millisecond), l.reads.Applied())
	return m.Close()
}

// registerLedgerMetrics registers the process, store and read-model metrics.
func registerLedgerMetrics(l *ledger, dataDir string) {
	l.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "freezeledger_loaded_channels",
			Help: "Channels whose state the command service holds in memory (at most --max-loaded-channels once evictions have run).",
		}, func() float64 { return float64(l.svc.LoadedChannels()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "freezeledger_projection_applied_events",
			Help: "Events applied by the read models.",
		}, func() float64 { return float64(l.reads.Events()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "freezeledger_projection_lag_events",
			Help: "Store head commit position minus the read models' applied commit position (embedded store: events not yet applied).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			head, err := l.store.Head(ctx)
			if err != nil {
				return -1
			}
			applied := l.reads.Applied()
			if applied.Commit >= head.Commit {
				return 0
			}
			return float64(head.Commit - applied.Commit)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "freezeledger_audit_tree_size",
			Help: "Leaves (events) in the audit Merkle tree.",
		}, func() float64 { return float64(l.tree.Size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "freezeledger_store_size_bytes",
			Help: "Bytes of the embedded store's files (0 for a remote store).",
		}, func() float64 { return float64(dirSize(StoreDir(dataDir))) }),
	)
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// timedLog is the domain's EventLog with append latency and append batch size metrics. It keeps
// domain.GlobalReader when the log has it (ReleaseExpiredResources uses it to find channels).
type timedLog struct {
	domain.EventLog
	latency prometheus.Histogram
	size    prometheus.Histogram
}

func newTimedLog(l domain.EventLog, reg *prometheus.Registry) domain.EventLog {
	t := &timedLog{
		EventLog: l,
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "freezeledger_append_duration_seconds",
			Help:    "Durable append latency as the command service sees it (one append per group of commands).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		size: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "freezeledger_append_events",
			Help:    "Events per append (the command service groups the commands of a channel into one append).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
		}),
	}
	reg.MustRegister(t.latency, t.size)
	if gr, ok := l.(domain.GlobalReader); ok {
		return timedGlobalLog{t, gr}
	}
	return t
}

func (t *timedLog) Append(ctx context.Context, stream string, expected int64, events []domain.NewEvent) (domain.Appended, error) {
	start := time.Now()
	a, err := t.EventLog.Append(ctx, stream, expected, events)
	if err == nil {
		t.latency.Observe(time.Since(start).Seconds())
		t.size.Observe(float64(len(events)))
	}
	return a, err
}

type timedGlobalLog struct {
	*timedLog
	gr domain.GlobalReader
}

func (t timedGlobalLog) ReadAll(ctx context.Context, after string, count int) ([]domain.StoredEvent, error) {
	return t.gr.ReadAll(ctx, after, count)
}

// auditAdapter serves the audit routes from the audit tree and the store.
type auditAdapter struct {
	tree  *auditlog.Tree
	store eventstore.Store
}

func sizeErr(err error) error {
	if errors.Is(err, auditlog.ErrSize) {
		return domain.Errorf(domain.CodeInvalid, "%v", err)
	}
	return err
}

// Events reads events after position after from the store and numbers them by the tree: only
// events the tree has indexed are returned (the tree follows the store within milliseconds).
func (a *auditAdapter) Events(ctx context.Context, after eventstore.Position, limit int, fn func(leaf.Event) error) error {
	size := a.tree.Size()
	next := uint64(0)
	if after != eventstore.Start {
		i, err := a.tree.IndexOf(after)
		if err != nil {
			return err
		}
		if i < size {
			p, err := a.tree.Position(i)
			if err != nil {
				return err
			}
			if p == after {
				i++
			}
		}
		next = i
	}
	sent := 0
	for next < size && (limit <= 0 || sent < limit) {
		page := 1024
		if limit > 0 {
			page = min(page, limit-sent)
		}
		page = int(min(uint64(page), size-next))
		recs, err := a.store.ReadAll(ctx, after, page)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		for _, rec := range recs {
			ev, err := auditlog.FromRecorded(rec, next)
			if err != nil {
				return err
			}
			if err := fn(ev); err != nil {
				return err
			}
			next++
			sent++
			after = rec.Position
		}
	}
	return nil
}

func (a *auditAdapter) Export(ctx context.Context, w io.Writer, format, from, to string) error {
	f, err := auditlog.ParseBound(from)
	if err != nil {
		return domain.Errorf(domain.CodeInvalid, "from: %v", err)
	}
	t, err := auditlog.ParseBound(to)
	if err != nil {
		return domain.Errorf(domain.CodeInvalid, "to: %v", err)
	}
	_, err = a.tree.Export(ctx, w, auditlog.ExportRequest{Format: auditlog.Format(format), From: f, To: t})
	return sizeErr(err)
}

func (a *auditAdapter) Checkpoint(ctx context.Context) ([]byte, error) {
	_, signed := a.tree.Checkpoint()
	if len(signed) == 0 {
		return nil, domain.Errorf(domain.CodeUnavailable, "no signed checkpoint yet")
	}
	return signed, nil
}

func (a *auditAdapter) WaitCheckpoint(ctx context.Context, size uint64) ([]byte, error) {
	_, signed, err := a.tree.WaitCheckpoint(ctx, size)
	return signed, err
}

func (a *auditAdapter) InclusionProof(index, treeSize uint64) ([][]byte, error) {
	h, err := a.tree.InclusionProof(index, treeSize)
	return h, sizeErr(err)
}

func (a *auditAdapter) ConsistencyProof(first, second uint64) ([][]byte, error) {
	h, err := a.tree.ConsistencyProof(first, second)
	return h, sizeErr(err)
}

func (a *auditAdapter) PublicKey() string { return a.tree.PublicKey() }
