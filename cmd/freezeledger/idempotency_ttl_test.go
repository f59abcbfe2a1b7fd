package main

import (
	"strings"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain/domaintest"
)

// TestIdempotencyTTLFlag: serve --idempotency-ttl: within it a key with another body is a 409, also
// after a restart; a TTL after its first use the key takes a new command. A TTL that is not
// positive is refused.
func TestIdempotencyTTLFlag(t *testing.T) {
	clock := domaintest.NewClock(time.Now().Add(-time.Hour))
	dir := t.TempDir()
	flags := []string{"--log-level", "warn", "--idempotency-ttl", "1h"}
	ts := startServerFull(t, dir, standardPrincipals, func(m *Main) { m.Clock = clock }, flags)
	ts.setupHierarchy()
	unfreeze := map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"}
	freeze := map[string]any{"reason": "overdue", "freeze_type": "ACCOUNT"}
	ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", unfreeze, "Idempotency-Key", "ttl-1")
	clock.Advance(time.Hour - time.Millisecond)
	ts.must(409, "POST", "/v1/customers/c-a/freeze", "op-dist-a", freeze, "Idempotency-Key", "ttl-1")
	tokens := ts.tokens
	ts.shutdown()
	ts = startServerFull(t, dir, nil, func(m *Main) { m.Clock = clock }, flags)
	ts.tokens = tokens
	ts.must(409, "POST", "/v1/customers/c-a/freeze", "op-dist-a", freeze, "Idempotency-Key", "ttl-1")
	clock.Advance(time.Millisecond)
	ts.must(200, "POST", "/v1/customers/c-a/freeze", "op-dist-a", freeze, "Idempotency-Key", "ttl-1")

	for _, bad := range []string{"0s", "-1h"} {
		m := &Main{Stdout: &syncBuffer{}, Stderr: &syncBuffer{}}
		err := m.ParseFlags([]string{"serve", "--data-dir", t.TempDir(), "--idempotency-ttl", bad})
		if err == nil || !strings.Contains(err.Error(), "--idempotency-ttl") {
			t.Errorf("--idempotency-ttl %s: %v, want a refusal naming the flag", bad, err)
		}
	}
}
