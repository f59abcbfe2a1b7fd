package domain

// The command service: Service, its Options, and run, the path of every one-channel command (check
// the idempotency key, decide in the channel's worker, return the Result). The rest of the Service is
// split by concern: worker.go (the per-channel worker and group commit), directory.go (routing),
// reservation.go (rule 10), idempotency.go, retention.go (rule 8), partner_commands.go and
// customer_commands.go (the command methods), queries.go (reads).

import (
	"bufio"
	"context"
	"crypto/rand"
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
	// IdempotencyTTL is how long an idempotency key is remembered after its first use (the time its
	// events record): within it a retry returns the first result, also after a restart; after it
	// the key is forgotten and a command with it is decided as new. 0 means
	// DefaultIdempotencyTTL (24 h); a negative value keeps keys for the life of a loaded channel.
	IdempotencyTTL time.Duration
	// MaxLoadedChannels bounds the channels held in memory: loading one more evicts the least
	// recently used idle ones (their state goes to Snapshots first, when set); 0 means no bound.
	MaxLoadedChannels int
	// Snapshots, if set, keeps channel snapshots: an evicted channel, and every loaded one at
	// SaveSnapshots, is saved there once it has SnapshotEvery events past its last snapshot, and a
	// load starts from the snapshot (checked against the log) and reads only the events after it.
	Snapshots SnapshotStore
	// SnapshotEvery is how many events a channel must have past its last snapshot for a new one
	// to be written (default DefaultSnapshotEvery): small channels load fast from the log alone.
	SnapshotEvery int
	// SnapshotError, if set, is told of every snapshot not used (unreadable, malformed, not
	// matching the log: the channel is rebuilt from the log) and every snapshot that could not be
	// written. The Service goes on either way.
	SnapshotError func(stream string, err error)
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
// Once queued, a command runs to its outcome (ctx is used for the routing reads before). A channel
// the Service touches stays in memory until it is evicted (Options.MaxLoadedChannels, EvictIdle)
// and is loaded again, from its snapshot and the events after it, on its next command. Errors that
// are not *Error (a malformed stored event, an unexpected store error) are internal.
type Service struct {
	log  EventLog
	opts Options

	mu           sync.Mutex
	workers      map[string]*worker
	partners     map[string]string // partner ID -> channel stream (confirmed)
	customers    map[string]string // customer ID -> channel stream (confirmed)
	platformKeys platformKeys      // platform idempotency keys, for keys used across channels
	residency    residency         // which channels are in memory (residency.go)
	scanned      string            // GlobalReader position already scanned for channel streams
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
	if opts.IdempotencyTTL == 0 {
		opts.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if opts.SnapshotEvery <= 0 {
		opts.SnapshotEvery = DefaultSnapshotEvery
	}
	return &Service{
		log: log, opts: opts,
		workers:      map[string]*worker{},
		partners:     map[string]string{},
		customers:    map[string]string{},
		platformKeys: platformKeys{ttl: opts.IdempotencyTTL, keys: map[idemID]platformKey{}},
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
