package esdb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/eventstore"
)

// knownSettings are the connection string settings the client understands (lower case). The
// client only warns about others, on the standard logger; we refuse them, so that a typo such as
// "tsl=false" fails at start-up instead of silently connecting with TLS.
var knownSettings = map[string]bool{
	"discoveryinterval": true, "gossiptimeout": true, "maxdiscoverattempts": true, "nodepreference": true,
	"keepaliveinterval": true, "keepalivetimeout": true, "tls": true, "tlscafile": true,
	"usercertfile": true, "userkeyfile": true, "tlsverifycert": true, "defaultdeadline": true,
}

// schemes maps the connection string schemes we accept to the client's: KurrentDB's names are
// accepted too (the server does not see the scheme).
var schemes = map[string]string{
	"esdb://": "esdb://", "esdb+discover://": "esdb+discover://",
	"kurrentdb://": "esdb://", "kurrentdb+discover://": "esdb+discover://",
	"kdb://": "esdb://", "kdb+discover://": "esdb+discover://",
}

// IsConnectionString reports whether s is an EventStoreDB/KurrentDB connection string (esdb://,
// esdb+discover://, kurrentdb://, kurrentdb+discover://, kdb://, kdb+discover://), as opposed to a
// path or "embedded": the --store flag accepts both.
func IsConnectionString(s string) bool {
	_, ok := clientScheme(s)
	return ok
}

// clientScheme rewrites s to the scheme the client parses.
func clientScheme(s string) (string, bool) {
	for from, to := range schemes {
		if rest, ok := strings.CutPrefix(s, from); ok {
			return to + rest, true
		}
	}
	return s, false
}

// parseConnectionString parses s with the client's parser after checking its settings' names.
func parseConnectionString(s string) (*esdb.Configuration, error) {
	s, ok := clientScheme(s)
	if !ok {
		return nil, errors.New("not an EventStoreDB connection string (want esdb://host:port?tls=false or esdb+discover://host:port)")
	}
	if _, query, ok := strings.Cut(s, "?"); ok {
		values, err := url.ParseQuery(query)
		if err != nil {
			return nil, fmt.Errorf("settings: %w", err)
		}
		for k := range values {
			if !knownSettings[strings.ToLower(k)] {
				return nil, fmt.Errorf("unknown setting %q", k)
			}
		}
	}
	cfg, err := esdb.ParseConnectionString(s)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

var passwordRe = regexp.MustCompile(`(://[^:@/?]*:)[^@/?]*@`)

// redact hides the password of a connection string, for messages and logs.
func redact(s string) string { return passwordRe.ReplaceAllString(s, "${1}REDACTED@") }

// target names what the configuration connects to: the node, or the gossip seeds.
func target(cfg *esdb.Configuration) string {
	if len(cfg.GossipSeeds) == 0 {
		return cfg.Address
	}
	seeds := make([]string, len(cfg.GossipSeeds))
	for i, e := range cfg.GossipSeeds {
		seeds[i] = e.String()
	}
	return strings.Join(seeds, ",")
}

// clientLogger routes the client's logging (by default the standard logger) to hclog. The client
// is chatty at info (every discovery attempt), so info goes to debug; an error caused by our own
// cancellation (a closed subscription) is not an error.
func clientLogger(l hclog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		switch level {
		case esdb.LogDebug:
			l.Trace(msg)
		case esdb.LogInfo:
			l.Debug(msg)
		case esdb.LogWarn:
			l.Warn(msg)
		default:
			if strings.Contains(msg, "context canceled") || strings.Contains(msg, "Canceled") {
				l.Debug(msg)
				return
			}
			l.Error(msg)
		}
	}
}

// generation is one *esdb.Client. The client cannot be fixed once its discovery failed (it closes
// itself for good), so the store replaces it with a fresh one; the old one is closed once nothing
// uses it, because closing a client while a call is inside it can panic (it closes a channel the
// call may still send on).
type generation struct {
	client  *esdb.Client
	n       int  // 1 for the first client built, 2 for the next...
	users   int  // calls and subscriptions using client; guarded by Store.mu
	retired bool // replaced; guarded by Store.mu
}

// acquire returns the current client, building one if there is none, and counts a user of it.
func (s *Store) acquire() (*generation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	if s.current == nil {
		cfg := *s.cfg
		c, err := esdb.NewClient(&cfg)
		if err != nil {
			return nil, fmt.Errorf("esdb: new client for %s: %w", s.target, err)
		}
		s.built++
		s.current = &generation{client: c, n: s.built}
		if s.built > 1 {
			s.log.Debug("new EventStoreDB client", "client", s.built, "target", s.target)
		}
	}
	s.current.users++
	return s.current, nil
}

