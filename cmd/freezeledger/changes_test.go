package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	id, event string
	data      map[string]any
}

// sseStream is an open server-sent event (or NDJSON) stream of GET /v1/changes.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	sc     *bufio.Scanner
	cancel context.CancelFunc
	// comments counts comment lines (heartbeats) seen.
	comments int
}

// openChanges opens GET /v1/changes as who with accept, extra headers in hdr pairs.
func (ts *testServer) openChanges(t *testing.T, path, who, accept string, hdr ...string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+ts.tokens[who])
	req.Header.Set("Accept", accept)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &sseStream{t: t, resp: resp, sc: bufio.NewScanner(resp.Body), cancel: cancel}
	s.sc.Buffer(nil, 1<<20)
	t.Cleanup(s.close)
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next reads the next event of an SSE stream, counting heartbeat comments on the way.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	var ev sseEvent
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if ev.id != "" || ev.data != nil {
				return ev
			}
		case strings.HasPrefix(line, ":"):
			s.comments++
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &ev.data); err != nil {
				s.t.Fatalf("SSE data is not JSON: %v: %s", err, line)
			}
		default:
			s.t.Fatalf("unexpected SSE line %q", line)
		}
	}
	s.t.Fatalf("SSE stream ended: %v", s.sc.Err())
	return ev
}

// nextHeartbeat reads until a comment line.
func (s *sseStream) nextHeartbeat() {
	s.t.Helper()
	n := s.comments
	for s.sc.Scan() {
		if strings.HasPrefix(s.sc.Text(), ":") {
			s.comments++
		}
		if s.comments > n {
			return
		}
	}
	s.t.Fatalf("stream ended before a heartbeat: %v", s.sc.Err())
}

// nextLine reads the next NDJSON item.
func (s *sseStream) nextLine() map[string]any {
	s.t.Helper()
	if !s.sc.Scan() {
		s.t.Fatalf("NDJSON stream ended: %v", s.sc.Err())
	}
	var v map[string]any
	if err := json.Unmarshal(s.sc.Bytes(), &v); err != nil {
		s.t.Fatalf("NDJSON line: %v: %s", err, s.sc.Text())
	}
	return v
}

