// Package webhook delivers the change feed (projections.ChangeReader) to partner systems as
// Standard Webhooks: registrations and durable delivery cursors in files (store.go), signing
// (sign.go), URL and address checks against SSRF (target.go), the HTTP sender (sender.go), the retry
// schedule (backoff.go) and one delivery loop per webhook (deliverer.go). Manager ties them together.
//
// Guarantees: per webhook, items are sent one at a time in feed order; an item is retried until
// the receiver acknowledges it with a 2xx, so delivery is at least once, also across restarts (the
// cursor is persisted and never ahead of the acknowledged items); a webhook failing for 24 h
// without a success is disabled, durably, with the reason in last_error (the event log is not
// used: webhook state is not ledger state, and the log is exported to auditors).
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections"
)

// Webhook states.
const (
	StateActive   = "active"
	StateDisabled = "disabled"
)

// DefaultCoalesce is Options.Coalesce's default.
const DefaultCoalesce = 10 * time.Millisecond

// Limits.
const (
	DefaultMaxPerOwner = 20
	MaxDescription     = 256 // characters
)

// Feed is what the deliverers read; *projections.ReadModels satisfies it.
type Feed interface {
	Changes(viewer projections.ChangeViewer, after projections.ChangeCursor) *projections.ChangeReader
	// Applied is the position the read models have applied: a new webhook's feed starts after it.
	Applied() eventstore.Position
}

// Owner is the principal that registers a webhook: its name and the subtree it sees ("" all).
type Owner struct {
	Name  string
	Scope string
}

// Webhook is a registration as the API shows it (never its secret).
type Webhook struct {
	ID                    string  `json:"id"`
	URL                   string  `json:"url"`
	Description           string  `json:"description"`
	CreatedAt             string  `json:"created_at"`
	State                 string  `json:"state"`
	LastDeliveredPosition *string `json:"last_delivered_position"`
	LastError             *string `json:"last_error"`
	FailingSince          *string `json:"failing_since"`
}

// Options configure a Manager. Dir and Feed are required.
type Options struct {
	Dir    string // where registrations are stored (created 0700)
	Feed   Feed
	Logger hclog.Logger
	// Clock gives the signatures' timestamps and times failures (DisableAfter); nil is the wall clock.
	Clock domain.Clock
	// Sleep waits between retries; nil waits on a timer. Tests inject it with Clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// AllowInsecureLoopback allows http:// to loopback addresses (and loopback for https).
	AllowInsecureLoopback bool
	// Timeout bounds one delivery attempt (default DefaultTimeout).
	Timeout time.Duration
	// MaxPerOwner bounds the webhooks of one principal (default DefaultMaxPerOwner).
	MaxPerOwner int
	// PersistEvery is the longest a delivered item's cursor stays unsaved while items flow (default
	// 1 s); it is also saved whenever the feed is caught up, on a change of state, and on shutdown.
	PersistEvery time.Duration
	// Coalesce is how long a caught-up deliverer, woken by new events, waits before it reads them
	// (default DefaultCoalesce; negative: not at all): under a high write rate each webhook then
	// wakes at most once per Coalesce, also when it sees none of the new events, instead of once
	// per commit. It adds at most Coalesce to an item's latency.
	Coalesce time.Duration
	// OnDisable, if set, is called (from the deliverer's goroutine) once a webhook has been
	// disabled and that is saved: for alerts, metrics and tests.
	OnDisable func(id, reason string)
}

// Manager holds the registrations and runs their deliveries. Its methods are safe for concurrent
// use. Open it, then Run it; Create, Delete and Enable take effect at once on running deliveries.
type Manager struct {
	o     Options
	log   hclog.Logger
	store *fileStore
	send  *sender

	mu    sync.Mutex
	hooks map[string]*hook
	keys  map[idemKey]string // the registrations' Idempotency-Keys: owner and key digest to ID
	run   context.Context    // nil until Run
	wg    sync.WaitGroup
}

