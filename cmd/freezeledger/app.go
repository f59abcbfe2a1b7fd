package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/pflag"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
	"github.com/freezeledger/freezeledger/httpapi"
	"github.com/freezeledger/freezeledger/internal/keystore"
)

var errHelp = errors.New("help requested")

// Main is one invocation of freezeledger. Tests use it to start the real server:
//
//	m := &Main{Stdout: &out, Stderr: &errs}
//	err := m.ParseFlags([]string{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"})
//	go m.Run(ctx)          // serves until ctx is done, then shuts down gracefully
//	<-m.Ready()            // closed once listening (or once Run failed)
//	url := "http://" + m.Addr()
//	defer m.Close()
//
// Fields set before Run adjust what flags cannot.
type Main struct {
	Stdout, Stderr io.Writer
	// Clock is the domain's and read models' clock; nil is the system clock.
	Clock domain.Clock
	// ReleaseInterval is how often serve runs the domain's ReleaseExpiredResources (rule 8); default 1 min.
	ReleaseInterval time.Duration
	// UnsafeNoSync makes the embedded store skip fsync: NOT durable, for tests only.
	UnsafeNoSync bool
	// StoreFaults, if set, makes the embedded store's commits fail as a failing disk would
	// (embedded.Options.Faults): for reliability tests only.
	StoreFaults embedded.FaultInjector
	// WaitTimeout bounds min_position waits and write read-backs (default httpapi.DefaultWaitTimeout, 5 s).
	WaitTimeout time.Duration
	// StreamWriteTimeout cuts a streamed response whose client takes no chunk for this long
	// (default httpapi.DefaultStreamWriteTimeout, 10 s).
	StreamWriteTimeout time.Duration
	// PrincipalsReload is how often serve checks the principals file for changes (default 2 s).
	PrincipalsReload time.Duration
	// ShutdownTimeout bounds how long serve waits for in-flight requests on shutdown (default 30 s).
	ShutdownTimeout time.Duration
	// Feed adjusts the change feed and webhook deliveries (webhooks.go).
	Feed FeedConfig
	// SnapshotEvery is domain.Options.SnapshotEvery: the events a channel gains before an eviction
	// or a shutdown snapshots it again (default domain.DefaultSnapshotEvery).
	SnapshotEvery int

	cmd string
	cfg config

	readyOnce sync.Once
	ready     chan struct{}
	mu        sync.Mutex
	addr      string
	runErr    error
	closers   []func() error // run in reverse order by Close
	server    *httpapi.Server
	led       *ledger
	keys      *keystore.Store // opened with the read side (personal_keys.go)
	snapLog   hclog.Logger    // where the domain's snapshot problems are logged (serve sets it)
}

// DefaultMaxLoadedChannels and DefaultChannelIdle are serve's --max-loaded-channels and
// --channel-idle defaults (docs/SCALING.md).
const (
	DefaultMaxLoadedChannels = 1000
	DefaultChannelIdle       = time.Hour
)

type config struct {
	dataDir    string
	listen     string
	principals string
	store      string
	retention  time.Duration
	currency   string
	logFormat  string
	logLevel   string
	// webhookLoopback allows webhooks to plain http:// loopback URLs (local use and tests).
	webhookLoopback bool
	// masterKeyFile holds rule 21's master key (personal_keys.go); "" for the environment or the default
	masterKeyFile string
	witnesses     []string // serve --witness NAME=URL=VKEY
	idemTTL       time.Duration
	maxLoaded     int
	idle          time.Duration
	// demo --customers, --channels
	customers, channels int
	// principals add
	name, role, partner string
	admin               bool
	customer            string
	// serve: the TOTP store's directory (rule 19)
	verificationDir string
}