func pageItems(t *testing.T, r response) []map[string]any {
	t.Helper()
	var p struct {
		Changes   []map[string]any `json:"changes"`
		NextAfter string           `json:"next_after"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	return p.Changes
}

// exerciseChanges calls GET /v1/changes as TestEveryRoute does for every route (the response is
// validated against the OpenAPI document), and the webhook routes.
func exerciseChanges(t *testing.T, ts *testServer) {
	t.Helper()
	p := ts.must(200, "GET", "/v1/changes"+q("limit", "5"), "rd-a", nil).json(t)
	if n := len(p["changes"].([]any)); n != 5 || p["next_after"] == "" {
		t.Errorf("changes page: %d items, next_after %v", n, p["next_after"])
	}
	exerciseWebhookRoutes(t, ts)
}

// The JSON page, the SSE stream (live, heartbeats, resumption with Last-Event-ID in the middle of a
// cascade) and the NDJSON stream, each in the caller's subtree.
func TestChangeFeedOverHTTP(t *testing.T) {
	ts := startServerIn(t, t.TempDir(), standardPrincipals, func(m *Main) { m.Feed.Heartbeat = 50 * time.Millisecond })
	ts.setupHierarchy()

	// The page: rule 1's association freezes, in log order, only the caller's subtree.
	all := pageItems(t, ts.must(200, "GET", "/v1/changes", "rd", nil))
	mine := pageItems(t, ts.must(200, "GET", "/v1/changes", "op-res-a1", nil))
	if len(all) != 6 || len(mine) != 1 || mine[0]["customer_id"] != "c-a1" || mine[0]["state"] != "FROZEN" || mine[0]["origin"] != "association" {
		t.Fatalf("all %d items, res-a1's %v", len(all), mine)
	}
	after := all[5]["id"].(string)
	// A long poll gets the change when it happens.
	done := make(chan response, 1)
	go func() {
		done <- ts.call("GET", "/v1/changes"+q("after", after, "wait", "20"), "rd-a", nil)
	}()
	up := ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"}).json(t)
	got := pageItems(t, <-done)
	if len(got) != 1 || got[0]["customer_id"] != "c-a" || got[0]["effective_state"] != "ACTIVE" || got[0]["position"] != up["position"] ||
		got[0]["cause"].(map[string]any)["event_type"] != "customer.unfrozen" {
		t.Fatalf("long poll: %v", got)
	}
	// Nothing new: an empty page, next_after where it was.
	empty := ts.must(200, "GET", "/v1/changes"+q("after", got[0]["id"].(string), "wait", "0"), "rd-a", nil).json(t)
	if len(empty["changes"].([]any)) != 0 || empty["next_after"] != got[0]["id"] {
		t.Fatalf("empty page %v", empty)
	}

	// SSE, live: a distributor freeze cascades to dist-a's customers and its resellers'.
	sse := ts.openChanges(t, "/v1/changes"+q("after", got[0]["id"].(string)), "rd-a", "text/event-stream")
	if ct := sse.resp.Header.Get("Content-Type"); sse.resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("SSE answer %d %q", sse.resp.StatusCode, ct)
	}
	sse.nextHeartbeat() // idle: a comment line (interval shortened for the test)
	fr := ts.must(200, "POST", "/v1/partners/dist-a/freeze", "plat", map[string]any{"reason": "unpaid"}).json(t)
	pos := fr["position"].(string)
	var ids, custs []string
	for i := 0; i < 3; i++ {
		ev := sse.next()
		if ev.event != "status" || ev.data["id"] != ev.id || ev.data["effective_origin"] != "partner" || ev.data["cause"].(map[string]any)["partner_id"] != "dist-a" {
			t.Fatalf("SSE event %+v", ev)
		}
		ids, custs = append(ids, ev.id), append(custs, ev.data["customer_id"].(string))
	}
	if strings.Join(ids, " ") != pos+".0 "+pos+".1 "+pos+".2" || strings.Join(custs, " ") != "c-a c-a1 c-a2" {
		t.Fatalf("cascade over SSE: %v %v", ids, custs)
	}
	sse.close()
	// Reconnect after the first item of the cascade: Last-Event-ID wins over after.
	re := ts.openChanges(t, "/v1/changes"+q("after", "0"), "rd-a", "text/event-stream", "Last-Event-ID", pos+".0")
	if ev := re.next(); ev.id != pos+".1" || ev.data["customer_id"] != "c-a1" {
		t.Fatalf("resumed at %+v", ev)
	}
	if ev := re.next(); ev.id != pos+".2" {
		t.Fatalf("resumed, second: %+v", ev)
	}
	// A reseller's reader sees its own customer of the cascade, numbered among what it sees.
	rs := ts.openChanges(t, "/v1/changes"+q("after", got[0]["id"].(string)), "rd-res-a1", "text/event-stream")
	if ev := rs.next(); ev.id != pos || ev.data["customer_id"] != "c-a1" {
		t.Fatalf("res-a1's view of the cascade: %+v", ev)
	}

	// NDJSON: a live stream.
	nd := ts.openChanges(t, "/v1/changes"+q("after", pos), "plat", "application/x-ndjson")
	if ct := nd.resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("NDJSON content type %q", ct)
	}
	ts.must(200, "POST", "/v1/partners/dist-a/unfreeze", "plat", map[string]any{"reason": "settled"})
	seen := map[string]string{}
	for i := 0; i < 3; i++ {
		it := nd.nextLine()
		seen[it["customer_id"].(string)] = it["effective_state"].(string)
	}
	if seen["c-a"] != "ACTIVE" || seen["c-a1"] != "FROZEN" || seen["c-a2"] != "FROZEN" {
		t.Fatalf("unfreeze over NDJSON: %v", seen)
	}
	// An idle NDJSON stream writes nothing (no heartbeat line: an empty line is no JSON text, and
	// nextLine fails on anything but an item): two SSE heartbeats pass, then the next line is
	// the next item.
	idle := ts.openChanges(t, "/v1/changes"+q("after", ts.head().String()), "plat", "text/event-stream")
	idle.nextHeartbeat()
	idle.nextHeartbeat()
	again := ts.must(200, "POST", "/v1/customers/c-c/unfreeze", "op-sp-c", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"}).json(t)
	if it := nd.nextLine(); it["position"] != again["position"] || it["customer_id"] != "c-c" {
		t.Fatalf("after an idle NDJSON stream: %v", it)
	}
}

// NDJSON streams have no in-band heartbeat; what keeps an idle one alive is TCP keepalive, which
// the server's listener enables on every connection it accepts (Go's default: the first probe
// after 15 s idle).
func TestServerConnectionsHaveTCPKeepalive(t *testing.T) {
	ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			defer c.Close()
		}
		dialed <- err
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := <-dialed; err != nil {
		t.Fatal(err)
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var on, idle int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		if on, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE); serr == nil {
			idle, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		}
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	if on != 1 || idle != 15 {
		t.Fatalf("accepted connection: SO_KEEPALIVE %d, TCP_KEEPIDLE %d s; want 1 and 15", on, idle)
	}
}

// Bad input is a 4xx problem, never a 5xx.
func TestChangeFeedBadInput(t *testing.T) {
	ts := startServer(t)
	ts.setupHierarchy()
	far := ts.head().Commit + 1000
	for _, c := range []struct {
		path string
		hdr  []string
		want int
	}{
		{"/v1/changes" + q("after", "x"), nil, 400},
		{"/v1/changes" + q("after", "-1"), nil, 400},
		{"/v1/changes" + q("after", "12.x"), nil, 400},
		{"/v1/changes" + q("after", itoa(far)), nil, 400},
		{"/v1/changes" + q("wait", "31"), nil, 400},
		{"/v1/changes" + q("wait", "NaN"), nil, 400},
		{"/v1/changes" + q("limit", "0"), nil, 400},
		{"/v1/changes" + q("bogus", "1"), nil, 400},
		{"/v1/changes", []string{"Last-Event-ID", "garbage value"}, 400},
		{"/v1/changes", []string{"Last-Event-ID", "1.2.3"}, 400},
		{"/v1/changes", []string{"Last-Event-ID", "0.0"}, 400}, // an item of no event
		{"/v1/changes", []string{"Accept", "text/event-stream", "Last-Event-ID", itoa(far)}, 400},
	} {
		r := ts.call("GET", c.path, "rd", nil, c.hdr...)
		if r.status != c.want || r.code() != "invalid" {
			t.Errorf("GET %s %v: %d %s, want %d invalid", c.path, c.hdr, r.status, r.body, c.want)
		}
	}
	if r := ts.call("GET", "/v1/changes", "", nil); r.status != 401 {
		t.Errorf("unauthenticated: %d", r.status)
	}
}

// readAllBody is for receivers.
func readAllBody(r *http.Request) []byte {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	return b
}

// exerciseWebhookRoutes calls every webhook route once (validated against the OpenAPI document).
func exerciseWebhookRoutes(t *testing.T, ts *testServer) {
	t.Helper()
	c := ts.must(201, "POST", "/v1/webhooks", "op-dist-a", map[string]any{"url": "https://hooks.example.com/x", "description": "billing"}).json(t)
	id := c["webhook"].(map[string]any)["id"].(string)
	ts.must(200, "GET", "/v1/webhooks", "op-dist-a", nil)
	ts.must(200, "GET", "/v1/webhooks/"+id, "op-dist-a", nil)
	ts.must(200, "POST", "/v1/webhooks/"+id+"/enable", "op-dist-a", nil)
	ts.must(204, "DELETE", "/v1/webhooks/"+id, "op-dist-a", nil)
}
