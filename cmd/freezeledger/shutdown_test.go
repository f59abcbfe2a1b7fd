package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// inFlight reads the server's in-flight request gauge.
func inFlight(t *testing.T, ts *testServer) float64 {
	t.Helper()
	mfs, err := ts.m.Server().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "freezeledger_http_requests_in_flight" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

// TestGracefulShutdown: on shutdown the server stops accepting, lets a request in flight finish
// with its real answer, then stops the background work and closes the store.
func TestGracefulShutdown(t *testing.T) {
	ts := startServer(t)
	ts.setupHierarchy()
	head := ts.head()
	next := head
	next.Commit++
	next.Prepare++

	// A read waiting (min_position) for the next event: it is in flight until that event is applied.
	type answer struct {
		status int
		err    error
	}
	got := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", ts.url+"/v1/customers/c-a/status?min_position="+next.String(), nil)
		req.Header.Set("Authorization", "Bearer "+ts.tokens["rd-a"])
		resp, err := ts.client.Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		resp.Body.Close()
		got <- answer{status: resp.StatusCode}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for inFlight(t, ts) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the request never got in flight")
		}
		time.Sleep(time.Millisecond) // bounded polling of a gauge, not a wait for an outcome
	}
	ts.m.mu.Lock()
	svc := ts.m.led.svc
	ts.m.mu.Unlock()

	// Shut down, then append the awaited event through the (still running) command service.
	ts.stop()
	ts.stop = nil
	if _, err := svc.UnfreezeCustomer(context.Background(), domain.UnfreezeCustomer{
		Meta:       domain.Meta{Actor: domain.Actor{Name: "op-dist-a", Role: domain.RolePartner, PartnerID: "dist-a"}},
		CustomerID: "c-a", Reason: "during shutdown", UnfreezeType: domain.FreezeAccount,
	}); err != nil {
		t.Fatal(err)
	}
	a := <-got
	if a.err != nil || a.status != 200 {
		t.Fatalf("the in-flight request got %d, %v; want its 200", a.status, a.err)
	}
	select {
	case err := <-ts.done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	// New connections are refused.
	if _, err := http.Get(ts.url + "/healthz"); err == nil {
		t.Error("the server still accepts connections after shutdown")
	}
	ts.client.CloseIdleConnections()
	// The data directory reopens: the store was closed cleanly, the event is there.
	ts2 := startServerIn(t, ts.dir, nil, nil)
	for k, v := range ts.tokens {
		ts2.tokens[k] = v
	}
	wantFields(t, "c-a after restart", ts2.must(200, "GET", "/v1/customers/c-a/status?min_position="+next.String(), "rd-a", nil).json(t), "state", "ACTIVE")
}
