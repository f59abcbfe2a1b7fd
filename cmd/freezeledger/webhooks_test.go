package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/httpapi/webhook"
)

// delivery is one POST a receiver got.
type delivery struct {
	id, timestamp, signature string
	body                     []byte
	item                     map[string]any
}

// receiver is a webhook endpoint on loopback. It answers with status() (200 by default), records
// every attempt and signals each one on arrived.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []delivery
	status  func() int
	arrived chan delivery
}

func newReceiver(t testing.TB) *receiver {
	t.Helper()
	rc := &receiver{arrived: make(chan delivery, 100000), status: func() int { return 200 }}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := delivery{id: r.Header.Get("webhook-id"), timestamp: r.Header.Get("webhook-timestamp"), signature: r.Header.Get("webhook-signature"), body: readAllBody(r)}
		_ = json.Unmarshal(d.body, &d.item)
		rc.mu.Lock()
		rc.got = append(rc.got, d)
		st := rc.status
		rc.mu.Unlock()
		w.WriteHeader(st())
		rc.arrived <- d
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setStatus(f func() int) {
	rc.mu.Lock()
	rc.status = f
	rc.mu.Unlock()
}

// await returns the next n attempts.
func (rc *receiver) await(t testing.TB, n int) []delivery {
	t.Helper()
	var out []delivery
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case d := <-rc.arrived:
			out = append(out, d)
		case <-timeout:
			t.Fatalf("receiver: %d of %d deliveries within 20 s", len(out), n)
		}
	}
	return out
}

// verify checks a delivery's Standard Webhooks headers against secret and hook ID.
func verifyDelivery(t testing.TB, d delivery, secret, hookID string) {
	t.Helper()
	ts, err := strconv.ParseInt(d.timestamp, 10, 64)
	if err != nil || !webhook.Verify(secret, d.id, ts, d.body, d.signature) {
		t.Fatalf("delivery %s: signature %q does not verify (timestamp %q)", d.id, d.signature, d.timestamp)
	}
	if want := hookID + "." + d.item["id"].(string); d.id != want {
		t.Fatalf("webhook-id %q, want %q", d.id, want)
	}
}

func createHook(t *testing.T, ts *testServer, who, url string) (id, secret string) {
	t.Helper()
	c := ts.must(201, "POST", "/v1/webhooks", who, map[string]any{"url": url, "description": "test receiver"}).json(t)
	return c["webhook"].(map[string]any)["id"].(string), c["secret"].(string)
}

