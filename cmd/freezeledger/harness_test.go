package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/httpapi"
)

// testServer is the real freezeledger serve, started through Main on 127.0.0.1:0 with a temporary
// data directory. Every response it gives a test is validated against the served OpenAPI document.
type testServer struct {
	t      testing.TB
	m      *Main
	url    string
	dir    string
	tokens map[string]string // principal name -> bearer token
	client *http.Client
	stop   context.CancelFunc
	done   chan error
	stdout *syncBuffer
	stderr *syncBuffer
	spec   *specValidator
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testPrincipal is a principal a test server gets.
type testPrincipal struct{ name, role, partner string }

// The test hierarchy (built by setupHierarchy):
//
//	platform
//	├── dist-a (distributor)        ops: op-dist-a
//	│   ├── res-a1 (reseller, freeze delegated)   op-res-a1
//	│   └── res-a2 (reseller, no delegation)      op-res-a2
//	├── dist-b (distributor)        op-dist-b
//	│   └── res-b1 (reseller)                      op-res-b1
//	└── sp-c (solution provider)    op-sp-c
var standardPrincipals = []testPrincipal{
	{"plat", "platform", ""},
	{"op-dist-a", "partner", "dist-a"},
	{"op-res-a1", "partner", "res-a1"},
	{"op-res-a2", "partner", "res-a2"},
	{"op-dist-b", "partner", "dist-b"},
	{"op-res-b1", "partner", "res-b1"},
	{"op-sp-c", "partner", "sp-c"},
	{"aud", "auditor", ""},
	{"aud-a", "auditor", "dist-a"},
	{"aud-b", "auditor", "dist-b"},
	{"rd", "reader", ""},
	{"rd-a", "reader", "dist-a"},
	{"rd-res-a1", "reader", "res-a1"},
}

// startServerForBench starts a server with the test hierarchy for a benchmark.
func startServerForBench(b *testing.B) *testServer {
	b.Helper()
	ts := startServerIn(b, b.TempDir(), standardPrincipals, nil)
	ts.setupHierarchy()
	return ts
}

// startServer starts serve with the standard principals in a fresh data directory.
func startServer(t *testing.T) *testServer {
	t.Helper()
	return startServerIn(t, t.TempDir(), standardPrincipals, nil)
}

// startServerIn starts serve on dir; principals are added to its principals file first. tweak may
// adjust Main before it runs.
func startServerIn(t testing.TB, dir string, principals []testPrincipal, tweak func(*Main)) *testServer {
	t.Helper()
	return startServerFull(t, dir, principals, tweak, []string{"--log-level", "warn"})
}

// startServerInWithFlags starts serve on an existing directory with extra flags.
func startServerInWithFlags(t testing.TB, dir string, flags []string) *testServer {
	t.Helper()
	return startServerFull(t, dir, nil, nil, flags)
}

func startServerFull(t testing.TB, dir string, principals []testPrincipal, tweak func(*Main), flags []string) *testServer {
	t.Helper()
	ts := &testServer{t: t, dir: dir, tokens: map[string]string{}, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	for _, p := range principals {
		tok, err := httpapi.CreatePrincipal(PrincipalsFile(dir), p.name, domain.Role(p.role), p.partner)
		if err != nil {
			t.Fatal(err)
		}
		ts.tokens[p.name] = tok
	}
	ts.m = &Main{Stdout: ts.stdout, Stderr: ts.stderr, UnsafeNoSync: true, ShutdownTimeout: 5 * time.Second}
	if tweak != nil {
		tweak(ts.m)
	}
	if err := ts.m.ParseFlags(append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}, flags...)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.stop = cancel
	ts.done = make(chan error, 1)
	go func() { ts.done <- ts.m.Run(ctx) }()
	select {
	case <-ts.m.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	if err := ts.m.Err(); err != nil {
		t.Fatalf("serve: %v\n%s", err, ts.stderr.String())
	}
	ts.url = "http://" + ts.m.Addr()
	ts.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	if tt, ok := t.(*testing.T); ok {
		ts.spec = newSpecValidator(tt, ts.url)
	}
	t.Cleanup(ts.shutdown)
	return ts
}

// shutdown stops the server (as SIGTERM would) and waits for Run to return.
func (ts *testServer) shutdown() {
	if ts.stop == nil {
		return
	}
	ts.stop()
	ts.stop = nil
	select {
	case err := <-ts.done:
		if err != nil {
			ts.t.Errorf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		ts.t.Error("serve did not stop within 30 s")
	}
	ts.client.CloseIdleConnections()
	_ = ts.m.Close()
}

// response is a recorded HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return v
}

// code is a problem's code ("" when the body is no problem).
func (r response) code() string {
	var p struct{ Code string }
	_ = json.Unmarshal(r.body, &p)
	return p.Code
}

// call makes a request as principal who ("" for none) and validates the response against the
// OpenAPI document. hdr is pairs of header name and value.
func (ts *testServer) call(method, path, who string, body any, hdr ...string) response {
	ts.t.Helper()
	var rd io.Reader
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			ts.t.Fatal(err)
		}
	}
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.url+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		tok, ok := ts.tokens[who]
		if !ok {
			tok = who // a raw token
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	if ts.spec != nil {
		ts.spec.check(ts.t.(*testing.T), req, raw, r)
	}
	if r.status >= 500 && r.status != http.StatusServiceUnavailable {
		ts.t.Errorf("%s %s as %q: status %d (a server error): %s", method, path, who, r.status, b)
	}
	if r.status >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			ts.t.Errorf("%s %s: error status %d with Content-Type %q, not application/problem+json", method, path, r.status, ct)
		}
	}
	return r
}