// hold counts one more user of g (a subscription that outlives the call that opened it).
func (s *Store) hold(g *generation) {
	s.mu.Lock()
	g.users++
	s.mu.Unlock()
}

// release ends one use of g, closing it if it was retired and this was the last use.
func (s *Store) release(g *generation) {
	s.mu.Lock()
	g.users--
	last := g.retired && g.users == 0
	s.mu.Unlock()
	if last {
		_ = g.client.Close()
	}
}

// retire replaces g by a fresh client for the next call; g is closed once unused.
func (s *Store) retire(g *generation) {
	s.mu.Lock()
	if s.current == g {
		s.current = nil
	}
	if g.retired {
		s.mu.Unlock()
		return
	}
	g.retired = true
	unused := g.users == 0
	s.mu.Unlock()
	if unused {
		_ = g.client.Close()
	}
}

type result[T any] struct {
	v   T
	err error
}

// run calls fn with g's client in its own goroutine and returns its result, or ctx's error as soon
// as ctx ends (ErrClosed if the store closes). The client does not always honour contexts: its
// discovery and its error handling can block for seconds, so the caller is not made to wait. An
// abandoned call finishes in the background and a successful result of it is passed to discard.
// run releases the use of g that acquire counted.
func run[T any](s *Store, ctx context.Context, g *generation, fn func(context.Context, *generation) (T, error), discard func(T)) (T, error) {
	opCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.life, cancel)
	done := make(chan result[T], 1)
	s.calls.Add(1)
	go func() {
		defer s.calls.Done()
		v, err := fn(opCtx, g)
		s.release(g)
		done <- result[T]{v, err}
	}()
	defer func() {
		stop()
		cancel()
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-opCtx.Done():
		select {
		case r := <-done:
			return r.v, r.err
		default:
		}
		go func() {
			if r := <-done; r.err == nil && discard != nil {
				discard(r.v)
			}
		}()
		var zero T
		if ctx.Err() == nil {
			return zero, eventstore.ErrClosed
		}
		return zero, ctx.Err()
	}
}

// retry runs fn until it succeeds, fails for good, or has failed transiently MaxRetries+1 times.
// Only idempotent operations go through it: reads, subscribing, and appends (idempotent because
// the event IDs are ours). After a connection failure the next attempt uses a fresh client. A
// failure after the last attempt wraps eventstore.ErrUnavailable; if ctx ends first, the error is
// ctx's, wrapping the last failure too.
func retry[T any](s *Store, ctx context.Context, fn func(context.Context, *generation) (T, error), discard func(T)) (T, error) {
	var zero T
	var last error
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return zero, ctxError(err, last)
		}
		g, err := s.acquire()
		if err != nil {
			return zero, err
		}
		v, err := run(s, ctx, g, fn, discard)
		if err == nil {
			return v, nil
		}
		if s.isClosed() {
			return zero, eventstore.ErrClosed
		}
		if cerr := ctx.Err(); cerr != nil {
			if !errors.Is(err, cerr) {
				last = err
			}
			return zero, ctxError(cerr, last)
		}
		last = err
		kind := classify(err)
		switch kind {
		case kindConnection:
			s.retire(g)
		case kindTransient:
		default:
			return zero, err
		}
		if attempt >= s.opts.MaxRetries {
			return zero, fmt.Errorf("%w: %d attempts failed, last: %w", eventstore.ErrUnavailable, attempt+1, err)
		}
		pause := s.backoff(attempt)
		s.log.Debug("EventStoreDB call failed, retrying", "kind", kind, "attempt", attempt+1, "pause", pause, "error", err)
		if err := sleep(ctx, s.life, pause); err != nil {
			if s.isClosed() {
				return zero, eventstore.ErrClosed
			}
			return zero, ctxError(err, last)
		}
	}
}

func ctxError(ctxErr, last error) error {
	if last == nil {
		return ctxErr
	}
	return fmt.Errorf("%w (last failure: %w)", ctxErr, last)
}

// backoff is the pause after the attempt-th failure (from 0): MinBackoff doubling up to
// MaxBackoff, the upper half randomised so that instances do not retry in step.
func (s *Store) backoff(attempt int) time.Duration {
	d := s.opts.MinBackoff
	for i := 0; i < attempt && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.opts.MaxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// sleep waits d, or until ctx or life ends.
func sleep(ctx, life context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-life.Done():
		return eventstore.ErrClosed
	}
}
