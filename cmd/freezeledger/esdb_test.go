package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeExitsWhenEventStoreDBIsUnreachable: `serve --store esdb://...` pointing at a closed local
// port fails fast, exits non-zero and says in one line which address it could not reach, and
// leaves no data directory behind.
func TestServeExitsWhenEventStoreDBIsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // the port is now closed: nothing listens there

	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "data")
	code := run(ctx, []string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0",
		"--store", fmt.Sprintf("esdb://%s?tls=false", addr)}, &stdout, &stderr)
	if code == 0 {
		t.Fatalf("serve exited 0 against a closed port; stderr:\n%s", stderr.String())
	}
	if ctx.Err() != nil {
		t.Fatal("serve did not give up before the test's deadline")
	}
	if !strings.Contains(stderr.String(), addr) || !strings.Contains(stderr.String(), "EventStoreDB") {
		t.Fatalf("the error does not name EventStoreDB and the address %s:\n%s", addr, stderr.String())
	}
	// One clear error line, not the client's warning at every discovery attempt.
	if lines := strings.Count(strings.TrimSpace(stderr.String()), "\n") + 1; lines != 1 {
		t.Errorf("serve wrote %d lines to stderr, want the one error line:\n%s", lines, stderr.String())
	}
	wantAbsent(t, dir, "serve against an unreachable EventStoreDB")
}
