package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/httpapi"
)

// consoleClient is a browser-like HTTP client of the console (cookies kept, redirects followed).
type consoleClient struct {
	t  *testing.T
	ts *testServer
	c  *http.Client
}

func newConsoleClient(t *testing.T, ts *testServer) *consoleClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &consoleClient{t: t, ts: ts, c: &http.Client{Jar: jar}}
}

func (cc *consoleClient) get(path string) (*http.Response, string) {
	cc.t.Helper()
	res, err := cc.c.Get(cc.ts.url + path)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// signIn signs in as the test principal who.
func (cc *consoleClient) signIn(who string) {
	cc.t.Helper()
	_, page := cc.get("/console/login")
	_, rest, _ := strings.Cut(page, `name="csrf" value="`)
	csrf, _, _ := strings.Cut(rest, `"`)
	res, err := cc.c.PostForm(cc.ts.url+"/console/login", url.Values{"token": {cc.ts.tokens[who]}, "csrf": {csrf}})
	if err != nil {
		cc.t.Fatal(err)
	}
	res.Body.Close()
	if res.Request.URL.Path != "/console/customers" {
		cc.t.Fatalf("sign-in as %s ended at %s (%d)", who, res.Request.URL, res.StatusCode)
	}
}

// TestConsoleExportAndPrincipalRemoval: the audit page's export download is the API's export, for
// an auditor only; removing a principal from the server's principals ends its console session.
func TestConsoleExportAndPrincipalRemoval(t *testing.T) {
	ts := startServer(t)
	ts.setupHierarchy()
	aud := newConsoleClient(t, ts)
	aud.signIn("aud")

	res, body := aud.get("/console/audit/export?format=jsonl")
	want := ts.must(200, "GET", "/v1/audit/export?format=jsonl", "aud", nil).body
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/x-ndjson" ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") || !bytes.Equal([]byte(body), want) {
		t.Fatalf("export through the console: %d %v, %d bytes; the API's: %d bytes", res.StatusCode, res.Header, len(body), len(want))
	}
	if res.Header.Get("Content-Security-Policy") == "" {
		t.Error("the download has no Content-Security-Policy")
	}

	ops := newConsoleClient(t, ts)
	ops.signIn("op-dist-a")
	res, body = ops.get("/console/audit/export?format=jsonl")
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "may not read the audit log") {
		t.Errorf("a partner's export: %d\n%s", res.StatusCode, body)
	}

	// Remove aud from the server's principals (what serve does when the file changes).
	ps, err := httpapi.LoadPrincipals(PrincipalsFile(ts.dir))
	if err != nil {
		t.Fatal(err)
	}
	var keep []httpapi.Principal
	for _, p := range ps.List() {
		if p.Name != "aud" {
			keep = append(keep, p)
		}
	}
	without, err := httpapi.NewPrincipals(keep)
	if err != nil {
		t.Fatal(err)
	}
	ts.m.server.SetPrincipals(without)
	res, body = aud.get("/console/customers")
	if res.Request.URL.String() != ts.url+"/console/login?ended=removed" || !strings.Contains(body, "no longer identifies a principal") {
		t.Errorf("aud's session after its removal ended at %s:\n%s", res.Request.URL, body)
	}
	if res, _ := ops.get("/console/customers"); res.Request.URL.Path != "/console/customers" {
		t.Errorf("op-dist-a's session ended with aud's removal: %s", res.Request.URL)
	}
}