// Webhooks deliver each owner's change items, signed, in feed order, per tenant.
func TestWebhooksDeliverSignedInOrder(t *testing.T) {
	ts := startServerFull(t, t.TempDir(), standardPrincipals, nil, []string{"--log-level", "warn", "--webhook-allow-insecure-loopback"})
	all, mine := newReceiver(t), newReceiver(t)
	allID, allSecret := createHook(t, ts, "plat", all.srv.URL+"/hook")
	mineID, mineSecret := createHook(t, ts, "op-res-a1", mine.srv.URL+"/hook")
	ts.setupHierarchy()
	ts.must(200, "POST", "/v1/partners/dist-a/freeze", "plat", map[string]any{"reason": "unpaid"})
	last := ts.must(200, "POST", "/v1/customers/c-c/unfreeze", "op-sp-c", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"}).json(t)

	want := pageItems(t, ts.must(200, "GET", "/v1/changes", "plat", nil)) // 6 association freezes, 3 cascade items, 1 unfreeze
	got := all.await(t, len(want))
	for i, d := range got {
		verifyDelivery(t, d, allSecret, allID)
		if d.item["id"] != want[i]["id"] || d.item["customer_id"] != want[i]["customer_id"] {
			t.Fatalf("delivery %d: item %v, want %v", i, d.item["id"], want[i]["id"])
		}
	}
	if got[len(got)-1].item["position"] != last["position"] {
		t.Fatalf("last delivery %v", got[len(got)-1].item)
	}
	m := mine.await(t, 2)
	for _, d := range m {
		verifyDelivery(t, d, mineSecret, mineID)
		if d.item["customer_id"] != "c-a1" {
			t.Fatalf("res-a1's webhook got %v", d.item)
		}
	}
	// Another principal's webhook does not exist for the caller; auditors may not register.
	ts.must(404, "GET", "/v1/webhooks/"+allID, "op-res-a1", nil)
	ts.must(404, "DELETE", "/v1/webhooks/"+allID, "op-dist-a", nil)
	ts.must(404, "POST", "/v1/webhooks/"+allID+"/enable", "aud", nil)
	ts.must(403, "POST", "/v1/webhooks", "aud", map[string]any{"url": "https://hooks.example.com/"})
	if l := ts.must(200, "GET", "/v1/webhooks", "op-res-a1", nil).json(t)["webhooks"].([]any); len(l) != 1 || l[0].(map[string]any)["id"] != mineID {
		t.Fatalf("res-a1's webhooks: %v", l)
	}
	// One more change: once it arrives, the one before is acknowledged and its position recorded.
	fin := ts.must(200, "POST", "/v1/customers/c-c/freeze", "op-sp-c", map[string]any{"reason": "again"}).json(t)
	if d := all.await(t, 1)[0]; d.item["position"] != fin["position"] {
		t.Fatalf("final delivery %v", d.item)
	}
	w := ts.must(200, "GET", "/v1/webhooks/"+allID, "plat", nil).json(t)["webhook"].(map[string]any)
	if lp := w["last_delivered_position"]; lp != last["position"] && lp != fin["position"] || w["state"] != "active" || w["last_error"] != nil {
		t.Fatalf("webhook after deliveries: %v", w)
	}
	// Deleted: no more deliveries, 404.
	ts.must(204, "DELETE", "/v1/webhooks/"+allID, "plat", nil)
	ts.must(404, "GET", "/v1/webhooks/"+allID, "plat", nil)
}

// A failing receiver is retried with backoff (about 1 s, doubling, at most 5 minutes apart) under
// the same webhook-id; after 24 h of failures (an injected clock) the webhook is disabled with the
// reason shown; re-enabled, it delivers from where it stopped.
func TestWebhookRetriesThenDisablesAfter24h(t *testing.T) {
	var (
		mu     sync.Mutex
		now    = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
		delays []time.Duration
	)
	disabled := make(chan string, 1)
	tweak := func(m *Main) {
		m.Feed.Clock = clockFunc(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		m.Feed.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(d)
			delays = append(delays, d)
			return ctx.Err()
		}
		m.Feed.OnDisable = func(id, reason string) { disabled <- reason }
	}
	ts := startServerFull(t, t.TempDir(), standardPrincipals, tweak, []string{"--log-level", "warn", "--webhook-allow-insecure-loopback"})
	rc := newReceiver(t)
	rc.setStatus(func() int { return 503 })
	id, secret := createHook(t, ts, "op-sp-c", rc.srv.URL)
	ts.setupHierarchy() // c-c's association freeze is sp-c's one item

	first := rc.await(t, 3)
	for _, d := range first {
		verifyDelivery(t, d, secret, id)
		if d.id != first[0].id {
			t.Fatalf("retries changed webhook-id: %s then %s", first[0].id, d.id)
		}
	}
	reason := <-disabled
	w := ts.must(200, "GET", "/v1/webhooks/"+id, "op-sp-c", nil).json(t)["webhook"].(map[string]any)
	if w["state"] != "disabled" || !strings.Contains(w["last_error"].(string), "disabled") || !strings.Contains(w["last_error"].(string), "503") || w["last_error"] != reason {
		t.Fatalf("after 24 h of failures: %v", w)
	}
	mu.Lock()
	var total time.Duration
	for i, d := range delays {
		nominal := min(time.Second<<min(i, 20), 5*time.Minute)
		if d > nominal || d < nominal*3/4 {
			t.Errorf("retry %d after %s, want about %s", i, d, nominal)
		}
		total += d
	}
	mu.Unlock()
	if total < 24*time.Hour || total > 24*time.Hour+5*time.Minute {
		t.Fatalf("disabled after %s of retries", total)
	}
	// Re-enabled with a working receiver: the item is delivered.
	rc.setStatus(func() int { return 204 })
	drain := len(rc.arrived)
	rc.await(t, drain)
	ts.must(200, "POST", "/v1/webhooks/"+id+"/enable", "op-sp-c", nil)
	if d := rc.await(t, 1)[0]; d.id != first[0].id {
		t.Fatalf("after enabling: %s, want %s", d.id, first[0].id)
	}
}

type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// Registration refuses bad URLs, long descriptions, unknown fields and more than 20 webhooks per
// principal, each with a 4xx problem.
func TestWebhookBadInput(t *testing.T) {
	ts := startServer(t) // without --webhook-allow-insecure-loopback
	for _, body := range []any{
		map[string]any{"url": "http://127.0.0.1:9/hook"},
		map[string]any{"url": "https://10.0.0.1/hook"},
		map[string]any{"url": "https://169.254.169.254/latest"},
		map[string]any{"url": "ftp://example.com/"},
		map[string]any{"url": "not a url"},
		map[string]any{"url": ""},
		map[string]any{"url": "https://u:p@example.com/"},
		map[string]any{"url": "https://example.com/" + strings.Repeat("a", 3000)},
		map[string]any{"url": "https://example.com/", "description": strings.Repeat("d", 257)},
		map[string]any{"url": "https://example.com/", "secret": "mine"},
		"[]",
	} {
		if r := ts.call("POST", "/v1/webhooks", "op-dist-a", body); r.status != 400 || r.code() != "invalid" {
			t.Errorf("POST %v: %d %s", body, r.status, r.body)
		}
	}
	if r := ts.call("POST", "/v1/webhooks", "op-dist-a", `{"url":"https://example.com/","description":"`+strings.Repeat("x", 70000)+`"}`); r.status != 413 {
		t.Errorf("huge body: %d", r.status)
	}
	for i := 0; i < webhook.DefaultMaxPerOwner; i++ {
		ts.must(201, "POST", "/v1/webhooks", "rd-a", map[string]any{"url": "https://hooks.example.com/" + strconv.Itoa(i)})
	}
	if r := ts.call("POST", "/v1/webhooks", "rd-a", map[string]any{"url": "https://hooks.example.com/x"}); r.status != 409 || r.code() != "conflict" {
		t.Errorf("21st webhook: %d %s", r.status, r.body)
	}
	ts.must(404, "GET", "/v1/webhooks/wh_nope", "rd-a", nil)
	ts.must(404, "GET", "/v1/webhooks/"+strings.Repeat("z", 300), "rd-a", nil)
}

// A receiver that hangs holds only its own webhook: another webhook of the same owner gets every
// item meanwhile. A redirect is a failed delivery, and its target is never called. The secret is
// only in the webhook's own 0600 file: not in the event log's export.
func TestWebhookIsolationRedirectsAndSecretStorage(t *testing.T) {
	dir := t.TempDir()
	ts := startServerFull(t, dir, standardPrincipals, nil, []string{"--log-level", "warn", "--webhook-allow-insecure-loopback"})
	release := make(chan struct{})
	hung := newReceiver(t)
	hung.setStatus(func() int { <-release; return 200 })
	fast := newReceiver(t)
	target := newReceiver(t)
	redirected := make(chan struct{}, 100)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.srv.URL+"/stolen", http.StatusFound)
		redirected <- struct{}{}
	}))
	t.Cleanup(redirect.Close)
	createHook(t, ts, "op-sp-c", hung.srv.URL)
	_, fastSecret := createHook(t, ts, "op-sp-c", fast.srv.URL)
	redirID, _ := createHook(t, ts, "op-sp-c", redirect.URL)
	ts.setupHierarchy()
	for i := 0; i < 3; i++ {
		ts.must(200, "POST", "/v1/customers/c-c/unfreeze", "op-sp-c", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"})
		ts.must(200, "POST", "/v1/customers/c-c/freeze", "op-sp-c", map[string]any{"reason": "again"})
	}
	got := fast.await(t, 7) // the association freeze and six changes, while the other receiver hangs
	if got[6].item["cause"].(map[string]any)["event_type"] != "customer.frozen" {
		t.Fatalf("fast receiver's last item %v", got[6].item)
	}
	if n := len(hung.arrived); n != 0 {
		t.Fatalf("the hung receiver answered %d deliveries", n)
	}
	close(release)
	hung.await(t, 1)
	// The redirecting receiver: failures naming the redirect, the target untouched. Once it is
	// asked a second time (the server's retry), the first failure is recorded.
	for i := 0; i < 2; i++ {
		select {
		case <-redirected:
		case <-time.After(20 * time.Second):
			t.Fatal("the redirecting receiver was not retried within 20 s")
		}
	}
	w := ts.must(200, "GET", "/v1/webhooks/"+redirID, "op-sp-c", nil).json(t)["webhook"].(map[string]any)
	if w["last_error"] == nil || w["failing_since"] == nil {
		t.Fatalf("redirect: %v", w)
	}
	if !strings.Contains(w["last_error"].(string), "302") || !strings.Contains(w["last_error"].(string), "redirect") {
		t.Fatalf("redirect: %v", w)
	}
	if n := len(target.arrived); n != 0 {
		t.Fatalf("the redirect target was called %d times", n)
	}
	exp := ts.must(200, "GET", "/v1/audit/export", "aud", nil)
	if strings.Contains(string(exp.body), fastSecret) || strings.Contains(string(exp.body), "whsec_") {
		t.Fatal("a webhook secret is in the event log's export")
	}
	ents, err := os.ReadDir(WebhooksDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".json") {
			records++
		}
		fi, err := e.Info()
		if err == nil && fi.Mode().Perm() != 0o600 { // records, and temp files of a save in progress
			t.Errorf("%s has mode %v", e.Name(), fi.Mode().Perm())
		}
	}
	if records != 3 {
		t.Fatalf("webhooks dir: %d records, want 3", records)
	}
}

