package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
	"github.com/freezeledger/freezeledger/httpapi"
)

// This file holds what the reliability tests (crash, faults, linearizability, races, security,
// soak) share: a goroutine-safe HTTP client that reports instead of failing the test, and offline
// reads of a data directory.

// apiClient calls a freezeledger server from any goroutine. Unlike testServer.call it never fails
// the test itself: the caller decides what an answer means.
type apiClient struct {
	base   string
	tokens map[string]string // principal name -> token; read-only once the test runs
	hc     *http.Client
}

func newAPIClient(base string, tokens map[string]string) *apiClient {
	return &apiClient{base: base, tokens: tokens, hc: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64},
	}}
}

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// problem code of an error answer ("" if none).
func (a answer) code() string {
	var p struct{ Code string }
	_ = json.Unmarshal(a.body, &p)
	return p.Code
}

// position is the answer's X-Ledger-Position (0 if absent).
func (a answer) position() uint64 {
	p, _ := strconv.ParseUint(a.header.Get("X-Ledger-Position"), 10, 64)
	return p
}

func (a answer) decode(v any) error { return json.Unmarshal(a.body, v) }

// do makes one request as principal who (a name in tokens, or a raw token; "" for none). body is
// nil, a string, []byte, or a value to marshal. hdr is pairs of header name and value.
func (c *apiClient) do(ctx context.Context, method, path, who string, body any, hdr ...string) (answer, error) {
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
			return answer{}, err
		}
	}
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return answer{}, err
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		tok, ok := c.tokens[who]
		if !ok {
			tok = who
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: reading the body: %w", method, path, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// must is do that fails the test (from the test's goroutine only) unless the status is want.
func (c *apiClient) must(t testing.TB, want int, method, path, who string, body any, hdr ...string) answer {
	t.Helper()
	a, err := c.do(context.Background(), method, path, who, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s as %s: %v", method, path, who, err)
	}
	if a.status != want {
		t.Fatalf("%s %s as %s: status %d, want %d: %s", method, path, who, a.status, want, a.body)
	}
	return a
}

func (c *apiClient) close() { c.hc.CloseIdleConnections() }

// setupChannel registers, through c, distributor dist-a with resellers res-a1 (freeze delegated) and
// res-a2, and distributor dist-b: the part of setupHierarchy's tree the reliability tests use.
func setupChannel(t testing.TB, c *apiClient) {
	t.Helper()
	for _, p := range []struct{ who, id, typ, parent string }{
		{"plat", "dist-a", "distributor", ""},
		{"plat", "dist-b", "distributor", ""},
		{"op-dist-a", "res-a1", "reseller", "dist-a"},
		{"op-dist-a", "res-a2", "reseller", "dist-a"},
	} {
		body := map[string]any{"partner_id": p.id, "name": "Partner " + p.id, "type": p.typ}
		if p.parent != "" {
			body["parent_id"] = p.parent
		}
		c.must(t, 201, "POST", "/v1/partners", p.who, body)
	}
	c.must(t, 200, "PUT", "/v1/partners/res-a1/delegation", "op-dist-a", map[string]any{"freeze": true, "budget": false})
}

// createPrincipals writes principals into dir's principals file and returns their tokens.
func createPrincipals(t testing.TB, dir string, ps []testPrincipal) map[string]string {
	t.Helper()
	tokens := map[string]string{}
	for _, p := range ps {
		tok, err := httpapi.CreatePrincipal(PrincipalsFile(dir), p.name, domain.Role(p.role), p.partner)
		if err != nil {
			t.Fatal(err)
		}
		tokens[p.name] = tok
	}
	return tokens
}

// storedEvent is an event read offline from a data directory's store, with its metadata decoded.
type storedEvent struct {
	eventstore.RecordedEvent
	meta domain.Metadata
}

// readStore reads every event of dataDir's embedded store (the server must not be running).
func readStore(t testing.TB, dataDir string) []storedEvent {
	t.Helper()
	s, err := embedded.Open(StoreDir(dataDir), embedded.Options{})
	if err != nil {
		t.Fatalf("open the store offline: %v", err)
	}
	defer s.Close()
	var out []storedEvent
	after := eventstore.Start
	for {
		recs, err := s.ReadAll(context.Background(), after, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			e := storedEvent{RecordedEvent: r}
			if err := json.Unmarshal(r.Metadata, &e.meta); err != nil {
				t.Fatalf("event at %s: metadata: %v", r.Position, err)
			}
			out = append(out, e)
			after = r.Position
		}
	}
}

// verifyDataDirOK runs `freezeledger verify --data-dir` in-process and fails the test unless it
// passes every check (store chain, audit tree, history under the domain rules, read models).
func verifyDataDirOK(t testing.TB, dataDir string) string {
	t.Helper()
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"verify", "--data-dir", dataDir}, &out, &errs); code != 0 {
		t.Fatalf("verify --data-dir exited %d:\n%s\n%s", code, out.String(), errs.String())
	}
	for _, want := range []string{"ok: event store", "ok: audit tree", "ok: history", "ok: read models"} {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Fatalf("verify --data-dir did not report %q:\n%s", want, out.String())
		}
	}
	return out.String()
}

// maxPosition is a goroutine-safe running maximum of acknowledged positions.
type maxPosition struct {
	mu sync.Mutex
	v  uint64
}

func (m *maxPosition) observe(p uint64) {
	m.mu.Lock()
	if p > m.v {
		m.v = p
	}
	m.mu.Unlock()
}

func (m *maxPosition) load() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.v
}