// ParseFlags parses a command line: the subcommand and its flags.
func (m *Main) ParseFlags(args []string) error {
	m.init()
	if m.Stdout == nil {
		m.Stdout = io.Discard
	}
	if m.Stderr == nil {
		m.Stderr = io.Discard
	}
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return errors.New("no command given")
	}
	m.cmd = args[0]
	args = args[1:]
	if m.cmd == "principals" {
		if len(args) == 0 || args[0] != "add" {
			return errors.New("usage: freezeledger principals add --name NAME --role ROLE [--partner ID]")
		}
		m.cmd, args = "principals add", args[1:]
	}
	fs := pflag.NewFlagSet("freezeledger "+m.cmd, pflag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	c := &m.cfg
	switch m.cmd {
	case "serve":
		fs.StringVar(&c.dataDir, "data-dir", "./data", "data directory (store, read-model checkpoints, audit tree, principals)")
		fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to listen on")
		fs.StringVar(&c.principals, "principals", "", "principals file (default <data-dir>/principals.json)")
		fs.StringVar(&c.store, "store", "embedded", "event store: embedded, or an EventStoreDB connection string esdb://...")
		fs.DurationVar(&c.retention, "retention", domain.DefaultRetention, "resource retention after an ACCOUNT_AND_RESOURCE freeze (rule 8)")
		fs.StringVar(&c.currency, "currency", "USD", "the deployment's one currency (ISO 4217 code), shown with every amount")
		fs.DurationVar(&c.idemTTL, "idempotency-ttl", domain.DefaultIdempotencyTTL, "how long an Idempotency-Key is remembered after its first use (a retry within it returns the first result)")
		fs.IntVar(&c.maxLoaded, "max-loaded-channels", DefaultMaxLoadedChannels, "channels kept in memory at most; the least recently used are evicted (0: no bound)")
		fs.DurationVar(&c.idle, "channel-idle", DefaultChannelIdle, "a loaded channel unused this long is evicted (snapshotted first when it is big)")
		fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
		fs.StringVar(&c.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
		fs.BoolVar(&c.webhookLoopback, "webhook-allow-insecure-loopback", false, "allow webhooks to plain http:// on 127.0.0.0/8 and [::1] (local use and tests)")
		fs.StringVar(&c.masterKeyFile, "master-key-file", "", "file with the master key of the personal-data keys (base64 of 32 bytes; default $"+keystore.MasterKeyEnv+", else <data-dir>/keys/master.key, created)")
		fs.StringArrayVar(&c.witnesses, "witness", nil, "a witness to send checkpoints to, NAME=URL=VKEY (C2SP tlog-witness; repeatable)")
		fs.StringVar(&c.verificationDir, "verification-dir", "", "TOTP enrolments, used codes and lockouts (rule 19; default <data-dir>/verification; share it between instances of one EventStoreDB)")
	case "principals add":
		fs.StringVar(&c.dataDir, "data-dir", "./data", "data directory whose principals file to change")
		fs.StringVar(&c.principals, "principals", "", "principals file (default <data-dir>/principals.json)")
		fs.StringVar(&c.name, "name", "", "principal name (recorded as the operator of its actions)")
		fs.StringVar(&c.role, "role", "", "role: platform, partner, auditor, reader, billing or customer")
		fs.StringVar(&c.partner, "partner", "", "partner ID (required for partner; optional scope for auditor and reader)")
		fs.BoolVar(&c.admin, "admin", false, "a partner admin (rules 19 and 20: verification switch, disassociation); role partner only")
		fs.StringVar(&c.customer, "customer", "", "customer ID (required for role customer: the only customer it sees)")
	case "demo":
		fs.StringVar(&c.dataDir, "data-dir", "./demo-data", "data directory to create and fill (must be empty or absent)")
		fs.IntVar(&c.customers, "customers", 0, "bulk customers to add after the story, for large ledgers (3 events each)")
		fs.IntVar(&c.channels, "channels", 1, "bulk distributors the --customers are spread over (dist-bulk-1 ...)")
		fs.StringVar(&c.logLevel, "log-level", "warn", "log level")
	case "rebuild":
		fs.StringVar(&c.masterKeyFile, "master-key-file", "", "file with the master key of the personal-data keys (as serve)")
		fs.StringVar(&c.dataDir, "data-dir", "./data", "data directory")
		fs.StringVar(&c.logLevel, "log-level", "info", "log level")
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return errHelp
	default:
		fmt.Fprint(m.Stderr, usage)
		return fmt.Errorf("unknown command %q", m.cmd)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errHelp
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", m.cmd, fs.Args())
	}
	if c.principals == "" && c.dataDir != "" {
		c.principals = PrincipalsFile(c.dataDir)
	}
	if c.verificationDir == "" && c.dataDir != "" {
		c.verificationDir = VerificationDir(c.dataDir)
	}
	switch c.logFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("--log-format must be text or json")
	}
	if c.logLevel != "" && hclog.LevelFromString(c.logLevel) == hclog.NoLevel {
		return fmt.Errorf("--log-level %q is not trace, debug, info, warn or error", c.logLevel)
	}
	if m.cmd == "serve" && !validCurrency(c.currency) {
		return fmt.Errorf("--currency must be a three-letter currency code such as USD, not %q", c.currency)
	}
	if _, err := parseWitnesses(c.witnesses); err != nil {
		return fmt.Errorf("--witness: %w", err)
	}
	if m.cmd == "serve" && c.retention <= 0 {
		return fmt.Errorf("--retention must be positive")
	}
	if m.cmd == "serve" && c.idemTTL <= 0 {
		return fmt.Errorf("--idempotency-ttl must be positive")
	}
	if m.cmd == "demo" && (c.customers < 0 || c.channels < 1) {
		return fmt.Errorf("--customers must be 0 or more and --channels at least 1")
	}
	if m.cmd == "serve" && (c.maxLoaded < 0 || c.idle <= 0) {
		return fmt.Errorf("--max-loaded-channels must be 0 or more and --channel-idle positive")
	}
	if m.cmd == "serve" && c.store != "" && c.store != "embedded" && !isESDB(c.store) {
		return fmt.Errorf("--store %q is neither embedded nor an EventStoreDB connection string (esdb://...)", c.store)
	}
	return nil
}

