package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wantAbsent fails the test if path exists.
func wantAbsent(t *testing.T, path, what string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		entries, _ := os.ReadDir(path)
		t.Errorf("%s: %s was created (%d entries)", what, path, len(entries))
	}
}

// TestServePortInUseWritesNothing: serve on a port that is taken exits non-zero before creating the
// data directory, so the one-time platform token is still there for the start that succeeds.
func TestServePortInUseWritesNothing(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := taken.Addr().String()
	dir := filepath.Join(t.TempDir(), "data")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--data-dir", dir, "--listen", addr}, &stdout, &stderr); code == 0 {
		t.Fatal("serve on a port in use exited 0")
	}
	if !strings.Contains(stderr.String(), "listen on "+addr) {
		t.Errorf("the error does not name the address: %s", stderr.String())
	}
	if strings.Contains(stdout.String(), "token") {
		t.Errorf("a failed serve printed a token: %s", stdout.String())
	}
	wantAbsent(t, dir, "serve on a port in use")
	taken.Close()

	ts := startServerInWithFlags(t, dir, []string{"--listen", addr, "--log-level", "warn"})
	if out := ts.stdout.String(); !strings.Contains(out, "platform-admin token") || !strings.Contains(out, "fl_") {
		t.Errorf("serve after freeing the port printed no token: %q", out)
	}
}

// TestServeBadFlagsWriteNothing: a --listen that cannot be bound and a --store that is no store
// are refused before the data directory is created.
func TestServeBadFlagsWriteNothing(t *testing.T) {
	for _, flags := range [][]string{
		{"--listen", "256.0.0.1:99999"},
		{"--listen", "127.0.0.1:0", "--store", "postgres://nope"},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"serve", "--data-dir", dir}, flags...), &stdout, &stderr); code == 0 {
			t.Errorf("serve %v exited 0", flags)
		}
		wantAbsent(t, dir, strings.Join(flags, " "))
	}
}

// TestSecondServeIsRefusedTheLockFirst: a second serve on a data directory in use says that the
// data directory (as given) is in use, and nothing about read models it will never run.
func TestSecondServeIsRefusedTheLockFirst(t *testing.T) {
	dir := t.TempDir()
	first := startServerIn(t, dir, standardPrincipals, nil)
	first.setupHierarchy()
	first.shutdown() // writes the read models' checkpoint, which the second server would compare
	running := startServerInWithFlags(t, dir, []string{"--log-level", "warn"})
	defer running.shutdown()

	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--log-level", "info"}, &stdout, &stderr)
	if code == 0 {
		t.Fatal("a second serve on the same data directory exited 0")
	}
	errText := stderr.String()
	if !strings.Contains(errText, "locked by another process") || !strings.Contains(errText, "data directory "+dir+":") {
		t.Errorf("the refusal does not say the data directory %s is in use:\n%s", dir, errText)
	}
	if strings.Contains(errText, "data directory "+StoreDir(dir)) {
		t.Errorf("the refusal calls the store folder the data directory:\n%s", errText)
	}
	for _, misleading := range []string{"rebuilding", "projections", "checkpoint"} {
		if strings.Contains(errText, misleading) {
			t.Errorf("the refused server logged %q:\n%s", misleading, errText)
		}
	}
	if lines := strings.Count(strings.TrimSpace(errText), "\n") + 1; lines != 1 {
		t.Errorf("the refusal is %d lines, want 1:\n%s", lines, errText)
	}
}
