package console

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignInStartsASessionAndKeepsTheTokenOutOfTheBrowser(t *testing.T) {
	f := newFixture(t, phase1Doc)
	page := f.do("GET", "/console/login", nil).Body.String()
	for _, want := range []string{`<label for="token">Token</label>`, `type="password"`, `>Sign in</button>`} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-in page lacks %s", want)
		}
	}
	w := f.do("POST", "/console/login", url.Values{"token": {"tok-ops"}, "csrf": {field(t, page, "csrf")}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("sign-in answered %d", w.Code)
	}
	ck := f.cookies[sessionCookie]
	if ck == nil {
		t.Fatal("no session cookie")
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" || ck.Secure {
		t.Errorf("session cookie on plain HTTP = %+v, want HttpOnly, SameSite=Strict, Path=/console/, not Secure", ck)
	}
	for _, h := range w.Header().Values("Set-Cookie") {
		if strings.Contains(h, "tok-ops") {
			t.Errorf("a cookie holds the token: %s", h)
		}
	}
	if strings.Contains(w.Header().Get("Location"), "tok-ops") {
		t.Errorf("the redirect holds the token: %s", w.Header().Get("Location"))
	}
	if body := f.do("GET", "/console/customers", nil).Body.String(); strings.Contains(body, "tok-ops") {
		t.Error("a page holds the token")
	}
}

