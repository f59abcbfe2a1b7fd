package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

// fillLedger appends about n events (freezes and unfreezes of a few customers of dist-a, with long
// reasons so that an export is several megabytes) through the command service, and waits for the
// audit tree to cover them.
func (ts *testServer) fillLedger(n int) {
	ts.t.Helper()
	ts.m.mu.Lock()
	svc := ts.m.led.svc
	ts.m.mu.Unlock()
	ctx := context.Background()
	actor := domain.Meta{Actor: domain.Actor{Name: "op-dist-a", Role: domain.RolePartner, PartnerID: "dist-a"}}
	const workers, batch = 4, 10
	reason := strings.Repeat("a long reason so that every line of the export is big; ", 5)[:250]
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		ids := make([]string, batch)
		for i := range ids {
			ids[i] = fmt.Sprintf("fill-%d-%d", w, i)
			if _, err := svc.AssociateCustomer(ctx, domain.AssociateCustomer{Meta: actor, CustomerID: ids[i], Name: "Fill " + ids[i], PartnerID: "dist-a"}); err != nil {
				ts.t.Fatal(err)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < n/(workers*batch*2)+1; k++ {
				if _, err := svc.UnfreezeCustomers(ctx, domain.UnfreezeCustomers{Meta: actor, CustomerIDs: ids, Reason: reason, UnfreezeType: domain.FreezeAccount}); err != nil {
					errs <- err
					return
				}
				if _, err := svc.FreezeCustomers(ctx, domain.FreezeCustomers{Meta: actor, CustomerIDs: ids, Reason: reason, FreezeType: domain.FreezeAccount}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		ts.t.Fatal(err)
	}
	ts.must(200, "GET", "/v1/audit/checkpoint?min_position="+ts.head().String(), "aud", nil)
}

// stalledClient opens a connection with a small receive buffer, sends a GET for path as token,
// and reads the status line and headers; on a 200 it reads the first 64 KiB of the body and then
// stops reading, keeping the connection open (the caller closes it).
func stalledClient(addr, path, token string) (net.Conn, *http.Response, error) {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", path, addr, token); err != nil {
		return conn, nil, err
	}
	br := bufio.NewReaderSize(conn, 4<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return conn, nil, err
	}
	if resp.StatusCode == http.StatusOK {
		if _, err := io.CopyN(io.Discard, resp.Body, 64<<10); err != nil {
			return conn, resp, fmt.Errorf("reading the first 64 KiB of %s: %w", path, err)
		}
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	return conn, resp, nil
}

// heapInUse is the process's heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestStalledExportsBounded: 300 exports that each read 64 KiB and stop (16 auditors opening them
// in turn) do not grow the server's heap past 256 MiB: at most 4 per principal and 64 in all are
// served, the others are 429 rate_limited with Retry-After, and each stalled export holds little
// memory. Meanwhile the server answers other requests, and once the stalled clients go away their
// slots are free again.
func TestStalledExportsBounded(t *testing.T) {
	var principals []testPrincipal
	principals = append(principals, standardPrincipals...)
	const auditors = 16
	for i := range auditors {
		principals = append(principals, testPrincipal{fmt.Sprintf("aud-s%02d", i), "auditor", ""})
	}
	// No write deadline cuts a stalled export during the test (TestStalledStreamIsCut in httpapi
	// tests the deadline); the clients close their connections at the end.
	ts := startServerIn(t, t.TempDir(), principals, func(m *Main) { m.StreamWriteTimeout = 10 * time.Minute })
	ts.setupHierarchy()
	start := time.Now()
	ts.fillLedger(10000)
	t.Logf("filled in %v", time.Since(start))
	base := heapInUse()

	// The 300 clients start together; every export served stays open (stalled) until the end, so
	// each auditor gets exactly 4 and the others are refused, in whatever order they arrive.
	conns := make([]net.Conn, 300)
	resps := make([]*http.Response, 300)
	errs := make([]error, 300)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], resps[i], errs[i] = stalledClient(ts.m.Addr(), "/v1/audit/export", ts.tokens[fmt.Sprintf("aud-s%02d", i%auditors)])
		}()
	}
	wg.Wait()
	t.Logf("300 clients answered in %v", time.Since(start))
	served, limited := 0, 0
	for i, resp := range resps {
		if errs[i] != nil {
			t.Fatalf("export %d: %v", i, errs[i])
		}
		switch resp.StatusCode {
		case http.StatusOK:
			served++
		case http.StatusTooManyRequests:
			limited++
			if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("export %d: 429 without Retry-After or problem: %v", i, resp.Header)
			}
		default:
			t.Fatalf("export %d: status %d", i, resp.StatusCode)
		}
	}
	// Sample the heap for a moment while the exports are stalled: a measurement, not a wait for an
	// outcome (a stalled export fills its buffers within milliseconds of the client's last read).
	var peak uint64
	for range 10 {
		peak = max(peak, heapInUse())
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("300 stalled exports: %d served, %d refused; heap in use %d MiB before, peak %d MiB while stalled",
		served, limited, base>>20, peak>>20)
	if peak > 256<<20 {
		t.Errorf("heap in use %d MiB with stalled exports; want under 256 MiB", peak>>20)
	}
	if served != 64 || limited != 236 {
		t.Errorf("%d exports served and %d refused; want 64 (4 for each of 16 auditors) and 236", served, limited)
	}
	// The server answers other requests normally; a further export is refused with a problem.
	ts.must(200, "GET", "/healthz", "", nil)
	ts.must(200, "GET", "/v1/customers/c-a/status", "rd-a", nil)
	r := ts.must(429, "GET", "/v1/audit/export", "aud", nil)
	if r.code() != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Errorf("export over the total limit: %s %v", r.body, r.header)
	}

	// The stalled clients go away: their exports end and the slots are free again.
	for i, c := range conns {
		c.Close()
		conns[i] = nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for inFlight(t, ts) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%v requests still in flight after the clients closed", inFlight(t, ts))
		}
		time.Sleep(10 * time.Millisecond) // bounded polling of a gauge, not a wait for an outcome
	}
	ts.must(200, "GET", "/v1/audit/export"+q("to", eventstore.Position{Commit: 3, Prepare: 3}.String()), "aud-s00", nil)
}

