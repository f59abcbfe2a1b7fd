package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
)

// hostileServer is a Server over empty read models and a failing ledger, with a platform token and
// an auditor token: enough for the checks that happen before a command reaches the domain.
func hostileServer(t testing.TB, o Options) (*Server, map[string]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.json")
	toks := map[string]string{}
	for _, p := range []struct {
		name string
		role domain.Role
	}{{"plat", domain.RolePlatform}, {"aud", domain.RoleAuditor}} {
		tok, err := CreatePrincipal(path, p.name, p.role, "")
		if err != nil {
			t.Fatal(err)
		}
		toks[p.name] = tok
	}
	ps, err := LoadPrincipals(path)
	if err != nil {
		t.Fatal(err)
	}
	if o.Ledger == nil {
		o.Ledger = failingLedger{}
	}
	if o.Reads == nil {
		o.Reads = emptyReads{}
	}
	o.Principals = ps
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return srv, toks
}

func serve(srv *Server, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

func problemCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d with Content-Type %q, not a problem: %s", rec.Code, ct, rec.Body)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", rec.Body, err)
	}
	return string(p.Code)
}

// TestTwoAuthorizationHeaders: a request with two Authorization headers, or one carrying a second
// credential after a comma, is 400 invalid, whichever of them is valid: a proxy that checks the last
// one must not disagree with a server that checks the first.
func TestTwoAuthorizationHeaders(t *testing.T) {
	srv, toks := hostileServer(t, Options{})
	good, other := "Bearer "+toks["plat"], "Bearer "+toks["aud"]
	for name, vals := range map[string][]string{
		"two headers, good first": {good, "Bearer fl_bogus"},
		"two headers, good last":  {"Bearer fl_bogus", good},
		"two good headers":        {good, other},
		"comma-joined":            {good + ", " + other},
		"comma-joined, bad first": {"Bearer fl_bogus," + good},
	} {
		req := httptest.NewRequest("GET", "/v1/customers/c-1/status", nil)
		req.Header["Authorization"] = vals
		rec := serve(srv, req)
		if rec.Code != http.StatusBadRequest || problemCode(t, rec) != "invalid" {
			t.Errorf("%s: %d %s, want 400 invalid", name, rec.Code, rec.Body)
		}
	}
	req := httptest.NewRequest("GET", "/v1/customers/c-1/status", nil)
	req.Header.Set("Authorization", good)
	if rec := serve(srv, req); rec.Code != http.StatusNotFound {
		t.Errorf("one good header: %d %s, want 404 (empty read models)", rec.Code, rec.Body)
	}
}

// TestJSONKeysExact: a case variant of a known field is refused like an unknown field, and a key
// given twice in one object, at any depth, is refused: one body must not say two things to two parsers.
func TestJSONKeysExact(t *testing.T) {
	for _, tc := range []struct {
		body, want string
	}{
		{`{"REASON":"x"}`, `unknown field "REASON"`},
		{`{"Reason":"x","freeze_type":"ACCOUNT"}`, `unknown field "Reason"`},
		{`{"reason":"shown to a gateway","Reason":"recorded by the server"}`, `unknown field "Reason"`},
		{`{"reason":"a","reason":"b"}`, `"reason" is given twice`},
		{`{"reason":"a","freeze_type":"ACCOUNT","freeze_type":"ACCOUNT_AND_RESOURCE"}`, `"freeze_type" is given twice`},
		{`{"reason":"a","freeze_Type":"ACCOUNT"}`, `unknown field "freeze_Type"`},
	} {
		_, err := decodeRequest[freezeRequest]([]byte(tc.body))
		if domain.ErrorCode(err) != domain.CodeInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want invalid saying %s", tc.body, err, tc.want)
		}
	}
	// Nested: the batch's array elements and the delegation's booleans are checked too.
	for _, body := range []string{
		`{"customer_ids":["c-1"],"reason":"x","Customer_IDs":["c-2"]}`,
		`{"freeze":true,"budget":false,"Budget":true}`,
		`{"freeze":true,"budget":false,"budget":true}`,
	} {
		var err error
		if strings.Contains(body, "customer_ids") {
			_, err = decodeRequest[batchFreezeRequest]([]byte(body))
		} else {
			_, err = decodeRequest[delegationRequest]([]byte(body))
		}
		if domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("%s: %v, want invalid", body, err)
		}
	}
	// A duplicate inside a value the struct does not know is found before the unknown field.
	if err := checkKeys([]byte(`{"a":{"b":1,"c":{"d":1,"d":2}}}`), nil); err == nil || !strings.Contains(err.Error(), `"a.c.d" is given twice`) {
		t.Errorf("nested duplicate: %v", err)
	}
	// The exact names are accepted, with escapes decoded as encoding/json does.
	if _, err := decodeRequest[freezeRequest]([]byte(`{"reason":"x","freeze_type":"ACCOUNT"}`)); err != nil {
		t.Errorf("exact names refused: %v", err)
	}
	if _, err := decodeRequest[freezeRequest]([]byte(`{"re\u0061son":"x"}`)); err != nil {
		t.Errorf("an escaped exact name refused: %v", err)
	}
	// An escaped case variant is still a case variant.
	if _, err := decodeRequest[freezeRequest]([]byte(`{"re\u0041son":"x"}`)); err == nil {
		t.Error("an escaped case variant was accepted")
	}
}