// Open loads the registrations in o.Dir.
func Open(o Options) (*Manager, error) {
	if o.Dir == "" || o.Feed == nil {
		return nil, fmt.Errorf("webhook: Options.Dir and Options.Feed are required")
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Clock == nil {
		o.Clock = domain.SystemClock{}
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxPerOwner <= 0 {
		o.MaxPerOwner = DefaultMaxPerOwner
	}
	if o.PersistEvery <= 0 {
		o.PersistEvery = time.Second
	}
	if o.Coalesce == 0 {
		o.Coalesce = DefaultCoalesce
	}
	st, err := openFileStore(o.Dir)
	if err != nil {
		return nil, err
	}
	recs, err := st.load()
	if err != nil {
		return nil, err
	}
	m := &Manager{o: o, log: o.Logger, store: st, send: newSender(o.Timeout, o.AllowInsecureLoopback), hooks: map[string]*hook{}, keys: map[idemKey]string{}}
	for _, r := range recs {
		m.hooks[r.ID] = newHook(r)
		if r.IdempotencyKey != "" {
			m.keys[idemKey{r.Owner, r.IdempotencyKey}] = r.ID
		}
	}
	return m, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run delivers every webhook's items until ctx is done, then saves the cursors and returns nil.
// Webhooks pending when it starts are tried at once (no backoff carried over a restart).
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.run = ctx
	for _, h := range m.hooks {
		m.start(h)
	}
	m.mu.Unlock()
	<-ctx.Done()
	m.wg.Wait()
	m.send.client.CloseIdleConnections()
	return nil
}

// start runs h's deliverer; m.mu held, m.run set.
func (m *Manager) start(h *hook) {
	ctx, cancel := context.WithCancel(m.run)
	h.cancel = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.deliverLoop(ctx, h)
	}()
}

func newID() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "wh_" + hex.EncodeToString(b[:]), nil
}

