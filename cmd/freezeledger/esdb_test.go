package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestServeExitsWhenEventStoreDBIsUnreachable: `serve --store esdb://...` pointing at a closed local
// port fails fast, exits non-zero and says which address it could not reach.
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
	code := run(ctx, []string{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0",
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
}