func TestSessionCookieIsSecureUnderTLS(t *testing.T) {
	f := newFixture(t, phase1Doc)
	page := f.do("GET", "/console/login", nil).Body.String()
	r := httptest.NewRequest("POST", "/console/login", strings.NewReader(url.Values{"token": {"tok-ops"}, "csrf": {field(t, page, "csrf")}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(f.cookies[loginCSRFCookie])
	r.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookie && !c.Secure {
			t.Errorf("session cookie under TLS is not Secure: %+v", c)
		}
	}
}

func TestWrongTokenIsRefused(t *testing.T) {
	f := newFixture(t, phase1Doc)
	page := f.do("GET", "/console/login", nil).Body.String()
	w := f.do("POST", "/console/login", url.Values{"token": {"tok-nobody"}, "csrf": {field(t, page, "csrf")}})
	if w.Code != http.StatusUnauthorized || f.cookies[sessionCookie] != nil {
		t.Fatalf("a wrong token: %d, session cookie %v", w.Code, f.cookies[sessionCookie])
	}
	if !strings.Contains(w.Body.String(), `role="status"`) || !strings.Contains(w.Body.String(), "does not identify a principal") {
		t.Errorf("no status message for a wrong token:\n%s", w.Body)
	}
}

func TestSignInWithoutItsCSRFCookieIsRefused(t *testing.T) {
	f := newFixture(t, phase1Doc)
	page := f.do("GET", "/console/login", nil).Body.String()
	delete(f.cookies, loginCSRFCookie) // a form posted from elsewhere carries no cookie of ours
	w := f.do("POST", "/console/login", url.Values{"token": {"tok-ops"}, "csrf": {field(t, page, "csrf")}})
	if w.Code != http.StatusForbidden || f.cookies[sessionCookie] != nil {
		t.Fatalf("sign-in without the CSRF cookie: %d, session cookie %v", w.Code, f.cookies[sessionCookie])
	}
}

func TestPostWithoutTheSessionsCSRFTokenDoesNothing(t *testing.T) {
	f := newFixture(t, phase1Doc)
	csrf := f.signIn()
	for _, bad := range []url.Values{
		{"reason": {"forged"}},
		{"reason": {"forged"}, "csrf": {"forged"}},
		{"reason": {"forged"}, "csrf": {csrf[:len(csrf)-1]}},
	} {
		w := f.do("POST", "/console/customers/c1/act/freeze", bad)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "CSRF check failed") {
			t.Errorf("POST with csrf %q: %d\n%s", bad.Get("csrf"), w.Code, w.Body)
		}
	}
	if w := f.do("POST", "/console/batch", url.Values{"action": {"freeze"}, "id": {"c1"}, "reason": {"x"}}); w.Code != http.StatusForbidden {
		t.Errorf("batch without csrf: %d", w.Code)
	}
	if w := f.do("POST", "/console/logout", url.Values{}); w.Code != http.StatusForbidden {
		t.Errorf("sign-out without csrf: %d", w.Code)
	}
	if s := f.api.sent(); len(s) != 0 {
		t.Fatalf("forged forms reached the API: %+v", s)
	}

	w := f.do("POST", "/console/customers/c1/act/freeze", url.Values{"csrf": {csrf}, "reason": {"overdue invoice"},
		"idempotency_key": {"k-1"}, "return": {"/console/customers?tab=customers"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/customers?tab=customers" {
		t.Fatalf("freeze: %d %s\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	s := f.api.sent()
	if len(s) != 1 || s[0].path != "/v1/customers/c1/freeze" || s[0].key != "k-1" ||
		s[0].body["reason"] != "overdue invoice" || s[0].body["freeze_type"] != "ACCOUNT" {
		t.Fatalf("the API got %+v", s)
	}
	page := f.do("GET", "/console/customers?tab=customers", nil).Body.String()
	if !strings.Contains(page, "Customer c1 frozen (ACCOUNT). Position 9.") {
		t.Errorf("no message after the freeze:\n%s", page)
	}
}

func TestIdleAndTotalExpiry(t *testing.T) {
	f := newFixture(t, phase1Doc)
	f.signIn()
	for i := 0; i < 3; i++ { // used every 20 minutes: stays
		f.clock.advance(20 * time.Minute)
		if w := f.do("GET", "/console/customers", nil); w.Code != http.StatusOK {
			t.Fatalf("after %d×20 min of use: %d %s", i+1, w.Code, w.Header().Get("Location"))
		}
	}
	f.clock.advance(DefaultIdleTimeout)
	w := f.do("GET", "/console/customers", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/login?ended=expired" {
		t.Fatalf("after %s idle: %d %s", DefaultIdleTimeout, w.Code, w.Header().Get("Location"))
	}

	f.signIn()
	for used := time.Duration(0); used < DefaultMaxLifetime-20*time.Minute; used += 20 * time.Minute {
		f.clock.advance(20 * time.Minute)
		if w := f.do("GET", "/console/customers", nil); w.Code != http.StatusOK {
			t.Fatalf("used for %s: %d", used, w.Code)
		}
	}
	f.clock.advance(20 * time.Minute)
	if w := f.do("GET", "/console/customers", nil); w.Header().Get("Location") != "/console/login?ended=expired" {
		t.Fatalf("after %s in all: %d %s", DefaultMaxLifetime, w.Code, w.Header().Get("Location"))
	}
}

func TestPrincipalRemovedEndsItsSessions(t *testing.T) {
	f := newFixture(t, phase1Doc)
	f.signIn()
	f.api.mu.Lock()
	f.api.revoked = true
	f.api.mu.Unlock()
	w := f.do("GET", "/console/customers", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/login?ended=removed" {
		t.Fatalf("after the principal was removed: %d %s", w.Code, w.Header().Get("Location"))
	}
	if n := f.con.sessions.len(); n != 0 {
		t.Errorf("%d sessions left", n)
	}
	if page := f.do("GET", "/console/login?ended=removed", nil).Body.String(); !strings.Contains(page, "no longer identifies a principal") {
		t.Errorf("the sign-in page does not say why:\n%s", page)
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	f := newFixture(t, phase1Doc)
	csrf := f.signIn()
	old := f.cookies[sessionCookie]
	w := f.do("POST", "/console/logout", url.Values{"csrf": {csrf}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/login?ended=signed-out" {
		t.Fatalf("sign-out: %d %s", w.Code, w.Header().Get("Location"))
	}
	f.cookies[sessionCookie] = old // a copy of the cookie kept from before
	if w := f.do("GET", "/console/customers", nil); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/console/login") {
		t.Fatalf("the old cookie after sign-out: %d %s", w.Code, w.Header().Get("Location"))
	}
}

func TestEveryAnswerHasTheSecurityHeaders(t *testing.T) {
	f := newFixture(t, phase1Doc)
	f.signIn()
	for _, path := range []string{"/", "/console/", "/console/login", "/console/customers", "/console/customers/c1", "/console/audit",
		"/console/static/console.js", "/console/static/console.css", "/console/nothing"} {
		h := f.do("GET", path, nil).Header()
		csp := h.Get("Content-Security-Policy")
		if csp == "" || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
	for _, path := range []string{"/console/customers", "/console/customers/c1"} {
		if body := f.do("GET", path, nil).Body.String(); strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
			t.Errorf("%s has inline script or style", path)
		}
	}
}

func TestSetBudgetOnlyWhenTheAPIOffersIt(t *testing.T) {
	f := newFixture(t, phase1Doc)
	csrf := f.signIn()
	page := f.do("GET", "/console/customers", nil).Body.String()
	if strings.Contains(page, "Set budget") {
		t.Error(`"Set budget" offered by an API without budgets`)
	}
	if !strings.Contains(page, ">Unfreeze</a>") || !strings.Contains(page, ">Freeze account and resources</a>") {
		t.Errorf("an ACCOUNT-frozen customer's actions are missing:\n%s", page)
	}
	if strings.Contains(page, `id="f-frozen"`) || !strings.Contains(page, `id="f-tag"`) {
		t.Error("the search form does not follow the parameters the API declares")
	}
	if w := f.do("POST", "/console/customers/c1/act/budget", url.Values{"csrf": {csrf}, "amount": {"10"}}); w.Code != http.StatusNotFound {
		t.Errorf("set budget without the route: %d", w.Code)
	}

	f = newFixture(t, budgetDoc)
	csrf = f.signIn()
	if page := f.do("GET", "/console/customers", nil).Body.String(); !strings.Contains(page, ">Set budget</a>") {
		t.Error(`"Set budget" not offered by an API with budgets`)
	}
	w := f.do("POST", "/console/customers/c1/act/budget", url.Values{"csrf": {csrf}, "budget_type": {"monthly"}, "amount": {"1000.00"}, "on_exhaustion": {"freeze"}})
	if s := f.api.sent(); w.Code != http.StatusSeeOther || len(s) != 1 || s[0].method != "PUT" || s[0].path != "/v1/customers/c1/budget" || s[0].body["amount"] != "1000.00" {
		t.Fatalf("set budget: %d, the API got %+v", w.Code, s)
	}
	if s := f.api.sent(); s[0].body["unfreeze"] != nil || s[0].body["reason"] != nil {
		t.Errorf("a budget without unfreeze sent %v", s[0].body)
	}
	f.do("POST", "/console/customers/c1/act/budget", url.Values{"csrf": {csrf}, "budget_type": {"monthly"}, "amount": {"1000"},
		"on_exhaustion": {"freeze"}, "unfreeze": {"true"}, "reason": {"budget raised"}})
	if s := f.api.sent(); len(s) != 2 || s[1].body["unfreeze"] != true || s[1].body["reason"] != "budget raised" {
		t.Errorf("set budget and unfreeze: the API got %+v", s)
	}
	if page := f.do("GET", "/console/customers", nil).Body.String(); strings.Contains(page, "Set budget (selected)") {
		t.Error("a batch budget offered by an API without PUT /v1/customers/budget")
	}
	if w := f.do("POST", "/console/batch", url.Values{"csrf": {csrf}, "action": {"budget"}, "id": {"c1"}, "amount": {"10"}}); w.Code != http.StatusNotFound {
		t.Errorf("batch budget without the route: %d", w.Code)
	}
}

func TestBatchBudgetSendsOnlyWhatTheAPITakes(t *testing.T) {
	f := newFixture(t, batchBudgetDoc)
	csrf := f.signIn()
	if page := f.do("GET", "/console/customers", nil).Body.String(); !strings.Contains(page, "Set budget (selected)") {
		t.Error("no batch budget with PUT /v1/customers/budget")
	}
	w := f.do("POST", "/console/batch", url.Values{"csrf": {csrf}, "action": {"budget"}, "id": {"c1", "c2"}, "budget_type": {"one_time"},
		"amount": {"50"}, "on_exhaustion": {"alert"}, "reason": {"ignored"}, "unfreeze": {"true"}})
	s := f.api.sent()
	if w.Code != http.StatusSeeOther || len(s) != 1 || s[0].method != "PUT" || s[0].path != "/v1/customers/budget" {
		t.Fatalf("batch budget: %d, the API got %+v", w.Code, s)
	}
	if ids, _ := s[0].body["customer_ids"].([]any); len(ids) != 2 || s[0].body["reason"] != nil || s[0].body["unfreeze"] != nil || s[0].body["type"] != "one_time" {
		t.Errorf("batch budget body %v", s[0].body)
	}
}

func TestAnotherPartnersCustomerShowsNothing(t *testing.T) {
	f := newFixture(t, phase1Doc)
	f.signIn()
	w := f.do("GET", "/console/customers/c9", nil)
	if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "customer not found") || strings.Contains(w.Body.String(), "Status</h2>") {
		t.Fatalf("an invisible customer: %d\n%s", w.Code, w.Body)
	}
}

func TestReturnAddressesStayInTheConsole(t *testing.T) {
	for ret, want := range map[string]string{
		"/console/customers?tab=resellers": "/console/customers?tab=resellers",
		"https://evil.example/":            "/fallback",
		"//evil.example/console/":          "/fallback",
		"/console/\\evil":                  "/fallback",
		"/v1/customers":                    "/fallback",
		"":                                 "/fallback",
	} {
		if got := safeReturn(ret, "/fallback"); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", ret, got, want)
		}
	}
}

func TestMountLeavesAPIPathsAlone(t *testing.T) {
	seen := ""
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.URL.EscapedPath() })
	con, err := New(Options{API: api, Identify: (&stubAPI{}).identify})
	if err != nil {
		t.Fatal(err)
	}
	h := Mount(api, con)
	for _, p := range []string{"/v1/customers/c-b/..%2Fc-a/status", "/v1/customers/../x", "/healthz", "/consolex"} {
		seen = ""
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
		if seen != p {
			t.Errorf("%s reached the API as %q", p, seen)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != http.StatusFound || w.Header().Get("Location") != "/console/" {
		t.Errorf("GET / = %d %s, want a redirect to /console/", w.Code, w.Header().Get("Location"))
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/", nil))
	if seen != "/" {
		t.Errorf("POST / should reach the API (its 404), reached %q", seen)
	}
}

func TestTabsAreOneSearchByAssociationType(t *testing.T) {
	f := newFixture(t, tabsDoc)
	f.signIn() // opens the Customers tab once
	f.do("GET", "/console/customers?tab=resellers&name=acme", nil)
	q := f.api.searches()
	if len(q) != 2 || q[0].Get("association_type") != "direct" || q[1].Get("association_type") != "reseller" ||
		q[1].Get("name") != "acme" || q[0].Get("partner_id") != "" {
		t.Fatalf("the API's searches for the two tabs: %v", q)
	}

	f = newFixture(t, phase1Doc)
	f.signIn()
	page := f.do("GET", "/console/customers?tab=resellers", nil).Body.String()
	if q := f.api.searches(); len(q) != 2 || q[1].Has("association_type") {
		t.Errorf("an API without association_type was sent %v", q)
	}
	if !strings.Contains(page, "does not filter by association type") {
		t.Error("no note that the tab is not filtered")
	}
}

func TestLiveProxiesTheChangeFeedWhileTheSessionLasts(t *testing.T) {
	f := newFixture(t, changesDoc)
	f.api.feedOpen, f.api.feedNext, f.api.feedErr = make(chan struct{}, 1), make(chan struct{}), make(chan error, 1)
	csrf := f.signIn()
	if page := f.do("GET", "/console/customers", nil).Body.String(); !strings.Contains(page, `data-live="/console/live?after=3"`) {
		t.Errorf("the list does not follow the feed after its newest row's position 3:\n%s", page)
	}
	r := httptest.NewRequest("GET", "/console/live?after=3", nil)
	r.Header.Set("Last-Event-ID", "12.1")
	for _, c := range f.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { defer close(done); f.h.ServeHTTP(w, r) }()
	// Sign out while the stream is open; the stream's next write fails and ends it.
	<-f.api.feedOpen
	f.do("POST", "/console/logout", url.Values{"csrf": {csrf}})
	close(f.api.feedNext)
	if err := <-f.api.feedErr; err == nil {
		t.Error("the stream went on after sign-out")
	}
	<-done
	got := f.api.feedReqs[0]
	if got.Header.Get("Authorization") != "Bearer tok-ops" || got.Header.Get("Accept") != "text/event-stream" ||
		got.Header.Get("Last-Event-ID") != "12.1" || got.URL.Query().Get("after") != "3" {
		t.Errorf("the API's feed request: %v %v", got.URL, got.Header)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/event-stream" || !strings.Contains(w.Body.String(), "id: 10\nevent: status") || strings.Contains(w.Body.String(), "tok-ops") {
		t.Errorf("the browser got %s:\n%s", ct, w.Body)
	}
	if strings.Contains(w.Body.String(), "heartbeat") {
		t.Error("a write after sign-out reached the browser")
	}
}

func TestPartnerFormsSendTheAPIsBodies(t *testing.T) {
	f := newFixture(t, phase1Doc)
	csrf := f.signIn()
	f.do("POST", "/console/partners/res-1/act/delegation", url.Values{"csrf": {csrf}, "freeze": {"true"}, "return": {"https://evil.example/"}})
	f.do("POST", "/console/partners/res-1/act/quota", url.Values{"csrf": {csrf}, "monthly_quota": {" 500 "}, "one_time_quota": {"0"}})
	w := f.do("POST", "/console/partners/res-1/act/freeze", url.Values{"csrf": {csrf}, "reason": {"audit"}, "idempotency_key": {"k-1"}})
	s := f.api.sent()
	if len(s) != 3 || s[0].method != "PUT" || s[0].path != "/v1/partners/res-1/delegation" || s[0].body["freeze"] != true || s[0].body["budget"] != false ||
		s[1].path != "/v1/partners/res-1/quota" || s[1].body["monthly_quota"] != "500" ||
		s[2].method != "POST" || s[2].path != "/v1/partners/res-1/freeze" || s[2].body["reason"] != "audit" || s[2].key != "k-1" {
		t.Fatalf("the API got %+v", s)
	}
	if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || loc != "/console/partners/res-1" {
		t.Errorf("after a partner action: %d to %q", w.Code, loc)
	}
	if w := f.do("POST", "/console/partners/res-1/act/delete", url.Values{"csrf": {csrf}}); w.Code != http.StatusNotFound || len(f.api.sent()) != 3 {
		t.Errorf("an unknown partner action: %d", w.Code)
	}
	if w := f.do("POST", "/console/partners/res-1/act/freeze", url.Values{"csrf": {"forged"}, "reason": {"x"}}); w.Code != http.StatusForbidden || len(f.api.sent()) != 3 {
		t.Errorf("a forged partner form: %d", w.Code)
	}
}