// TestFreeTextControlCharacters: C0 and C1 control characters and DEL are refused in every free-text
// field (reasons, names, tags, account managers); plain spaces and other Unicode are kept.
func TestFreeTextControlCharacters(t *testing.T) {
	// As they appear in the JSON text: C0 controls can only come escaped (raw ones are malformed
	// JSON, refused already); DEL and C1 controls may also come raw.
	bad := []string{`\u0000`, `\u001b[31m`, `\r`, `\n`, `\t`, `\b`, `\f`, "\x7f", `\u007f`, "\u0080", "\u009b", `\u009f`}
	bodies := []struct {
		kind byte
		tmpl string // %s is replaced by the text
	}{
		{0, `{"partner_id":"p-1","name":"P%s","type":"distributor"}`},
		{1, `{"customer_id":"c-1","name":"C%s","partner_id":"p-1"}`},
		{1, `{"customer_id":"c-1","name":"C","partner_id":"p-1","tags":["t%s"]}`},
		{1, `{"customer_id":"c-1","name":"C","partner_id":"p-1","account_manager":"m%s"}`},
		{2, `{"reason":"overdue%s"}`},
		{3, `{"reason":"paid%s","unfreeze_type":"ACCOUNT"}`},
		{4, `{"customer_ids":["c-1"],"reason":"r%s"}`},
		{5, `{"customer_ids":["c-1"],"reason":"r%s","unfreeze_type":"ACCOUNT"}`},
		{6, `{"reason":"r%s"}`},
	}
	for _, b := range bodies {
		for _, c := range bad {
			body := strings.Replace(b.tmpl, "%s", c, 1)
			if _, err := decodeAny(b.kind, []byte(body)); domain.ErrorCode(err) != domain.CodeInvalid || !strings.Contains(err.Error(), "control character") {
				t.Errorf("%q: %v, want invalid naming the control character", body, err)
			}
		}
		body := strings.Replace(b.tmpl, "%s", " plain space, ünïcödé, 凍結", 1)
		if _, err := decodeAny(b.kind, []byte(body)); err != nil {
			t.Errorf("%q refused: %v", body, err)
		}
	}
}

// TestHeadOnEveryGetRoute: every GET route answers HEAD with the GET's status and headers and no body.
func TestHeadOnEveryGetRoute(t *testing.T) {
	srv, toks := hostileServer(t, Options{})
	for _, rt := range append(srv.routeTable(), route{method: "GET", path: "/metrics"}) {
		if rt.method != "GET" {
			continue
		}
		path := strings.NewReplacer("{id}", "c-1", "{operation}", "purchase").Replace(rt.path)
		get := httptest.NewRequest("GET", path, nil)
		head := httptest.NewRequest("HEAD", path, nil)
		for _, r := range []*http.Request{get, head} {
			r.Header.Set("Authorization", "Bearer "+toks["plat"])
			r.Header.Set("X-Request-Id", "same")
		}
		g, h := serve(srv, get), serve(srv, head)
		if g.Code != h.Code {
			t.Errorf("HEAD %s: %d, GET %d", path, h.Code, g.Code)
		}
		for _, k := range []string{"Content-Type", "Cache-Control", "X-Request-Id", "Allow", "Www-Authenticate"} {
			if g.Header().Get(k) != h.Header().Get(k) {
				t.Errorf("HEAD %s: %s %q, GET %q", path, k, h.Header().Get(k), g.Header().Get(k))
			}
		}
	}
	// The recorder keeps what a handler writes; the real server drops a HEAD body (TestHeadAndMethods
	// in cmd/freezeledger checks the wire).
}

// TestMethodNotAllowed: a known path with a method it does not have is 405 method_not_allowed with
// an Allow header listing the path's methods; an unknown path stays 404.
func TestMethodNotAllowed(t *testing.T) {
	srv, toks := hostileServer(t, Options{})
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/v1/customers/c-1/status", "GET, HEAD"},
		{"POST", "/healthz", "GET, HEAD"},
		{"PUT", "/v1/customers", "GET, HEAD, POST"},
		{"GET", "/v1/customers/c-1/freeze", "POST"},
		{"POST", "/v1/partners/p-1/delegation", "PUT, DELETE"},
		{"OPTIONS", "/v1/audit/export", "GET, HEAD"},
		{"PATCH", "/metrics", "GET, HEAD"},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+toks["plat"])
		rec := serve(srv, req)
		if rec.Code != http.StatusMethodNotAllowed || problemCode(t, rec) != "method_not_allowed" {
			t.Errorf("%s %s: %d %s, want 405 method_not_allowed", tc.method, tc.path, rec.Code, rec.Body)
		}
		if got := rec.Header().Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	rec := serve(srv, httptest.NewRequest("DELETE", "/v1/nothing", nil))
	if rec.Code != http.StatusNotFound || problemCode(t, rec) != "not_found" {
		t.Errorf("unknown path: %d %s", rec.Code, rec.Body)
	}
}

// TestOversizeHeadersAreProblems: headers over the server's limit (below net/http's own
// MaxHeaderBytes) are a 431 problem, not net/http's text/plain answer.
func TestOversizeHeadersAreProblems(t *testing.T) {
	srv, toks := hostileServer(t, Options{MaxHeaderBytes: 8 << 10})
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set("X-Filler", strings.Repeat("x", 9<<10))
	rec := serve(srv, req)
	if rec.Code != http.StatusRequestHeaderFieldsTooLarge || problemCode(t, rec) != "headers_too_large" {
		t.Errorf("oversize headers: %d %s", rec.Code, rec.Body)
	}
	req = httptest.NewRequest("GET", "/v1/customers/c-1/status", nil)
	req.Header.Set("Authorization", "Bearer "+toks["plat"])
	req.Header.Set("X-Filler", strings.Repeat("x", 6<<10))
	if rec := serve(srv, req); rec.Code != http.StatusNotFound {
		t.Errorf("headers under the limit: %d %s", rec.Code, rec.Body)
	}
}
