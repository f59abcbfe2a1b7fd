package domain

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Options configure a Service. Zero values take the defaults.
type Options struct {
	Clock     Clock            // default SystemClock
	Retention time.Duration    // resource retention after an ACCOUNT_AND_RESOURCE freeze (rule 8); default DefaultRetention
	NewID     func() uuid.UUID // event IDs; default uuid.New
	// MaxGroup is the most commands decided together and written in one append (default 256).
	MaxGroup int
	// ReservationGrace is how old another channel's unconsummated ID reservation must be before an
	// association takes it over (rule 10); younger ones are a conflict. Default 30 s. It only
	// decides liveness: the takeover is fenced through the holder's channel stream, so it is safe at
	// any value.
	ReservationGrace time.Duration
	// MaxRetries bounds the reload-and-redecide rounds after a wrong expected revision (default 32).
	MaxRetries int
}

// DefaultRetention is the default resource retention period (rule 8).
const DefaultRetention = 15 * 24 * time.Hour

// Service is the command service: it decides each command against the in-memory state of its
// channel and appends the resulting events. It is safe for concurrent use.
//
// Concurrency: each channel has one worker at a time. Commands for a channel queue up; the worker
// takes everything queued (up to Options.MaxGroup), decides the commands in order against the state,
// each seeing the effects of those before it, and writes all their events in one append whose expected
// revision is the revision the decisions saw. If another writer got there first (wrong expected
// revision), the worker rolls the tentative state back, reads the new events, and decides the whole
// group again. A refusal decided against a state that might be stale is re-checked after reading the
// stream's tail. Replies are sent only once the group's append is durable, so a command's result never
// depends on an event that was not written.
//
// Once queued, a command runs to its outcome (ctx is used for the routing reads before). Every
// channel the Service touches stays in memory for its lifetime. Errors that are not *Error (a
// malformed stored event, an unexpected store error) are internal.
type Service struct {
	log  EventLog
	opts Options

	mu        sync.Mutex
	workers   map[string]*worker
	partners  map[string]string   // partner ID -> channel stream (confirmed)
	customers map[string]string   // customer ID -> channel stream (confirmed)
	keys      map[idemID][16]byte // platform idempotency key -> command hash, for keys used across channels
	scanned   string              // GlobalReader position already scanned for channel streams
}

// NewService returns a Service writing to log.
func NewService(log EventLog, opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.NewID == nil {
		opts.NewID = newRandomIDs()
	}
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 256
	}
	if opts.ReservationGrace <= 0 {
		opts.ReservationGrace = 30 * time.Second
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 32
	}
	return &Service{
		log: log, opts: opts,
		workers:   map[string]*worker{},
		partners:  map[string]string{},
		customers: map[string]string{},
		keys:      map[idemID][16]byte{},
	}
}

// now is the service's time: the injected clock in UTC, truncated to milliseconds, the precision the
// API and exports show. Recording more would make the offline verifier, which replays the rules from
// exported (millisecond) times, disagree with retention deadlines computed from finer ones.
func (s *Service) now() time.Time { return s.opts.Clock.Now().UTC().Truncate(time.Millisecond) }

// newRandomIDs returns a generator of random (version 4) UUIDs reading crypto/rand in blocks, not
// once per event (a system call each).
func newRandomIDs() func() uuid.UUID {
	var mu sync.Mutex
	r := bufio.NewReaderSize(rand.Reader, 16*256)
	return func() uuid.UUID {
		mu.Lock()
		defer mu.Unlock()
		return uuid.Must(uuid.NewRandomFromReader(r))
	}
}

// ---- command plumbing ----

// run executes a one-channel command: routes it, runs it, and returns its Result.
func (s *Service) run(ctx context.Context, stream string, m Meta, hash string, decide func(c *Channel, now time.Time) ([]pendingEvent, error)) (Result, error) {
	if err := s.checkKey(m, hash); err != nil {
		return Result{}, err
	}
	r := newRequest(m, hash, func(c *Channel, e *emitter) error {
		pend, err := decide(c, e.now)
		if err != nil {
			return err
		}
		e.emit(pend...)
		return nil
	})
	if stream == "" {
		// No channel can hold this actor's command: decide against an empty state for the refusal.
		_, err := decide(NewChannel(""), s.now())
		if err == nil {
			err = Errorf(CodeForbidden, "actor %q has no channel to act in", m.Actor.Name)
		}
		return Result{}, err
	}
	if err := s.exec(stream, r); err != nil {
		return Result{}, err
	}
	res, err := s.resultOf(ctx, stream, r)
	if err != nil {
		return Result{}, err
	}
	s.rememberKey(m, hash)
	return res, nil
}

// Partner returns partner id's state and its channel stream.
func (s *Service) Partner(ctx context.Context, id string) (Partner, string, error) {
	ch, err := s.PartnerChannel(ctx, id)
	if err != nil {
		return Partner{}, "", err
	}
	var p Partner
	err = s.query(ch, func(c *Channel) { p, _ = c.Partner(id) })
	return p, ch, err
}

// Customer returns customer id's own state (no cascade), its manager (rule 2) and its channel stream.
func (s *Service) Customer(ctx context.Context, id string) (cu Customer, manager, channel string, err error) {
	channel, err = s.CustomerChannel(ctx, id)
	if err != nil {
		return Customer{}, "", "", err
	}
	err = s.query(channel, func(c *Channel) {
		cu, _ = c.Customer(id)
		manager = c.Manager(cu)
	})
	return cu, manager, channel, err
}

// ---- commands ----

