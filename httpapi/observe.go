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

// requestInfo is what the observing middleware learns about a request while it is handled. It is
// the request's context too (the parent's values and ctxKey{} for itself), so that carrying it costs
// no allocation of its own.
type requestInfo struct {
	context.Context
	id        string
	pathID    string // the {id} of the path, when customerFastPath matched it (routeID)
	route     string
	metrics   *routeMetrics // the route's metrics; nil: looked up by route
	principal string
	access    access
	wrote     bool
	// Rule 19: critical is the route's code check (nil when it is not critical), verified its
	// outcome, retryAfter the seconds of a lockout's Retry-After.
	critical   func(r *http.Request, p Principal) (bool, error)
	verified   bool
	retryAfter int
}

// Value is the parent context's value, and ri itself for ctxKey{}.
func (ri *requestInfo) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return ri
	}
	return ri.Context.Value(key)
}

func info(r *http.Request) *requestInfo {
	if ri, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// setRoute names the route a request matched (a template, or "unmatched", "/metrics"), for its
// metrics and its log line; rm is that route's metrics when the caller has them at hand.
func setRoute(r *http.Request, route string, rm *routeMetrics) {
	ri := info(r)
	ri.route, ri.metrics = route, rm
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
	routes   sync.Map // route name -> *routeMetrics
}

// routeMetrics are one route's metric children by method and status: made on first use, then found
// without a lock (a sync.Map read), so a request's metrics cost two atomic updates and no label
// hashing. The server makes one per route template up front.
type routeMetrics struct {
	m     *httpMetrics
	route string
	byKey sync.Map // methodIndex<<10 | status -> *observers
}

type observers struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// forRoute returns route's metrics, making them on first use.
func (m *httpMetrics) forRoute(route string) *routeMetrics {
	if rm, ok := m.routes.Load(route); ok {
		return rm.(*routeMetrics)
	}
	rm, _ := m.routes.LoadOrStore(route, &routeMetrics{m: m, route: route})
	return rm.(*routeMetrics)
}

// methodLabels are the method label values; a method's index is its place here.
var methodLabels = [...]string{"GET", "POST", "PUT", "DELETE", "HEAD", "other"}

// observe records one request of the route.
func (rm *routeMetrics) observe(method string, status int, d time.Duration) {
	mi := methodIndex(method)
	if status < 0 || status > 999 {
		status = 999
	}
	key := uint32(mi)<<10 | uint32(status)
	var obs *observers
	if v, ok := rm.byKey.Load(key); ok {
		obs = v.(*observers)
	} else {
		code := strconv.Itoa(status)
		v, _ := rm.byKey.LoadOrStore(key, &observers{
			count:   rm.m.requests.WithLabelValues(methodLabels[mi], rm.route, code),
			latency: rm.m.latency.WithLabelValues(methodLabels[mi], rm.route, code),
		})
		obs = v.(*observers)
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

// observed is a request's requestInfo and statusWriter in one allocation.
type observed struct {
	ri requestInfo
	sw statusWriter
}

// observe gives every request an ID (X-Request-Id in and out), recovers panics as 500 problems,
// counts and times it by route template, and logs one line (through Options.AccessLog when set):
// never the token, the query or the body.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		o := &observed{}
		ri, sw := &o.ri, &o.sw
		ri.Context = r.Context()
		ri.id = requestIDFrom(r.Header.Get("X-Request-Id"))
		w.Header()["X-Request-Id"] = []string{ri.id}
		sw.ResponseWriter, sw.ri = w, ri
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
			rm := ri.metrics
			if rm == nil || rm.route != route {
				rm = s.metrics.forRoute(route)
			}
			rm.observe(r.Method, status, d)
			if s.access != nil {
				s.access.log(&accessRecord{id: ri.id, principal: ri.principal, method: r.Method,
					route: route, status: status, duration: d, bytes: sw.bytes})
			} else if s.log.IsInfo() {
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
		next.ServeHTTP(sw, r.WithContext(ri))
	})
}

// methodIndex is m's place in methodLabels: the method label is bounded to the methods the API has
// (a client can send any token).
func methodIndex(m string) int {
	switch m {
	case "GET":
		return 0
	case "POST":
		return 1
	case "PUT":
		return 2
	case "DELETE":
		return 3
	case "HEAD":
		return 4
	}
	return 5
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