// must calls and fails the test unless the status is want.
func (ts *testServer) must(want int, method, path, who string, body any, hdr ...string) response {
	ts.t.Helper()
	r := ts.call(method, path, who, body, hdr...)
	if r.status != want {
		ts.t.Fatalf("%s %s as %q: status %d, want %d: %s", method, path, who, r.status, want, r.body)
	}
	return r
}

// head is the store's head position.
func (ts *testServer) head() eventstore.Position {
	ts.t.Helper()
	ts.m.mu.Lock()
	l := ts.m.led
	ts.m.mu.Unlock()
	p, err := l.store.Head(context.Background())
	if err != nil {
		ts.t.Fatal(err)
	}
	return p
}

// setupHierarchy registers the test hierarchy and a few customers:
//
//	c-a   (dist-a direct)     c-a1 (res-a1)   c-a2 (res-a2)
//	c-b   (dist-b direct)     c-b1 (res-b1)   c-c (sp-c)
//
// All start frozen by association (rule 1).
func (ts *testServer) setupHierarchy() {
	ts.t.Helper()
	for _, p := range []struct{ who, id, typ, parent string }{
		{"plat", "dist-a", "distributor", ""},
		{"plat", "dist-b", "distributor", ""},
		{"plat", "sp-c", "solution_provider", ""},
		{"op-dist-a", "res-a1", "reseller", "dist-a"},
		{"op-dist-a", "res-a2", "reseller", "dist-a"},
		{"op-dist-b", "res-b1", "reseller", "dist-b"},
	} {
		body := map[string]any{"partner_id": p.id, "name": "Partner " + p.id, "type": p.typ}
		if p.parent != "" {
			body["parent_id"] = p.parent
		}
		ts.must(201, "POST", "/v1/partners", p.who, body)
	}
	ts.must(200, "PUT", "/v1/partners/res-a1/delegation", "op-dist-a", map[string]any{"freeze": true, "budget": false})
	for _, c := range []struct{ who, id, partner string }{
		{"op-dist-a", "c-a", "dist-a"},
		{"op-res-a1", "c-a1", "res-a1"},
		{"op-dist-a", "c-a2", "res-a2"},
		{"op-dist-b", "c-b", "dist-b"},
		{"op-res-b1", "c-b1", "res-b1"},
		{"op-sp-c", "c-c", "sp-c"},
	} {
		ts.must(201, "POST", "/v1/customers", c.who, map[string]any{"customer_id": c.id, "name": "Customer " + c.id, "partner_id": c.partner, "tags": []string{"gold"}})
	}
}

// specValidator checks responses against the served OpenAPI document and records which operations
// were seen, so a test can require that every route was exercised.
type specValidator struct {
	router routers.Router
	mu     sync.Mutex
	seen   map[string]bool // "METHOD /path/template"
}

var (
	specOnce sync.Once
	specDoc  *openapi3.T
	specErr  error
)

func loadSpec() (*openapi3.T, error) {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		specDoc, specErr = loader.LoadFromData(httpapi.OpenAPIDocument)
		if specErr == nil {
			specErr = specDoc.Validate(context.Background())
		}
	})
	return specDoc, specErr
}

func init() {
	// JSON Lines bodies (audit events, exports) are validated line by line as arrays of their items.
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		dec := json.NewDecoder(body)
		dec.UseNumber()
		out := []any{}
		for {
			var v any
			if err := dec.Decode(&v); err == io.EOF {
				return out, nil
			} else if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	})
}

func newSpecValidator(t *testing.T, base string) *specValidator {
	t.Helper()
	doc, err := loadSpec()
	if err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	// A copy with this server's URL, so the router matches its requests.
	cp := *doc
	cp.Servers = openapi3.Servers{{URL: base}}
	r, err := gorillamux.NewRouter(&cp)
	if err != nil {
		t.Fatal(err)
	}
	return &specValidator{router: r, seen: map[string]bool{}}
}

func (v *specValidator) check(t *testing.T, req *http.Request, body []byte, r response) {
	t.Helper()
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		// Requests to paths outside the API (a test of unknown routes) and methods a path does not
		// take (405, described in the document's info) have no operation.
		if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: no operation in the OpenAPI document: %v (status %d)", req.Method, req.URL.Path, err, r.status)
		}
		return
	}
	v.mu.Lock()
	v.seen[req.Method+" "+route.Path] = true
	v.mu.Unlock()
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status:  r.status,
		Header:  r.header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(r.body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s: response %d does not match the OpenAPI document: %v\nbody: %.600s", req.Method, req.URL.RequestURI(), r.status, err, r.body)
	}
	// A request the server accepted must be one the document allows.
	if r.status < 300 {
		req2 := req.Clone(context.Background())
		req2.Body = io.NopCloser(bytes.NewReader(body))
		rin := &openapi3filter.RequestValidationInput{Request: req2, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if err := openapi3filter.ValidateRequest(context.Background(), rin); err != nil {
			t.Errorf("%s %s: accepted request does not match the OpenAPI document: %v\nbody: %.300s", req.Method, req.URL.RequestURI(), err, body)
		}
	}
}

func q(vals ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(vals); i += 2 {
		v.Set(vals[i], vals[i+1])
	}
	return "?" + v.Encode()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
