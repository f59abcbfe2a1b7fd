package console

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi"
)

// stubAPI stands in for the HTTP API in the package's tests: one customer c1 managed by dist-1, the
// bearer token "tok-ops" of principal ops (partner dist-1), and a record of the writes it was sent.
type stubAPI struct {
	mu      sync.Mutex
	doc     string
	writes  []stubWrite
	queries []url.Values // of each GET /v1/customers
	revoked bool         // the token no longer identifies anyone
	// Rule 19: admin makes ops a partner admin; verification is dist-1's switch (GET
	// /v1/partners/{id} shows it), and while it is on a critical write (a customer's or partner's
	// freeze or unfreeze, a batch, delegation, the switch) without a code is refused, as is the
	// code "000000" always (in X-Verification-Code or a confirmation's body).
	admin, verification bool
	// The change feed: each GET /v1/changes is recorded (and announced on feedOpen), sends one
	// event, then waits for feedNext
	// and tries a second, whose write error it sends to feedErr.
	feedReqs []*http.Request
	feedOpen chan struct{} // gets a value when a feed request arrived
	feedNext chan struct{}
	feedErr  chan error
}

type stubWrite struct {
	method, path, key string
	code              string // X-Verification-Code
	body              map[string]any
}

const phase1Doc = `{"paths": {"/v1/customers": {"get": {"parameters": [{"name": "name", "in": "query"}, {"$ref": "#/components/parameters/Tag"}]}}},
 "components": {"parameters": {"Tag": {"name": "tag", "in": "query"}}}}`

const changesDoc = `{"paths": {"/v1/customers": {"get": {}}, "/v1/changes": {"get": {}}}}`

const tabsDoc = `{"paths": {"/v1/customers": {"get": {"parameters": [{"name": "name", "in": "query"}, {"name": "association_type", "in": "query"}]}}}}`

const budgetDoc = `{"paths": {"/v1/customers": {"get": {"parameters": [{"name": "name", "in": "query"}]}},
 "/v1/customers/{id}/budget": {"put": {}, "get": {}}}}`

const verificationDoc = `{"paths": {"/v1/customers": {"get": {}}, "/v1/partners": {"get": {}},
 "/v1/principals/self/totp": {"post": {}}, "/v1/principals/self/totp/confirm": {"post": {}}, "/v1/partners/{id}/verification": {"put": {}}}}`

const batchBudgetDoc = `{"paths": {"/v1/customers": {"get": {"parameters": [{"name": "name", "in": "query"}]}},
 "/v1/customers/{id}/budget": {"put": {}}, "/v1/customers/budget": {"put": {}}}}`