// TestTimeParameterEdges: every time parameter is answered correctly for any RFC 3339 time, also
// far outside the years Unix nanoseconds hold (1678 to 2262): before the customer existed it did not
// exist, after today it is as it is now, and ranges beyond either end hold everything or nothing.
func TestTimeParameterEdges(t *testing.T) {
	ts := startServer(t)
	ts.setupHierarchy()
	const (
		past   = "1600-01-01T00:00:00Z"
		first  = "0000-01-01T00:00:00Z"
		future = "9999-12-31T23:59:59Z"
		beyond = "9999-12-31T23:00:00-02:00" // year 10000 in UTC
		after  = "2300-01-01T00:00:00Z"
		epoch  = "1970-01-01T00:00:00Z"
	)
	for _, at := range []string{past, first, epoch} {
		ts.must(404, "GET", "/v1/customers/c-a/status"+q("as_of", at), "plat", nil)
		ts.must(404, "GET", "/v1/customers/c-a/operations"+q("as_of", at), "plat", nil)
	}
	for _, at := range []string{future, beyond, after} {
		wantFields(t, "as_of "+at, ts.must(200, "GET", "/v1/customers/c-a/status"+q("as_of", at), "plat", nil).json(t), "state", "FROZEN")
	}
	count := func(r response) int { return len(r.json(t)["customers"].([]any)) }
	for _, tc := range []struct {
		param, at string
		want      int
	}{
		{"associated_after", past, 6}, {"associated_after", first, 6}, {"associated_after", epoch, 6},
		{"associated_after", after, 0}, {"associated_after", future, 0}, {"associated_after", beyond, 0},
		{"associated_before", past, 0}, {"associated_before", first, 0}, {"associated_before", epoch, 0},
		{"associated_before", after, 6}, {"associated_before", future, 6}, {"associated_before", beyond, 6},
	} {
		if got := count(ts.must(200, "GET", "/v1/customers"+q(tc.param, tc.at), "plat", nil)); got != tc.want {
			t.Errorf("%s=%s: %d customers, want %d", tc.param, tc.at, got, tc.want)
		}
	}
	// Exports hold the events the audit tree has indexed: wait until it covers the store's head.
	ts.must(200, "GET", "/v1/audit/checkpoint?min_position="+ts.head().String(), "aud", nil)
	events := strings.Count(string(ts.must(200, "GET", "/v1/audit/export", "aud", nil).body), "\n")
	for _, tc := range []struct {
		param, at string
		want      int
	}{
		{"from", past, events}, {"from", first, events}, {"from", future, 0}, {"from", beyond, 0},
		{"to", past, 0}, {"to", first, 0}, {"to", future, events}, {"to", beyond, events},
	} {
		if got := strings.Count(string(ts.must(200, "GET", "/v1/audit/export"+q(tc.param, tc.at), "aud", nil).body), "\n"); got != tc.want {
			t.Errorf("export %s=%s: %d events, want %d", tc.param, tc.at, got, tc.want)
		}
	}
}

