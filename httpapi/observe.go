package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey struct{}

// requestInfo is what the observing middleware learns about a request while it is handled.
type requestInfo struct {
	id        string
	route     string
	principal string
	access    access
	wrote     bool
	// Rule 19: critical is the route's code check (nil when it is not critical), verified its
	// outcome, retryAfter the seconds of a lockout's Retry-After.
	critical   func(r *http.Request, p Principal) (bool, error)
	verified   bool
	retryAfter int
}

func info(r *http.Request) *requestInfo {
	if ri, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// RequestID returns the request ID of a request handled by the Server ("" outside it).
func RequestID(ctx context.Context) string {
	if ri, ok := ctx.Value(ctxKey{}).(*requestInfo); ok {
		return ri.id
	}
	return ""
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight prometheus.Gauge
	mu       sync.RWMutex
	cache    map[obsKey]*observers
}

type obsKey struct {
	method, route string
	status        int
}

type observers struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// observe records one request; the label lookups are cached per method, route and code.
func (m *httpMetrics) observe(method, route string, status int, d time.Duration) {
	key := obsKey{method, route, status}
	m.mu.RLock()
	obs, ok := m.cache[key]
	m.mu.RUnlock()
	if !ok {
		code := strconv.Itoa(status)
		obs = &observers{
			count:   m.requests.WithLabelValues(method, route, code),
			latency: m.latency.WithLabelValues(method, route, code),
		}
		m.mu.Lock()
		m.cache[key] = obs
		m.mu.Unlock()
	}
	obs.count.Inc()
	obs.latency.Observe(d.Seconds())
}

func newHTTPMetrics(reg *prometheus.Registry) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freezeledger_http_requests_total",
			Help: "HTTP requests by method, route template and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "freezeledger_http_request_duration_seconds",
			Help:    "HTTP request latency by method, route template and status code.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "code"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "freezeledger_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		cache: map[obsKey]*observers{},
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.inflight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// statusWriter records the status and whether the body has started.
type statusWriter struct {
	http.ResponseWriter
	ri     *requestInfo
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.ri.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets streamed responses (exports, NDJSON) reach the client as they are written.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe gives every request an ID (X-Request-Id in and out), recovers panics as 500 problems,
// counts and times it by route template, and logs one line: never the token, the query or the body.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{id: requestIDFrom(r.Header.Get("X-Request-Id"))}
		w.Header()["X-Request-Id"] = []string{ri.id}
		sw := &statusWriter{ResponseWriter: w, ri: ri}
		s.metrics.inflight.Inc()
		defer func() {
			s.metrics.inflight.Dec()
			rec := recover()
			if rec != nil && rec != http.ErrAbortHandler {
				s.log.Error("panic serving request", "request_id", ri.id, "route", ri.route, "panic", rec)
				if !ri.wrote {
					writeProblem(sw, problemOf(errorf(CodeInternal, "internal error")))
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			if rec == http.ErrAbortHandler {
				status = 499 // the response was aborted mid-body
			}
			d := time.Since(start)
			route := ri.route
			if route == "" {
				route = "unmatched"
			}
			s.metrics.observe(methodLabel(r.Method), route, status, d)
			if s.log.IsInfo() {
				s.log.Info("request", "request_id", ri.id, "principal", ri.principal, "method", r.Method,
					"route", route, "status", status, "duration", d.Round(time.Microsecond), "bytes", sw.bytes)
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
		}()
		if n := headerBytes(r); n > s.maxHeader {
			ri.route = "unmatched"
			writeProblem(sw, problemOf(errorf(CodeHeadersTooLarge, "the request's headers are about %d bytes; the limit is %d", n, s.maxHeader)))
			return
		}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri)))
	})
}

// methodLabel bounds the method label to the methods the API has (a client can send any token).
func methodLabel(m string) string {
	switch m {
	case "GET", "POST", "PUT", "DELETE", "HEAD":
		return m
	}
	return "other"
}

// requestIDFrom keeps a client's X-Request-Id when it is 1 to 128 printable ASCII characters without
// spaces, and makes a new one otherwise.
func requestIDFrom(h string) string {
	if n := len(h); n > 0 && n <= 128 {
		ok := true
		for i := 0; i < n; i++ {
			if h[i] <= ' ' || h[i] > '~' {
				ok = false
				break
			}
		}
		if ok {
			return h
		}
	}
	// A random per-process prefix and a counter: unique without a random read per request.
	n := requestSeq.Add(1)
	var b [24]byte
	copy(b[:8], requestPrefix[:])
	hex.Encode(b[8:], []byte{byte(n >> 56), byte(n >> 48), byte(n >> 40), byte(n >> 32), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	return string(b[:])
}

var (
	requestSeq    atomic.Uint64
	requestPrefix = func() (p [8]byte) {
		var r [4]byte
		_, _ = rand.Read(r[:])
		hex.Encode(p[:], r[:])
		return p
	}()
)

// headerBytes is about the size of r's header block as sent: request line, Host and every header
// line with its separators.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 + len(r.Host) + 8
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}
