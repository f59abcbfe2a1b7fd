package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of the stream limits (Options.MaxStreamsPerPrincipal, MaxStreams, StreamWriteTimeout).
const (
	DefaultMaxStreamsPerPrincipal = 4
	DefaultMaxStreams             = 64
	DefaultStreamWriteTimeout     = 10 * time.Second
)

// streamRetryAfter is the Retry-After of a stream refused for the limits, in seconds.
const streamRetryAfter = 5

// streamLimiter bounds the streamed responses (exports, NDJSON event lists) open at once, per
// principal and in all, so that clients that open streams and stop reading cannot hold the
// server's memory: each open stream holds its buffers until it ends. It is safe for concurrent use.
type streamLimiter struct {
	perPrincipal, total int

	mu     sync.Mutex
	open   int
	byName map[string]int
}

func newStreamLimiter(perPrincipal, total int) *streamLimiter {
	if perPrincipal <= 0 {
		perPrincipal = DefaultMaxStreamsPerPrincipal
	}
	if total <= 0 {
		total = DefaultMaxStreams
	}
	return &streamLimiter{perPrincipal: perPrincipal, total: total, byName: map[string]int{}}
}

// acquire takes a stream slot for principal, or returns a rate_limited error (and sets Retry-After
// on w) when the principal or the server has all its streams open. release gives the slot back;
// call it exactly once.
func (l *streamLimiter) acquire(w http.ResponseWriter, principal string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mine := l.byName[principal]
	switch {
	case mine >= l.perPrincipal:
		err = errorf(CodeRateLimited, "principal %q has %d streams (exports, NDJSON event lists) open, the most it may; retry when one ends", clip(principal), mine)
	case l.open >= l.total:
		err = errorf(CodeRateLimited, "the server has %d streams (exports, NDJSON event lists) open, the most it serves at once; retry later", l.open)
	}
	if err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(streamRetryAfter))
		return nil, err
	}
	l.open++
	l.byName[principal] = mine + 1
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.open--
			if l.byName[principal]--; l.byName[principal] == 0 {
				delete(l.byName, principal)
			}
		})
	}, nil
}

// deadlineWriter writes a streamed response, moving the connection's write deadline to timeout
// from now before every write: a client that stops reading for longer than timeout has its
// connection cut (the write fails) instead of holding the handler, its buffers and graceful
// shutdown. Streamed responses close the connection when they end (Connection: close), so the
// deadline left on it never reaches a later request.
type deadlineWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func newDeadlineWriter(w http.ResponseWriter, timeout time.Duration) *deadlineWriter {
	w.Header().Set("Connection", "close")
	return &deadlineWriter{w: w, rc: http.NewResponseController(w), timeout: timeout}
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	// An error means the writer cannot set deadlines (a test recorder): the write goes on without.
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.w.Write(b)
}

// startStream is the common start of a streamed response: a slot from the limiter (or the
// rate_limited refusal), and the writer with the write deadline.
func (s *Server) startStream(w http.ResponseWriter, p Principal) (*deadlineWriter, func(), error) {
	release, err := s.streams.acquire(w, p.Name)
	if err != nil {
		return nil, nil, err
	}
	return newDeadlineWriter(w, s.streamTimeout), release, nil
}