// Create registers a webhook for owner: its feed starts after what the read models have applied
// now. It returns the webhook and its secret (shown to the owner only here). key is the request's
// Idempotency-Key ("" for none): if owner already has a webhook created with key and the same url
// and description, Create registers nothing and returns that webhook as it is now and its secret;
// the key lives as long as that webhook. Errors (*domain.Error): invalid for a bad URL or
// description, conflict for key reused with another url or description, and beyond MaxPerOwner
// webhooks.
func (m *Manager) Create(owner Owner, url, description, key string) (Webhook, string, error) {
	if err := CheckURL(url, m.o.AllowInsecureLoopback); err != nil {
		return Webhook{}, "", domain.Errorf(domain.CodeInvalid, "%v", err)
	}
	if utf8.RuneCountInString(description) > MaxDescription {
		return Webhook{}, "", domain.Errorf(domain.CodeInvalid, "description is longer than %d characters", MaxDescription)
	}
	if !utf8.ValidString(description) || strings.ContainsFunc(description, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return Webhook{}, "", domain.Errorf(domain.CodeInvalid, "description contains control characters")
	}
	id, err := newID()
	if err != nil {
		return Webhook{}, "", err
	}
	secret, err := NewSecret()
	if err != nil {
		return Webhook{}, "", err
	}
	r := record{
		Version: recordVersion, ID: id, URL: url, Description: description, Owner: owner.Name, Scope: owner.Scope,
		Secret: secret, CreatedAt: m.o.Clock.Now().UTC(), State: StateActive,
		Cursor:         projections.ChangeCursor{Position: m.o.Feed.Applied(), Item: projections.WholeEvent}.String(),
		IdempotencyKey: keyDigest(key), RequestHash: requestDigest(url, description),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.IdempotencyKey != "" {
		if first, ok := m.keys[idemKey{owner.Name, r.IdempotencyKey}]; ok {
			return m.replayLocked(first, r.RequestHash)
		}
	}
	n := 0
	for _, h := range m.hooks {
		if h.owner == owner.Name {
			n++
		}
	}
	if n >= m.o.MaxPerOwner {
		return Webhook{}, "", domain.Errorf(domain.CodeConflict, "principal %q has %d webhooks, the most allowed; delete one first", owner.Name, n)
	}
	if err := m.store.save(&r); err != nil {
		return Webhook{}, "", err
	}
	h := newHook(r)
	m.hooks[id] = h
	if r.IdempotencyKey != "" {
		m.keys[idemKey{owner.Name, r.IdempotencyKey}] = id
	}
	if m.run != nil {
		m.start(h)
	}
	return h.view(), secret, nil
}

// replayLocked answers a retried Create: the webhook id created with the same key, if reqHash is
// that request's, else a conflict. m.mu held.
func (m *Manager) replayLocked(id, reqHash string) (Webhook, string, error) {
	h := m.hooks[id]
	h.mu.Lock()
	same, secret := h.rec.RequestHash == reqHash, h.rec.Secret
	h.mu.Unlock()
	if !same {
		return Webhook{}, "", domain.Errorf(domain.CodeConflict, "this Idempotency-Key registered webhook %s with another url or description", id)
	}
	return h.view(), secret, nil
}

// List returns owner's webhooks, oldest first.
func (m *Manager) List(owner string) []Webhook {
	m.mu.Lock()
	var hs []*hook
	for _, h := range m.hooks {
		if h.owner == owner {
			hs = append(hs, h)
		}
	}
	m.mu.Unlock()
	out := make([]Webhook, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.view())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAt != out[j].CreatedAt {
			return out[i].CreatedAt < out[j].CreatedAt
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// lookup is owner's webhook id; another principal's is not_found (no existence leak).
func (m *Manager) lookup(owner, id string) (*hook, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.hooks[id]
	if !ok || h.owner != owner {
		return nil, domain.Errorf(domain.CodeNotFound, "webhook %q not found", clipID(id))
	}
	return h, nil
}

func clipID(id string) string {
	if len(id) > 64 {
		return id[:64] + "..."
	}
	return id
}

// Get returns owner's webhook id. Errors: not_found.
func (m *Manager) Get(owner, id string) (Webhook, error) {
	h, err := m.lookup(owner, id)
	if err != nil {
		return Webhook{}, err
	}
	return h.view(), nil
}

// Delete removes owner's webhook id and stops its deliveries (an attempt in flight is cancelled).
// Errors: not_found, or the file store's.
func (m *Manager) Delete(owner, id string) error {
	h, err := m.lookup(owner, id)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.deleted = true
	if h.cancel != nil {
		h.cancel()
	}
	h.mu.Unlock()
	m.mu.Lock()
	delete(m.hooks, id)
	if h.key != "" {
		delete(m.keys, idemKey{h.owner, h.key})
	}
	m.mu.Unlock()
	return m.store.remove(id)
}

// Enable makes owner's disabled webhook id active again: deliveries resume at once from where
// they stopped, with a fresh 24 h allowance. Enabling an active webhook changes nothing.
func (m *Manager) Enable(owner, id string) (Webhook, error) {
	h, err := m.lookup(owner, id)
	if err != nil {
		return Webhook{}, err
	}
	h.mu.Lock()
	if h.rec.State != StateActive {
		h.rec.State, h.rec.FailingSince = StateActive, time.Time{}
		if err := m.saveLocked(h); err != nil {
			h.mu.Unlock()
			return Webhook{}, err
		}
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	h.mu.Unlock()
	return h.view(), nil
}

// saveLocked persists h's record unless it was deleted; h.mu held.
func (m *Manager) saveLocked(h *hook) error {
	if h.deleted {
		return nil
	}
	if err := m.store.save(&h.rec); err != nil {
		return err
	}
	h.dirty, h.savedAt = false, time.Now() // pacing of saves: wall time, not the injected clock
	return nil
}