// TestHeadAndMethods: on the wire, HEAD of a GET route answers the GET's status and headers with
// no body; a path with a method it does not take is 405 with Allow; two Authorization headers are a
// 400; a body that names a field in another case, or twice, is a 400 and records nothing.
func TestHeadAndMethods(t *testing.T) {
	ts := startServer(t)
	ts.setupHierarchy()
	for _, tc := range []struct{ path, who string }{
		{"/healthz", ""}, {"/readyz", ""}, {"/openapi.json", ""}, {"/v1/audit/public-key", ""},
		{"/v1/customers/c-a/status", "rd-a"}, {"/v1/customers/c-b/status", "rd-a"}, {"/v1/customers", "plat"},
		{"/v1/audit/export", "aud"}, {"/v1/audit/checkpoint", "aud"}, {"/metrics", ""},
	} {
		var got [2]*http.Response
		var bodies [2][]byte
		for i, m := range []string{"GET", "HEAD"} {
			req, _ := http.NewRequest(m, ts.url+tc.path, nil)
			if tc.who != "" {
				req.Header.Set("Authorization", "Bearer "+ts.tokens[tc.who])
			}
			resp, err := ts.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			bodies[i], _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			got[i] = resp
		}
		g, h := got[0], got[1]
		if g.StatusCode != h.StatusCode || g.Header.Get("Content-Type") != h.Header.Get("Content-Type") || len(bodies[1]) != 0 || len(bodies[0]) == 0 {
			t.Errorf("%s: GET %d %q (%d bytes), HEAD %d %q (%d bytes)", tc.path, g.StatusCode, g.Header.Get("Content-Type"), len(bodies[0]),
				h.StatusCode, h.Header.Get("Content-Type"), len(bodies[1]))
		}
	}
	r := ts.must(405, "DELETE", "/v1/customers/c-a/status", "plat", nil)
	if r.code() != "method_not_allowed" || r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("405: %s Allow %q", r.body, r.header.Get("Allow"))
	}
	req, _ := http.NewRequest("GET", ts.url+"/v1/customers/c-a/status", nil)
	req.Header.Add("Authorization", "Bearer "+ts.tokens["rd-a"])
	req.Header.Add("Authorization", "Bearer "+ts.tokens["plat"])
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("two Authorization headers: %d", resp.StatusCode)
	}
	for _, body := range []string{
		`{"reason":"shown to a gateway","Reason":"recorded by the server"}`,
		`{"reason":"a","reason":"b"}`,
		`{"REASON":"x"}`,
		`{"reason":"\u001b[2Jcleared"}`,
		"{\"reason\":\"c1 \u009b\"}",
	} {
		if r := ts.call("POST", "/v1/customers/c-a/unfreeze", "op-dist-a", body); r.status != 400 || r.code() != "invalid" {
			t.Errorf("%s: %d %s", body, r.status, r.body)
		}
	}
	wantFields(t, "c-a after refused bodies", ts.must(200, "GET", "/v1/customers/c-a/status", "plat", nil).json(t), "state", "FROZEN")
}
