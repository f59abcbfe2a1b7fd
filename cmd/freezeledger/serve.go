package main

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/freezeledger/freezeledger/httpapi/console"
	"github.com/freezeledger/freezeledger/httpapi/webhook"
	"github.com/freezeledger/freezeledger/internal/keystore"
	"github.com/freezeledger/freezeledger/projections"
	"github.com/freezeledger/freezeledger/projections/auditlog"
)

// ledger is everything serve, demo and rebuild wire together over one store.
type ledger struct {
	store eventstore.Store
	svc   *domain.Service
	reads *projections.ReadModels
	tree  *auditlog.Tree
	reg   *prometheus.Registry
	hooks *webhook.Manager // serve only
	keys  *keystore.Store  // rule 21's data keys (personal_keys.go)
	// witnesses cosign the tree's checkpoints (serve --witness); nil without witnesses.
	witnesses *auditlog.Witnesses
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
	ref := eventstore.NewPending()
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
	ref.Set(store, err)
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
	m.keys, rerr = m.openKeys(context.Background(), store, log.Named("keys"))
	if rerr != nil {
		return nil, nil, rerr, nil
	}
	reads, rerr = projections.Open(store, ProjectionsDir(m.cfg.dataDir), projections.Options{
		Logger: log.Named("projections"), Clock: m.clock(), Retention: m.cfg.retention, Currency: m.cfg.currency,
		PersonalKeys: m.keys,
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
	elog := eventstore.DomainLogObserved(l.store, appendMetrics(l.reg))
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
	l.keys = m.keys
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
	if l.witnesses != nil {
		run("witnesses", l.witnesses.Run)
	}
	run("resource release", func(ctx context.Context) error { return m.releaseLoop(ctx, l.svc, log) })
	if l.hooks != nil {
		run("webhooks", l.hooks.Run)
	}
	run("erased key sweep", func(ctx context.Context) error { return sweepErasedKeys(ctx, l, log.Named("keys")) })
	run("disassociation lapse", func(ctx context.Context) error { return m.lapseLoop(ctx, l.svc, log) })
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

// releaseLoop appends customer.resources_released for every retention that ran out (rule 8) and
// resets the monthly budgets whose month ended (rule 17), at start and then every ReleaseInterval.
func (m *Main) releaseLoop(ctx context.Context, svc *domain.Service, log hclog.Logger) error {
	return every(ctx, m.sweepInterval(), log,
		sweep{run: svc.ReleaseExpiredResources, failed: "releasing expired resources", done: "released resources after retention", unit: "customers"},
		// Rule 17's monthly reset, decided by the domain from its clock like the release.
		sweep{run: svc.ResetBudgets, failed: "resetting monthly budgets", done: "reset monthly budgets", unit: "budgets"})
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
	if err := m.openWebhooks(l, log); err != nil {
		return err
	}
	registerLedgerMetrics(l, m.cfg.dataDir)
	if l.witnesses, err = openWitnesses(m.cfg.witnesses, l, log); err != nil {
		return err
	}
	verif, err := m.openVerification()
	if err != nil {
		return err
	}
	defer verif.Close()

	streamsDone := make(chan struct{}) // closed when shutdown starts: change feed streams end
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	waitBG := m.background(bg, l, log)

	var access *httpapi.AccessLog
	if log.IsInfo() {
		access = httpapi.NewAccessLog(out, httpapi.AccessLogOptions{JSON: m.cfg.logFormat == "json", Name: "freezeledger.http"})
		defer access.Close() // after the http.Server has shut down: every line is out
	}
	srv, err := httpapi.New(httpapi.Options{
		Ledger: l.svc, Reads: l.reads, Audit: &auditlog.EventSource{Tree: l.tree, Store: l.store, Witnesses: l.witnesses},
		Principals: ps, Logger: log.Named("http"), AccessLog: access, Registry: l.reg, WaitTimeout: m.WaitTimeout, Personal: l.keys,
		StreamWriteTimeout: m.StreamWriteTimeout, Verification: verif,
		StoreReady: func(ctx context.Context) error { _, err := l.store.Head(ctx); return err },
		Feed:       m.feedOptions(l, streamsDone),
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
	con, err := console.New(console.Options{API: srv, Identify: srv.Identify, Logger: log.Named("console")})
	if err != nil {
		stopBG()
		waitBG()
		return err
	}

	hs := &http.Server{
		Handler:           console.Mount(srv, con),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	hs.RegisterOnShutdown(func() { close(streamsDone) })
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

// appendMetrics registers the append latency and append batch size histograms in reg and returns the
// observer that feeds them (eventstore.DomainLogObserved).
func appendMetrics(reg *prometheus.Registry) eventstore.AppendObserver {
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "freezeledger_append_duration_seconds",
		Help:    "Durable append latency as the command service sees it (one append per group of commands).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	size := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "freezeledger_append_events",
		Help:    "Events per append (the command service groups the commands of a channel into one append).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
	})
	reg.MustRegister(latency, size)
	return func(took time.Duration, events int) {
		latency.Observe(took.Seconds())
		size.Observe(float64(events))
	}
}