// AssociateCustomer associates a new customer with a partner (by the partner itself or the
// distributor of the reseller named): customer.associated and customer.frozen (rule 1), after
// claiming the customer ID (rule 10).
func (s *Service) AssociateCustomer(ctx context.Context, cmd AssociateCustomer) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	hash := commandHash(cmd.Meta, "AssociateCustomer", plain)
	stream, err := s.actorChannel(ctx, cmd.Actor)
	if err != nil {
		return Result{}, err
	}
	return s.claimAndRun(ctx, "customer", cmd.CustomerID, stream, cmd.Meta, hash, func(c *Channel, rev uint64, reserved bool) ([]pendingEvent, error) {
		if !reserved {
			return nil, c.checkAssociate(cmd)
		}
		return c.decideAssociate(cmd, rev)
	})
}

// FreezeCustomer freezes a customer or upgrades its freeze (rules 2 to 5).
func (s *Service) FreezeCustomer(ctx context.Context, cmd FreezeCustomer) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.actorChannel(ctx, cmd.Actor)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "FreezeCustomer", plain), func(c *Channel, now time.Time) ([]pendingEvent, error) {
		return c.decideFreezeCustomer(cmd.Actor, cmd.CustomerID, cmd.Reason, cmd.FreezeType, now, s.opts.Retention)
	})
}

// UnfreezeCustomer unfreezes a customer (rules 2 to 5).
func (s *Service) UnfreezeCustomer(ctx context.Context, cmd UnfreezeCustomer) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.actorChannel(ctx, cmd.Actor)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "UnfreezeCustomer", plain), func(c *Channel, _ time.Time) ([]pendingEvent, error) {
		return c.decideUnfreezeCustomer(cmd.Actor, cmd.CustomerID, cmd.Reason, cmd.UnfreezeType)
	})
}

// FreezeCustomers freezes up to MaxBatch customers, one result each (rule 11).
func (s *Service) FreezeCustomers(ctx context.Context, cmd FreezeCustomers) (BatchResult, error) {
	plain := cmd
	plain.Meta = Meta{}
	return s.batch(ctx, cmd.Meta, commandHash(cmd.Meta, "FreezeCustomers", plain), cmd.CustomerIDs, func(c *Channel, id string, now time.Time) ([]pendingEvent, error) {
		return c.decideFreezeCustomer(cmd.Actor, id, cmd.Reason, cmd.FreezeType, now, s.opts.Retention)
	})
}

// UnfreezeCustomers unfreezes up to MaxBatch customers, one result each (rule 11).
func (s *Service) UnfreezeCustomers(ctx context.Context, cmd UnfreezeCustomers) (BatchResult, error) {
	plain := cmd
	plain.Meta = Meta{}
	return s.batch(ctx, cmd.Meta, commandHash(cmd.Meta, "UnfreezeCustomers", plain), cmd.CustomerIDs, func(c *Channel, id string, _ time.Time) ([]pendingEvent, error) {
		return c.decideUnfreezeCustomer(cmd.Actor, id, cmd.Reason, cmd.UnfreezeType)
	})
}

func (s *Service) batch(ctx context.Context, m Meta, hash string, ids []string, decide func(c *Channel, id string, now time.Time) ([]pendingEvent, error)) (BatchResult, error) {
	if len(ids) == 0 || len(ids) > MaxBatch {
		return BatchResult{}, Errorf(CodeInvalid, "rule 11: a batch takes 1 to %d customers, not %d", MaxBatch, len(ids))
	}
	if err := checkWriter(m.Actor); err != nil {
		return BatchResult{}, err
	}
	if err := s.checkKey(m, hash); err != nil {
		return BatchResult{}, err
	}
	stream, err := s.actorChannel(ctx, m.Actor)
	if err != nil {
		return BatchResult{}, err
	}
	items := make([]ItemResult, len(ids))
	if stream == "" {
		empty := NewChannel("")
		for i, id := range ids {
			_, err := decide(empty, id, s.now())
			items[i] = ItemResult{CustomerID: id, Err: err}
		}
		return BatchResult{Items: items}, nil
	}
	r := newRequest(m, hash, func(c *Channel, e *emitter) error {
		for i, id := range ids {
			pend, err := decide(c, id, e.now)
			items[i] = ItemResult{CustomerID: id, Err: err}
			if err == nil {
				e.emit(pend...)
			}
		}
		return nil
	})
	if err := s.exec(stream, r); err != nil {
		return BatchResult{}, err
	}
	res, err := s.resultOf(ctx, stream, r)
	if err != nil {
		return BatchResult{}, err
	}
	if r.replay {
		done := map[string]bool{}
		for _, ev := range res.Events {
			done[customerOf(ev)] = true
		}
		for i, id := range ids {
			items[i] = ItemResult{CustomerID: id}
			if !done[id] {
				items[i].Err = Errorf(CodeConflict, "rule 11: customer %q was refused in the first request with this idempotency key, which appended nothing for it", id)
			}
		}
	}
	if len(r.events) > 0 || r.replay {
		s.rememberKey(m, hash)
	}
	out := BatchResult{Items: items, Replayed: res.Replayed}
	if len(res.Events) > 0 {
		out.Position = res.Position
	}
	return out, nil
}

func customerOf(ev StoredEvent) string {
	var d struct {
		CustomerID string `json:"customer_id"`
	}
	_ = json.Unmarshal(ev.Data, &d)
	return d.CustomerID
}

// QueryChannel runs f against the committed state of the channel stored in stream (loading it if
// needed), in order with that channel's commands. f must not keep c or call the Service.
func (s *Service) QueryChannel(ctx context.Context, stream string, f func(c *Channel)) error {
	if !strings.HasPrefix(stream, ChannelStreamPrefix) {
		return Errorf(CodeInvalid, "%q is not a channel stream", stream)
	}
	return s.query(stream, f)
}
