package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRequestLog: one JSON log line per request with its request ID, principal, route, status and
// duration, and never the token, the query or the body.
func TestRequestLog(t *testing.T) {
	dir := t.TempDir()
	first := startServerIn(t, dir, standardPrincipals, nil)
	first.shutdown()
	// Restart with info logs in JSON.
	ts := startServerInWithFlags(t, dir, []string{"--log-format", "json", "--log-level", "info"})
	for k, v := range first.tokens {
		ts.tokens[k] = v
	}
	r := ts.call("POST", "/v1/partners?x=QUERYSECRET", "plat", `{"partner_id":"d9","name":"BODYSECRET","type":"distributor"}`, "X-Request-Id", "req-abc-123")
	if r.status != 400 || r.header.Get("X-Request-Id") != "req-abc-123" {
		t.Fatalf("status %d, X-Request-Id %q", r.status, r.header.Get("X-Request-Id"))
	}
	ts.must(201, "POST", "/v1/partners", "plat", `{"partner_id":"d9","name":"BODYSECRET","type":"distributor"}`, "X-Request-Id", "req-abc-124")
	ts.shutdown()
	logs := ts.stderr.String()
	for _, secret := range []string{ts.tokens["plat"], "BODYSECRET", "QUERYSECRET"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
	found := 0
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "req-abc-12") {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if v["principal"] != "plat" || v["route"] != "/v1/partners" || v["status"] == nil || v["duration"] == nil {
			t.Errorf("log line lacks fields: %v", v)
		}
		found++
	}
	if found != 2 {
		t.Errorf("%d log lines for the two requests, want 2:\n%s", found, logs)
	}
}
