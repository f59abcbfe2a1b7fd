package esdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/freezeledger/freezeledger/eventstore"
)

// closedPort returns a local TCP port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// syncBuffer is a bytes.Buffer safe for the client's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func bufferLogger(level hclog.Level) (hclog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return hclog.New(&hclog.LoggerOptions{Output: buf, Level: level}), buf
}

func TestOpenClosedPortFailsWithTheAddress(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	addr := fmt.Sprintf("127.0.0.1:%d", closedPort(t))
	logger, logs := bufferLogger(hclog.Trace)
	start := time.Now()
	s, err := Open(context.Background(), "esdb://"+addr+"?tls=false", Options{Logger: logger})
	t.Logf("Open failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of a closed port succeeded")
	}
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("error does not wrap ErrUnavailable: %v", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error does not name %s: %v", addr, err)
	}
	// The client's own logging (its discovery attempts) reaches hclog, not the standard logger.
	if out := logs.String(); !strings.Contains(out, "client:") || !strings.Contains(out, "discovery attempt") {
		t.Errorf("client logs did not reach hclog:\n%s", out)
	}
}

// quickFail connects to a closed port with one discovery attempt per client, so that each
// attempt of an operation fails at once.
func quickFail(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 2*time.Millisecond
	}
	s, err := newStore(fmt.Sprintf("esdb://127.0.0.1:%d?tls=false&maxDiscoverAttempts=1&discoveryInterval=1", closedPort(t)), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (s *Store) clientsBuilt() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.built
}

// A client whose discovery failed stays closed: every retry must build a fresh client.
func TestRetriesUseAFreshClient(t *testing.T) {
	s := quickFail(t, Options{MaxRetries: 3})
	ctx := context.Background()
	_, err := s.Append(ctx, "retry-1", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "t.e", Data: []byte("{}")})
	if !errors.Is(err, eventstore.ErrUnavailable) || !strings.Contains(err.Error(), `"retry-1"`) {
		t.Fatalf("append to an unreachable server: %v, want ErrUnavailable naming the stream", err)
	}
	if n := s.clientsBuilt(); n != 4 {
		t.Fatalf("%d clients built for 4 attempts, want 4 (one fresh client per attempt)", n)
	}
	if _, err := s.ReadStream(ctx, "retry-1", eventstore.Forwards, 0, 0); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("read stream from an unreachable server: %v", err)
	}
	if _, err := s.ReadAll(ctx, eventstore.Start, 0); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("read all from an unreachable server: %v", err)
	}
	if _, err := s.Head(ctx); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("head of an unreachable server: %v", err)
	}
	if _, err := s.SubscribeAll(ctx, eventstore.Start); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("subscribe to an unreachable server: %v", err)
	}
	if n := s.clientsBuilt(); n != 4*5 {
		t.Fatalf("%d clients built for 5 operations of 4 attempts, want 20", n)
	}
}

func TestNoRetries(t *testing.T) {
	s := quickFail(t, Options{MaxRetries: -1})
	if _, err := s.Head(context.Background()); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("head: %v", err)
	}
	if n := s.clientsBuilt(); n != 1 {
		t.Fatalf("%d clients built with retries off, want 1", n)
	}
}