func (m *Main) init() {
	m.readyOnce.Do(func() { m.ready = make(chan struct{}) })
}

// Run runs the parsed command. serve runs until ctx is done, then shuts down gracefully (stop
// accepting, finish in-flight requests, stop the background work, checkpoint, close the store).
func (m *Main) Run(ctx context.Context) error {
	m.init()
	var err error
	switch m.cmd {
	case "serve":
		err = m.serve(ctx)
	case "principals add":
		err = m.principalsAdd()
	case "demo":
		err = m.demo(ctx)
	case "rebuild":
		err = m.rebuild(ctx)
	default:
		err = errors.New("ParseFlags first")
	}
	m.markReady(err)
	return err
}

// Ready is closed once serve listens (Addr is then set), or once Run has failed or finished.
func (m *Main) Ready() <-chan struct{} {
	m.init()
	return m.ready
}

func (m *Main) markReady(err error) {
	m.mu.Lock()
	if m.runErr == nil {
		m.runErr = err
	}
	m.mu.Unlock()
	select {
	case <-m.ready:
	default:
		close(m.ready)
	}
}

// Addr is the address serve listens on ("" before Ready).
func (m *Main) Addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addr
}

// Err is Run's error, if it has failed.
func (m *Main) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runErr
}

// Server is the HTTP API of a running serve (nil before Ready).
func (m *Main) Server() *httpapi.Server {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.server
}

func (m *Main) onClose(f func() error) {
	m.mu.Lock()
	m.closers = append(m.closers, f)
	m.mu.Unlock()
}

// Close releases whatever Run left open (everything, if Run returned normally). It is safe to call
// more than once.
func (m *Main) Close() error {
	m.mu.Lock()
	cs := m.closers
	m.closers = nil
	m.mu.Unlock()
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		if err := cs[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// logger is the command's logger, writing to Stderr.
func (m *Main) logger() hclog.Logger { return m.loggerTo(m.Stderr) }

// loggerTo is a logger like logger's, writing to w. Each call makes a root logger of its own, so
// its level can be changed without changing the others'.
func (m *Main) loggerTo(w io.Writer) hclog.Logger {
	lvl := hclog.LevelFromString(m.cfg.logLevel)
	if lvl == hclog.NoLevel {
		lvl = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "freezeledger",
		Level:      lvl,
		Output:     w,
		JSONFormat: m.cfg.logFormat == "json",
		TimeFormat: "2006-01-02T15:04:05.000Z07:00",
	})
}

func (m *Main) clock() domain.Clock {
	if m.Clock != nil {
		return m.Clock
	}
	return domain.SystemClock{}
}

// loadOrInitPrincipals loads the principals file; on a first start (no file, or an empty list) it
// creates a platform principal and prints its token once.
func (m *Main) loadOrInitPrincipals(path string, log hclog.Logger) (*httpapi.Principals, error) {
	ps, err := httpapi.LoadPrincipals(path)
	if err == nil && ps.Len() > 0 {
		return ps, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	token, err := httpapi.CreatePrincipal(path, "platform-admin", domain.RolePlatform, "")
	if err != nil {
		return nil, err
	}
	log.Info("first start: created platform principal platform-admin; its token is printed once on stdout", "principals", path)
	fmt.Fprintf(m.Stdout, "platform-admin token (shown once; only its hash is stored in %s):\n%s\n", path, token)
	return httpapi.LoadPrincipals(path)
}

// watchPrincipals reloads the principals file when it changes, so `principals add` takes effect
// without a restart. A file that fails to load is logged and the old set kept.
func watchPrincipals(ctx context.Context, path string, every time.Duration, srv *httpapi.Server, log hclog.Logger) {
	stamp := func() (time.Time, int64) {
		st, err := os.Stat(path)
		if err != nil {
			return time.Time{}, -1
		}
		return st.ModTime(), st.Size()
	}
	lastT, lastN := stamp()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mt, n := stamp()
		if mt.Equal(lastT) && n == lastN {
			continue
		}
		lastT, lastN = mt, n
		ps, err := httpapi.LoadPrincipals(path)
		if err != nil {
			log.Error("principals file changed but does not load; keeping the previous principals", "error", err)
			continue
		}
		srv.SetPrincipals(ps)
		log.Info("principals reloaded", "count", ps.Len())
	}
}

// listen opens the listening socket.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

func isESDB(store string) bool {
	return strings.HasPrefix(store, "esdb://") || strings.HasPrefix(store, "esdb+discover://") ||
		strings.HasPrefix(store, "kurrentdb://") || strings.HasPrefix(store, "kdb://")
}

// validCurrency reports whether s looks like an ISO 4217 code: three upper-case letters.
func validCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