func (a *stubAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/openapi.json" {
		_, _ = io.WriteString(w, a.doc)
		return
	}
	a.mu.Lock()
	revoked := a.revoked
	a.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer tok-ops" || revoked {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"status":401,"code":"unauthenticated","detail":"a valid bearer token is required"}`)
		return
	}
	c1 := `{"customer_id":"c1","name":"Acme","partner_id":"dist-1","distributor_id":"dist-1","managed_by":"dist-1",
		"state":"FROZEN","freeze_type":"ACCOUNT","origin":"association","effective_state":"FROZEN","tags":["gold"],"position":"3"}`
	switch {
	case r.Method == "GET" && r.URL.Path == "/v1/changes":
		a.mu.Lock()
		a.feedReqs = append(a.feedReqs, r)
		a.mu.Unlock()
		a.feedOpen <- struct{}{}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "id: 10\nevent: status\ndata: {\"customer_id\":\"c1\"}\n\n")
		_ = http.NewResponseController(w).Flush()
		<-a.feedNext
		_, err := io.WriteString(w, ": heartbeat\n\n")
		a.feedErr <- err
	case r.Method == "GET" && r.URL.Path == "/v1/customers":
		a.mu.Lock()
		a.queries = append(a.queries, r.URL.Query())
		a.mu.Unlock()
		_, _ = io.WriteString(w, `{"customers":[`+c1+`],"next_cursor":null}`)
	case r.Method == "GET" && r.URL.Path == "/v1/customers/c1/status":
		_, _ = io.WriteString(w, c1)
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/v1/customers/c1/"):
		_, _ = io.WriteString(w, `{"operations":[],"events":[]}`)
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/v1/customers/"):
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"status":404,"code":"not_found","detail":"customer not found"}`)
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/v1/partners/"):
		a.mu.Lock()
		on := a.verification
		a.mu.Unlock()
		id := strings.TrimPrefix(r.URL.Path, "/v1/partners/")
		_, _ = fmt.Fprintf(w, `{"partner_id":%q,"name":"Partner","type":"reseller","parent_id":"dist-1","delegation":{"freeze":false,"budget":false},"position":"2","verification_required":%t}`, id, on)
	case r.Method == "POST" || r.Method == "PUT":
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		code := r.Header.Get(httpapi.HeaderVerificationCode)
		a.mu.Lock()
		a.writes = append(a.writes, stubWrite{r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"), code, body})
		on := a.verification
		a.mu.Unlock()
		critical := !strings.HasPrefix(r.URL.Path, "/v1/principals/") && !strings.HasSuffix(r.URL.Path, "/budget") && !strings.HasSuffix(r.URL.Path, "/quota")
		switch {
		case code == "000000" || body["code"] == "000000" || (critical && on && code == ""):
			w.WriteHeader(http.StatusForbidden)
			_, _ = fmt.Fprintf(w, `{"status":403,"code":"verification_required","detail":"rule 19: stub refuses code [%s]"}`, code)
		case r.URL.Path == "/v1/principals/self/totp":
			_, _ = io.WriteString(w, `{"secret":"JBSWY3DPEHPK3PXP","otpauth_uri":"otpauth://totp/freezeledger:ops?secret=JBSWY3DPEHPK3PXP&issuer=freezeledger"}`)
		case r.URL.Path == "/v1/principals/self/totp/confirm":
			_, _ = io.WriteString(w, `{"totp":"active"}`)
		case strings.HasSuffix(r.URL.Path, "/verification"):
			a.mu.Lock()
			a.verification = body["enabled"] == true
			a.mu.Unlock()
			_, _ = fmt.Fprintf(w, `{"verification":{"enabled":%t},"position":"11"}`, body["enabled"] == true)
		default:
			_, _ = io.WriteString(w, `{"customer":`+c1+`,"position":"9"}`)
		}
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"status":404,"code":"not_found","detail":"no route"}`)
	}
}

func (a *stubAPI) identify(token string) (httpapi.Principal, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if token != "tok-ops" || a.revoked {
		return httpapi.Principal{}, false
	}
	return httpapi.Principal{Name: "ops", Role: domain.RolePartner, PartnerID: "dist-1", Admin: a.admin}, true
}

func (a *stubAPI) searches() []url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]url.Values(nil), a.queries...)
}

func (a *stubAPI) sent() []stubWrite {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]stubWrite(nil), a.writes...)
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a console over a stub API, and a browser-like client of it (cookies kept by hand).
type fixture struct {
	t       *testing.T
	api     *stubAPI
	con     *Console
	h       http.Handler
	clock   *testClock
	cookies map[string]*http.Cookie
}

func newFixture(t *testing.T, doc string) *fixture {
	t.Helper()
	f := &fixture{t: t, api: &stubAPI{doc: doc}, clock: &testClock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}, cookies: map[string]*http.Cookie{}}
	con, err := New(Options{API: f.api, Identify: f.api.identify, Now: f.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	f.con, f.h = con, Mount(f.api, con)
	return f
}

// do sends a request with the fixture's cookies and keeps the cookies it sets.
func (f *fixture) do(method, target string, form url.Values) *httptest.ResponseRecorder {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range f.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(f.cookies, c.Name)
		} else {
			f.cookies[c.Name] = c
		}
	}
	return w
}

// field is the value of the first hidden input named name in an HTML page.
func field(t *testing.T, page, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, `name="`+name+`" value="`)
	if !ok {
		t.Fatalf("no field %s in the page:\n%s", name, page)
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// signIn signs in as ops and returns the session's CSRF token.
func (f *fixture) signIn() string {
	f.t.Helper()
	page := f.do("GET", "/console/login", nil).Body.String()
	w := f.do("POST", "/console/login", url.Values{"token": {"tok-ops"}, "csrf": {field(f.t, page, "csrf")}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/customers" {
		f.t.Fatalf("sign-in: %d %s\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	page = f.do("GET", "/console/customers", nil).Body.String()
	return field(f.t, page, "csrf")
}