// When the caller's deadline ends the retries, the error is the deadline's and still says why.
func TestDeadlineDuringRetries(t *testing.T) {
	s := quickFail(t, Options{MaxRetries: 1 << 20, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := s.ReadStream(ctx, "deadline-1", eventstore.Forwards, 0, 0)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last failure") {
		t.Fatalf("read with a deadline against an unreachable server: %v", err)
	}
}

// wantCallsFail checks that Append (of one event to stream), ReadStream (of stream), ReadAll,
// SubscribeAll and Head on s, called with ctx, each fail with want.
func wantCallsFail(t *testing.T, ctx context.Context, s *Store, stream string, want error) {
	t.Helper()
	ev := eventstore.EventData{ID: uuid.New(), Type: "t.e", Data: []byte("{}")}
	if _, err := s.Append(ctx, stream, eventstore.Any, ev); !errors.Is(err, want) {
		t.Errorf("append: %v", err)
	}
	if _, err := s.ReadStream(ctx, stream, eventstore.Forwards, 0, 0); !errors.Is(err, want) {
		t.Errorf("read stream: %v", err)
	}
	if _, err := s.ReadAll(ctx, eventstore.Start, 1); !errors.Is(err, want) {
		t.Errorf("read all: %v", err)
	}
	if _, err := s.SubscribeAll(ctx, eventstore.Start); !errors.Is(err, want) {
		t.Errorf("subscribe: %v", err)
	}
	if _, err := s.Head(ctx); !errors.Is(err, want) {
		t.Errorf("head: %v", err)
	}
}

func TestCancelledContextSendsNothing(t *testing.T) {
	s := quickFail(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantCallsFail(t, ctx, s, "c-1", context.Canceled)
	if n := s.clientsBuilt(); n != 0 {
		t.Errorf("%d clients built for cancelled calls", n)
	}
}

func TestClosedStore(t *testing.T) {
	s := quickFail(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := context.Background()
	wantCallsFail(t, ctx, s, "closed-1", eventstore.ErrClosed)
	if _, err := s.Append(ctx, "closed-1", eventstore.Any); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("empty append: %v", err)
	}
}

// Appends are validated before anything is sent: no client is even built.
func TestAppendValidatedBeforeSending(t *testing.T) {
	s := quickFail(t, Options{})
	ctx := context.Background()
	big := eventstore.EventData{ID: uuid.New(), Type: "t.big", Data: bytes.Repeat([]byte("x"), eventstore.MaxAppendSize+1)}
	cases := []struct {
		stream string
		ev     eventstore.EventData
		want   error
	}{
		{"$system", eventstore.EventData{ID: uuid.New(), Type: "t.e"}, eventstore.ErrInvalidStreamName},
		{"ok-1", eventstore.EventData{ID: uuid.New(), Type: "$metadata"}, eventstore.ErrInvalidEventType},
		{"ok-1", eventstore.EventData{Type: "t.e"}, eventstore.ErrInvalidEvent},
		{"ok-1", big, eventstore.ErrTooLarge},
	}
	for _, c := range cases {
		if _, err := s.Append(ctx, c.stream, eventstore.Any, c.ev); !errors.Is(err, c.want) {
			t.Errorf("append to %q of %q: %v, want %v", c.stream, c.ev.Type, err, c.want)
		}
	}
	if _, err := s.ReadStream(ctx, "$system", eventstore.Forwards, 0, 0); !errors.Is(err, eventstore.ErrInvalidStreamName) {
		t.Errorf("read of a system stream: %v", err)
	}
	if n := s.clientsBuilt(); n != 0 {
		t.Errorf("%d clients built for refused appends", n)
	}
}

func TestConnectionStringErrorsFailAtOnce(t *testing.T) {
	cases := []struct{ cs, want string }{
		{"", "not an EventStoreDB connection string"},
		{"http://127.0.0.1:2113", "not an EventStoreDB connection string"},
		{"esdb://", "host"},
		{"esdb://127.0.0.1:notaport", "port"},
		{"esdb://127.0.0.1:2113?tsl=false", `unknown setting "tsl"`},
		{"esdb://127.0.0.1:2113?tls=maybe", "tls"},
		{"esdb://127.0.0.1:2113?nodePreference=nearest", "NodePreference"},
		{"esdb://127.0.0.1:2113/some/path", "path"},
		{"esdb://admin:s3cret@127.0.0.1:2113?tsl=false", "REDACTED"},
	}
	for _, c := range cases {
		s, err := Open(context.Background(), c.cs, Options{})
		if err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) succeeded", c.cs)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) = %v, want an error mentioning %q and no password", c.cs, err, c.want)
		}
		if errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("Open(%q): a bad connection string is not unavailability: %v", c.cs, err)
		}
	}
}

// Failed calls, retired clients and a closed store leave no goroutine behind.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := quickFail(t, Options{MaxRetries: 2})
	ctx := context.Background()
	for range 3 {
		if _, err := s.Head(ctx); !errors.Is(err, eventstore.ErrUnavailable) {
			t.Fatalf("head: %v", err)
		}
	}
	if _, err := s.SubscribeAll(ctx, eventstore.Start); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("subscribe: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
