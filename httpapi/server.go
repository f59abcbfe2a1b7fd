// Package httpapi is freezeledger's HTTP API (docs/HTTP-API.md) on gorilla/mux: authentication with
// bearer tokens, tenancy, problem+json errors, idempotency keys, read-your-writes, the OpenAPI
// document, metrics and one log line per request. It speaks the domain's language: writes become
// domain commands (Ledger), reads come from the read models (ReadModels) and the audit log (Audit).
//
// Decisions beyond docs/HTTP-API.md are written in docs/API-NOTES.md.
package httpapi

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi/verification"
)

// DefaultWaitTimeout is how long a read with min_position, or a write's read-back, waits for the
// read models before answering 503 unavailable.
const DefaultWaitTimeout = 5 * time.Second

// DefaultMaxHeaderBytes is the default Options.MaxHeaderBytes: half of the 64 KiB that serve gives
// net/http, so most oversize headers get a problem+json answer.
const DefaultMaxHeaderBytes = 32 << 10

// Options configure a Server. Ledger, Reads and Principals are required.
type Options struct {
	Ledger     Ledger
	Reads      ReadModels
	Audit      Audit // nil: the audit routes answer 503 unavailable
	Principals *Principals
	Logger     hclog.Logger // nil: no logging
	// AccessLog, if set, writes the one line per request (cheaply, in batches); nil writes it
	// through Logger at info level. The caller closes it after the http.Server has shut down.
	AccessLog *AccessLog
	// Registry is where the API's metrics are registered and what /metrics serves; nil makes a new one.
	Registry *prometheus.Registry
	// WaitTimeout bounds min_position waits and write read-backs; 0 means DefaultWaitTimeout.
	WaitTimeout time.Duration
	// StoreReady reports whether the store is open and usable (for /readyz); nil means always.
	StoreReady func(ctx context.Context) error
	// MaxHeaderBytes bounds a request's header block (request line and headers, as net/http counts
	// them); a larger one is a 431 headers_too_large problem. Keep it below the http.Server's own
	// MaxHeaderBytes, whose refusal net/http writes as text/plain. 0 means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxStreamsPerPrincipal and MaxStreams bound the streamed responses (audit exports, NDJSON
	// audit event lists) open at once for one principal and in all; one more is a 429 rate_limited
	// with Retry-After. 0 means DefaultMaxStreamsPerPrincipal (4) and DefaultMaxStreams (64).
	MaxStreamsPerPrincipal, MaxStreams int
	// Personal seals personal data and destroys its keys (rule 21); nil: the personal routes and a
	// personal object at association answer 503 unavailable.
	Personal PersonalVault
	// StreamWriteTimeout is how long a streamed response waits for the client to take each chunk
	// (about 32 KiB) before the connection is cut; 0 means DefaultStreamWriteTimeout (10 s).
	StreamWriteTimeout time.Duration
	// Feed configures the change feed and the webhook routes (changes.go, webhooks.go).
	Feed FeedOptions
	// Verification holds the principals' TOTP enrolments (rule 19); nil: the TOTP routes and any
	// X-Verification-Code answer 503 unavailable.
	Verification *verification.Store
}

// Server is the HTTP API. It is safe for concurrent use.
type Server struct {
	ledger     Ledger
	reads      ReadModels
	audit      Audit
	principals atomic.Pointer[Principals]
	log        hclog.Logger
	access     *AccessLog
	registry   *prometheus.Registry
	wait       time.Duration
	storeReady func(ctx context.Context) error
	maxHeader  int
	streams    *streamLimiter
	// statusETags: status reads carry an ETag and answer If-None-Match (always on; off only in
	// BenchmarkStatusRead's comparison).
	statusETags bool
	// streamTimeout is the write deadline of each chunk of a streamed response.
	streamTimeout time.Duration
	metrics       *httpMetrics
	handler       http.Handler
	feed          FeedOptions
	personal      PersonalVault // rule 21 (personal.go); nil: unavailable
	verify        *verification.Store
}

