package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/httpapi/webhook"
)

// crashReceiver is a webhook receiver that can be down (the connection is dropped without an
// answer), slow (it answers after a delay) or up.
type crashReceiver struct {
	srv     *httptest.Server
	secret  string
	mu      sync.Mutex
	mode    string
	ids     []string // webhook-id of every acknowledged delivery, in arrival order
	bad     []string // deliveries whose signature did not verify
	arrived chan struct{}
}

func newCrashReceiver(t *testing.T) *crashReceiver {
	rc := &crashReceiver{mode: "down", arrived: make(chan struct{}, 1<<16)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		mode, secret := rc.mode, rc.secret
		rc.mu.Unlock()
		if mode == "down" {
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		body := readAllBody(r)
		if mode == "slow" {
			time.Sleep(150 * time.Millisecond) // the receiver being slow, not the test waiting
		}
		id := r.Header.Get("webhook-id")
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		rc.mu.Lock()
		if !webhook.Verify(secret, id, ts, body, r.Header.Get("webhook-signature")) {
			rc.bad = append(rc.bad, id)
		}
		rc.ids = append(rc.ids, id)
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		rc.arrived <- struct{}{}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *crashReceiver) setMode(m string) {
	rc.mu.Lock()
	rc.mode = m
	rc.mu.Unlock()
}

// firsts is the acknowledged webhook-ids with duplicates removed (first occurrence kept) and how
// many duplicates there were.
func (rc *crashReceiver) firsts() ([]string, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, id := range rc.ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, len(rc.ids) - len(out)
}

// TestWebhookCrashKill9: the real binary delivers to a receiver that is down, then slow, then up,
// with SIGKILL of the server in between; every item of the feed arrives, in feed order once
// duplicates are removed by webhook-id (at least once, in order, across crashes).
func TestWebhookCrashKill9(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	tokens := createPrincipals(t, dir, []testPrincipal{
		{"plat", "platform", ""}, {"op-dist-a", "partner", "dist-a"}, {"op-res-a1", "partner", "res-a1"},
	})
	flags := []string{"--webhook-allow-insecure-loopback"}
	rc := newCrashReceiver(t)
	p := startProc(t, bin, dir, flags...)
	c := newAPIClient("http://"+p.addr, tokens)
	setupChannel(t, c) // partners only: no change items yet
	var created struct {
		Webhook struct{ ID string } `json:"webhook"`
		Secret  string              `json:"secret"`
	}
	if err := c.must(t, 201, "POST", "/v1/webhooks", "plat", map[string]any{"url": rc.srv.URL + "/hook"}).decode(&created); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.secret = created.Secret
	rc.mu.Unlock()

	n := 0
	associate := func(c *apiClient, partner string) {
		c.must(t, 201, "POST", "/v1/customers", "op-dist-a", map[string]any{"customer_id": fmt.Sprintf("wc-%d", n), "name": "Webhook crash", "partner_id": partner})
		n++
	}
	// Down: the deliveries fail and are retried.
	for i := 0; i < 4; i++ {
		associate(c, "dist-a")
		associate(c, "res-a2")
	}
	c.must(t, 200, "POST", "/v1/customers/wc-0/unfreeze", "op-dist-a", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"})
	c.close()
	p.kill()

	// Slow: the restarted server tries at once; killed again while delivering.
	rc.setMode("slow")
	p = startProc(t, bin, dir, flags...)
	c = newAPIClient("http://"+p.addr, tokens)
	c.must(t, 200, "POST", "/v1/partners/res-a2/freeze", "op-dist-a", map[string]any{"reason": "reseller unpaid"}) // a cascade of 4
	associate(c, "res-a1")
	for i := 0; i < 3; i++ {
		select {
		case <-rc.arrived:
		case <-time.After(20 * time.Second):
			t.Fatal("no delivery to the slow receiver within 20 s")
		}
	}
	c.close()
	p.kill()

	// Up: everything arrives.
	rc.setMode("up")
	p = startProc(t, bin, dir, flags...)
	c = newAPIClient("http://"+p.addr, tokens)
	defer c.close()
	c.must(t, 200, "POST", "/v1/partners/dist-a/freeze", "plat", map[string]any{"reason": "distributor unpaid"})
	c.must(t, 200, "POST", "/v1/partners/dist-a/unfreeze", "plat", map[string]any{"reason": "settled"})

	// The expected items: the whole feed as the owner (the platform) reads it.
	var want []string
	after := "0"
	for {
		var page struct {
			Changes []struct {
				ID string `json:"id"`
			} `json:"changes"`
			NextAfter string `json:"next_after"`
		}
		if err := c.must(t, 200, "GET", "/v1/changes?limit=1000&after="+after, "plat", nil).decode(&page); err != nil {
			t.Fatal(err)
		}
		if len(page.Changes) == 0 {
			break
		}
		for _, ch := range page.Changes {
			want = append(want, created.Webhook.ID+"."+ch.ID)
		}
		after = page.NextAfter
	}
	if len(want) < 20 {
		t.Fatalf("only %d feed items", len(want))
	}
	deadline := time.After(25 * time.Second)
	for {
		got, _ := rc.firsts()
		if len(got) >= len(want) {
			break
		}
		select {
		case <-rc.arrived:
		case <-deadline:
			t.Fatalf("%d of %d items delivered within 25 s\n%s", len(got), len(want), p.logTail())
		}
	}
	got, dups := rc.firsts()
	if len(got) != len(want) {
		t.Fatalf("delivered %d distinct items, the feed has %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delivery %d is %s, want %s: out of order or missing", i, got[i], want[i])
		}
	}
	rc.mu.Lock()
	bad := rc.bad
	rc.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("signatures that do not verify: %v", bad)
	}
	var hook struct {
		Webhook struct {
			State     string  `json:"state"`
			LastError *string `json:"last_error"`
		} `json:"webhook"`
	}
	if err := json.Unmarshal(c.must(t, 200, "GET", "/v1/webhooks/"+created.Webhook.ID, "plat", nil).body, &hook); err != nil {
		t.Fatal(err)
	}
	if hook.Webhook.State != "active" {
		t.Fatalf("webhook after the crashes: %+v", hook.Webhook)
	}
	t.Logf("%d items delivered in order across 2 kills (%d duplicates)", len(want), dups)
}