// A retried registration with the same Idempotency-Key returns the first result (the same
// webhook and secret) and registers nothing, also concurrently and after a restart; the same key
// with another body is a 409; keys are per principal; a deleted webhook's key is free again.
func TestWebhookIdempotencyKey(t *testing.T) {
	dir := t.TempDir()
	ts := startServerFull(t, dir, standardPrincipals, nil, []string{"--log-level", "warn"})
	body := map[string]any{"url": "https://hooks.example.com/a", "description": "billing"}
	count := func(ts *testServer, who string) int {
		t.Helper()
		return len(ts.must(200, "GET", "/v1/webhooks", who, nil).json(t)["webhooks"].([]any))
	}
	first := ts.must(201, "POST", "/v1/webhooks", "op-dist-a", body, "Idempotency-Key", "reg-1").json(t)
	id, secret := first["webhook"].(map[string]any)["id"].(string), first["secret"].(string)
	same := func(ts *testServer, what string) {
		t.Helper()
		r := ts.must(201, "POST", "/v1/webhooks", "op-dist-a", body, "Idempotency-Key", "reg-1")
		again := r.json(t)
		if again["webhook"].(map[string]any)["id"] != id || again["secret"] != secret {
			t.Fatalf("%s: retry answered %v, first %v", what, again, first)
		}
		if l := r.header.Get("Location"); l != "/v1/webhooks/"+id {
			t.Fatalf("%s: retry's Location %q", what, l)
		}
		if n := count(ts, "op-dist-a"); n != 1 {
			t.Fatalf("%s: %d webhooks after the retry, want 1", what, n)
		}
	}
	same(ts, "retry")
	// Concurrent retries: all answer the first webhook.
	var wg sync.WaitGroup
	ids := make([]any, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := ts.call("POST", "/v1/webhooks", "op-dist-a", body, "Idempotency-Key", "reg-1"); r.status == 201 {
				var v map[string]any
				_ = json.Unmarshal(r.body, &v)
				ids[i] = v["webhook"].(map[string]any)["id"]
			}
		}()
	}
	wg.Wait()
	for i, got := range ids {
		if got != id {
			t.Fatalf("concurrent retry %d answered %v, want %s", i, got, id)
		}
	}
	// The same key with another body: a conflict, nothing registered.
	for _, other := range []map[string]any{
		{"url": "https://hooks.example.com/b", "description": "billing"},
		{"url": "https://hooks.example.com/a"},
	} {
		wantProblem(t, ts.call("POST", "/v1/webhooks", "op-dist-a", other, "Idempotency-Key", "reg-1"), 409, "conflict")
	}
	if n := count(ts, "op-dist-a"); n != 1 {
		t.Fatalf("%d webhooks after the conflicting reuse, want 1", n)
	}
	// Keys are per principal; a bad key is refused.
	if c := ts.must(201, "POST", "/v1/webhooks", "rd-a", body, "Idempotency-Key", "reg-1").json(t); c["webhook"].(map[string]any)["id"] == id {
		t.Fatal("another principal's identical key answered the first principal's webhook")
	}
	wantProblem(t, ts.call("POST", "/v1/webhooks", "op-dist-a", body, "Idempotency-Key", "bad\tkey"), 400, "invalid")
	// Without a key, each POST registers one.
	ts.must(201, "POST", "/v1/webhooks", "op-dist-b", body)
	ts.must(201, "POST", "/v1/webhooks", "op-dist-b", body)
	if n := count(ts, "op-dist-b"); n != 2 {
		t.Fatalf("%d keyless registrations, want 2", n)
	}

	// Durable: after a restart the retry still answers the first webhook and secret.
	ts.shutdown()
	ts2 := startServerFull(t, dir, nil, nil, []string{"--log-level", "warn"})
	for k, v := range ts.tokens {
		ts2.tokens[k] = v
	}
	same(ts2, "retry after a restart")
	wantProblem(t, ts2.call("POST", "/v1/webhooks", "op-dist-a", map[string]any{"url": "https://hooks.example.com/b"}, "Idempotency-Key", "reg-1"), 409, "conflict")
	// Deleted: the key lives with its registration, so a retry registers anew.
	ts2.must(204, "DELETE", "/v1/webhooks/"+id, "op-dist-a", nil)
	if c := ts2.must(201, "POST", "/v1/webhooks", "op-dist-a", body, "Idempotency-Key", "reg-1").json(t); c["webhook"].(map[string]any)["id"] == id {
		t.Fatal("a deleted webhook's key answered the deleted webhook")
	}
}