// New builds a Server.
func New(o Options) (*Server, error) {
	if o.Ledger == nil || o.Reads == nil || o.Principals == nil {
		return nil, errorf(domain.CodeInvalid, "httpapi.New: Ledger, Reads and Principals are required")
	}
	s := &Server{
		ledger: o.Ledger, reads: o.Reads, audit: o.Audit, log: o.Logger, access: o.AccessLog, registry: o.Registry,
		wait: o.WaitTimeout, storeReady: o.StoreReady, maxHeader: o.MaxHeaderBytes,
		streams:       newStreamLimiter(o.MaxStreamsPerPrincipal, o.MaxStreams),
		streamTimeout: o.StreamWriteTimeout, statusETags: true, feed: o.Feed, verify: o.Verification,
	}
	s.personal = o.Personal
	if s.streamTimeout <= 0 {
		s.streamTimeout = DefaultStreamWriteTimeout
	}
	if s.maxHeader <= 0 {
		s.maxHeader = DefaultMaxHeaderBytes
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	if s.wait <= 0 {
		s.wait = DefaultWaitTimeout
	}
	s.principals.Store(o.Principals)
	m, err := newHTTPMetrics(s.registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.handler = s.routes()
	return s, nil
}

// Handler is the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// SetPrincipals replaces the principals (for example after the file changed); requests in flight keep
// the set they started with.
func (s *Server) SetPrincipals(ps *Principals) { s.principals.Store(ps) }

// Registry is the Prometheus registry /metrics serves.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// access says who may call a route.
type access int

const (
	public          access = iota // no authentication
	authenticated                 // any principal
	writers                       // platform and partner principals
	auditors                      // platform and auditors
	notReader                     // platform, partner, auditor
	billingOnly                   // the billing system (rules 12, 13)
	resourceReaders               // any principal but the billing system, which may read resources
	parties                       // partner and customer principals (rule 20: the two sides of a disassociation)
)

func (a access) allows(role domain.Role) bool {
	switch a {
	case public:
		return true
	case authenticated:
		return role != domain.RoleBilling // the billing system only reports usage and resources
	case billingOnly:
		return role == domain.RoleBilling
	case resourceReaders:
		return true
	case writers:
		return role == domain.RolePlatform || role == domain.RolePartner
	case auditors:
		return role == domain.RolePlatform || role == domain.RoleAuditor
	case notReader:
		return role != domain.RoleReader && role != domain.RoleBilling
	case parties:
		return role == domain.RolePartner || role == domain.RoleCustomer
	}
	return false
}

type route struct {
	method, path string
	access       access
	handle       func(w http.ResponseWriter, r *http.Request, p Principal) error
}

func (s *Server) routeTable() []route {
	return []route{
		// The hot read routes first: gorilla/mux tries routes in order, one regexp each.
		{"GET", "/v1/customers/{id}/status", authenticated, s.getStatus},
		{"GET", "/v1/customers/{id}/operations/{operation}", authenticated, s.getOperation},
		{"GET", "/v1/customers/{id}/operations", authenticated, s.getOperations},
		{"POST", "/v1/partners", writers, s.registerPartner},
		{"GET", "/v1/partners", authenticated, s.listPartners},
		{"GET", "/v1/partners/{id}", authenticated, s.getPartner},
		{"GET", "/v1/partners/{id}/history", notReader, s.getPartnerHistory},
		{"POST", "/v1/partners/{id}/freeze", writers, s.freezePartner},
		{"POST", "/v1/partners/{id}/unfreeze", writers, s.unfreezePartner},
		{"PUT", "/v1/partners/{id}/delegation", writers, s.putDelegation},
		{"DELETE", "/v1/partners/{id}/delegation", writers, s.deleteDelegation},
		{"POST", "/v1/customers", writers, s.associateCustomer},
		{"GET", "/v1/customers", authenticated, s.searchCustomers},
		{"POST", "/v1/customers/freeze", writers, s.batchFreeze},
		{"POST", "/v1/customers/unfreeze", writers, s.batchUnfreeze},
		{"GET", "/v1/customers/{id}", authenticated, s.getCustomer},
		{"POST", "/v1/customers/{id}/freeze", writers, s.freezeCustomer},
		{"POST", "/v1/customers/{id}/unfreeze", writers, s.unfreezeCustomer},
		{"GET", "/v1/customers/{id}/history", notReader, s.getHistory},
		{"GET", "/v1/customers/{id}/timeline", notReader, s.getTimeline},
		// Phase 2 (rules 12 to 18): billing.go, budgets.go.
		{"POST", "/v1/usage", billingOnly, s.postUsage},
		{"PUT", "/v1/customers/budget", writers, s.batchBudget},
		{"PUT", "/v1/customers/{id}/resources/{resource_id}", billingOnly, s.putResource},
		{"DELETE", "/v1/customers/{id}/resources/{resource_id}", billingOnly, s.deleteResource},
		{"GET", "/v1/customers/{id}/resources", resourceReaders, s.getResources},
		{"GET", "/v1/customers/{id}/resources/{resource_id}/operations", resourceReaders, s.getResourceOperations},
		{"PUT", "/v1/customers/{id}/budget", writers, s.putBudget},
		{"DELETE", "/v1/customers/{id}/budget", writers, s.deleteBudget},
		{"GET", "/v1/customers/{id}/budget", authenticated, s.getBudget},
		{"GET", "/v1/customers/{id}/budget/history", notReader, s.getBudgetHistory},
		{"PUT", "/v1/partners/{id}/quota", writers, s.putQuota},
		{"GET", "/v1/partners/{id}/quota", authenticated, s.getQuota},
		{"PATCH", "/v1/customers/{id}/personal", writers, s.patchPersonal},
		{"POST", "/v1/customers/{id}/erase", writers, s.erasePersonal},
		{"GET", "/v1/audit/events", auditors, s.auditEvents},
		{"GET", "/v1/audit/export", auditors, s.auditExport},
		{"GET", "/v1/audit/bundle", auditors, s.auditBundle},
		{"GET", "/v1/audit/tlog/checkpoint", auditors, s.tlogCheckpoint},
		{"GET", "/v1/audit/tlog/tile/{path:.+}", auditors, s.tlogTile},
		{"GET", "/v1/audit/checkpoint", authenticated, s.auditCheckpoint},
		{"GET", "/v1/audit/proof/inclusion", auditors, s.auditInclusion},
		{"GET", "/v1/audit/proof/consistency", auditors, s.auditConsistency},
		{"GET", "/v1/audit/public-key", public, s.auditPublicKey},
		{"GET", "/v1/changes", authenticated, s.getChanges},
		{"POST", "/v1/webhooks", authenticated, s.createWebhook},
		{"GET", "/v1/webhooks", authenticated, s.listWebhooks},
		{"GET", "/v1/webhooks/{id}", authenticated, s.getWebhook},
		{"DELETE", "/v1/webhooks/{id}", authenticated, s.deleteWebhook},
		{"POST", "/v1/webhooks/{id}/enable", authenticated, s.enableWebhook},
		{"GET", "/healthz", public, s.healthz},
		{"GET", "/readyz", public, s.readyz},
		{"GET", "/openapi.json", public, s.openAPI},
		// Rules 19 and 20 (verification.go, disassociation.go).
		{"POST", "/v1/principals/self/totp", writers, s.enrolTOTP},
		{"POST", "/v1/principals/self/totp/confirm", writers, s.confirmTOTP},
		{"PUT", "/v1/partners/{id}/verification", writers, s.putVerification},
		{"POST", "/v1/customers/{id}/disassociation", parties, s.requestDisassociation},
		{"POST", "/v1/customers/{id}/disassociation/accept", parties, s.acceptDisassociation},
		{"POST", "/v1/customers/{id}/disassociation/reject", parties, s.rejectDisassociation},
		{"GET", "/v1/customers/{id}/disassociation", authenticated, s.getDisassociation},
	}
}

func (s *Server) routes() http.Handler {
	// SkipClean: gorilla/mux would answer a path with dot segments or encoded slashes
	// (/v1/customers/c-b/..%2Fc-a/status) with a 301 to the cleaned path, before authentication, and
	// redirect writes. Such a path matches no route instead: 404, or 400 for an ID that is not one.
	r := mux.NewRouter().SkipClean(true)
	hot := map[fastRoute]http.Handler{}
	for _, rt := range s.routeTable() {
		h := s.endpoint(rt, s.metrics.forRoute(rt.path))
		if fr, ok := fastRouteOf(rt.method, rt.path); ok {
			hot[fr] = h
		}
		r.Handle(rt.path, h).Methods(withHead(rt.method)...).Name(rt.method + " " + rt.path)
	}
	metrics := promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
	r.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		setRoute(req, "/metrics", nil)
		metrics.ServeHTTP(w, req)
	})).Methods(withHead("GET")...)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		setRoute(req, "unmatched", nil)
		writeProblem(w, problemOf(errorf(domain.CodeNotFound, "no route %s %s", clip(req.Method), clip(req.URL.Path))))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		setRoute(req, "unmatched", nil)
		allow := strings.Join(allowedMethods(r, req), ", ")
		w.Header().Set("Allow", allow)
		writeProblem(w, problemOf(errorf(CodeMethodNotAllowed, "%s does not take %s; it takes %s", clip(req.URL.Path), clip(req.Method), allow)))
	})
	return s.observe(customerFastPath(hot, r))
}

// The API's hottest routes, taken by customerFastPath: the status read partner systems poll, and
// the single-customer freeze and unfreeze.
const (
	customerPrefix = "/v1/customers/"
	statusPath     = customerPrefix + "{id}/status"
	freezePath     = customerPrefix + "{id}/freeze"
	unfreezePath   = customerPrefix + "{id}/unfreeze"
)

// fastRoute is a route customerFastPath takes: a method and a path template of the form
// customerPrefix + "{id}" + suffix.
type fastRoute struct{ method, suffix string }

// fastRouteOf is the fastRoute of a route-table entry, false for a route the fast path leaves to the
// router.
func fastRouteOf(method, path string) (fastRoute, bool) {
	switch path {
	case statusPath, freezePath, unfreezePath:
		return fastRoute{method, path[len(customerPrefix+"{id}"):]}, true
	}
	return fastRoute{}, false
}

// customerFastPath routes the requests of the fast routes (hot, by method and suffix; a GET route
// answers HEAD too) without trying the router's routes (a regular expression each) and with one
// copy of the request instead of two; every other request goes to next. It matches exactly what
// the router would for those routes: the path as given (SkipClean), an id of one or more bytes
// without '/' (TestFastPathMatchesRouter).
func customerFastPath(hot map[fastRoute]http.Handler, next http.Handler) http.Handler {
	if len(hot) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if !strings.HasPrefix(p, customerPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		rest := p[len(customerPrefix):]
		slash := strings.IndexByte(rest, '/')
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		h := hot[fastRoute{method, rest[max(slash, 0):]}]
		if slash <= 0 || h == nil {
			next.ServeHTTP(w, r)
			return
		}
		if ri, ok := r.Context().Value(ctxKey{}).(*requestInfo); ok {
			ri.pathID = rest[:slash] // no copy of the request for the router's variables
		} else {
			r = mux.SetURLVars(r, map[string]string{"id": rest[:slash]})
		}
		h.ServeHTTP(w, r)
	})
}

// withHead is the methods a route answers: a GET route answers HEAD too (net/http drops the body).
func withHead(method string) []string {
	if method == http.MethodGet {
		return []string{http.MethodGet, http.MethodHead}
	}
	return []string{method}
}

// methodOrder is the order of the methods in an Allow header.
var methodOrder = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete}

// allowedMethods lists the methods of the routes whose path matches req's (for the Allow header of
// a 405): each route is asked whether it would match req with each of its methods.
func allowedMethods(r *mux.Router, req *http.Request) []string {
	ok := map[string]bool{}
	_ = r.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		ms, err := rt.GetMethods()
		if err != nil {
			return nil
		}
		for _, m := range ms {
			try := *req
			try.Method = m
			if rt.Match(&try, &mux.RouteMatch{}) {
				ok[m] = true
			}
		}
		return nil
	})
	var out []string
	for _, m := range methodOrder {
		if ok[m] {
			out = append(out, m)
		}
	}
	return out
}

// endpoint wraps a route's handler with authentication, access control and error rendering; rm
// are the route's metrics.
func (s *Server) endpoint(rt route, rm *routeMetrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r)
		ri.route, ri.metrics = rt.path, rm
		var p Principal
		if rt.access != public {
			if err := oneCredential(r); err != nil {
				writeProblem(w, problemOf(err))
				return
			}
			var ok bool
			p, ok = s.authenticate(r)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="freezeledger"`)
				writeProblem(w, problemOf(errorf(CodeUnauthenticated, "a valid bearer token is required (Authorization: Bearer <token>)")))
				return
			}
			ri.principal = p.Name
		}
		ri.access = rt.access
		ri.critical = s.criticalCheck(rt)
		// Routes on one resource check access after visibility (a resource the caller may not see is
		// a 404, not a 403); the others check it here.
		if !strings.Contains(rt.path, "{id}") {
			if err := checkAccess(r, p); err != nil {
				writeProblem(w, problemOf(err))
				return
			}
		}
		if err := rt.handle(w, r, p); err != nil {
			pr := problemOf(err)
			if pr.Code == CodeInternal {
				switch {
				case r.Context().Err() != nil:
					// The client went away (a cancelled export, a closed connection): not a server fault.
					s.log.Debug("request abandoned by the client", "request_id", ri.id, "route", rt.path, "error", err)
				case ri.wrote:
					s.log.Warn("streamed response aborted", "request_id", ri.id, "route", rt.path, "error", err)
				default:
					s.log.Error("request failed", "request_id", ri.id, "route", rt.path, "error", err)
				}
			}
			if ri.wrote {
				// The body has started (a streamed export): the only honest signal left is to abort.
				panic(http.ErrAbortHandler)
			}
			setRetryAfter(w, r)
			writeProblem(w, pr)
		}
	})
}

// checkAccess refuses a principal whose role may not call the request's route (403 forbidden).
func checkAccess(r *http.Request, p Principal) error {
	if p.Role == domain.RoleCustomer {
		return customerAccess(r)
	}
	a := info(r).access
	if a.allows(p.Role) {
		return nil
	}
	switch a {
	case writers:
		return errorf(domain.CodeForbidden, "role %s may not write; only platform and partner principals may", p.Role)
	case auditors:
		return errorf(domain.CodeForbidden, "role %s may not read the audit log; only platform and auditor principals may", p.Role)
	case billingOnly:
		return errorf(domain.CodeForbidden, "role %s may not report usage or resources; only the billing system may (rules 12, 13)", p.Role)
	}
	if p.Role == domain.RoleBilling {
		return errorf(domain.CodeForbidden, "the billing role only reports usage and resources (POST /v1/usage, the resource routes)")
	}
	return errorf(domain.CodeForbidden, "role %s may not call this route; a reader may read status, operations, partners and the customer search only", p.Role)
}

// oneCredential refuses (400 invalid) a request with more than one Authorization header, or one
// whose value carries a second credential after a comma (the form a proxy may join repeated headers
// into): servers that take the first and proxies that check the last would disagree on who is asking.
// Tokens never contain a comma.
func oneCredential(r *http.Request) error {
	vs := r.Header["Authorization"]
	if len(vs) > 1 {
		return errorf(domain.CodeInvalid, "the Authorization header is given %d times; give it once, with one credential", len(vs))
	}
	if len(vs) == 1 && strings.IndexByte(vs[0], ',') >= 0 {
		return errorf(domain.CodeInvalid, "the Authorization header holds more than one credential; give one")
	}
	return nil
}

// authenticate finds the principal of the request's bearer token (oneCredential has checked there
// is at most one).
func (s *Server) authenticate(r *http.Request) (Principal, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !equalFoldASCII(h[:len(prefix)], prefix) {
		return Principal{}, false
	}
	return s.principals.Load().Authenticate(h[len(prefix):])
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
