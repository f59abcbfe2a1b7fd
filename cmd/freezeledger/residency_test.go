package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChannelEviction: serve --max-loaded-channels 1 keeps one channel in memory; the others are
// evicted to a snapshot in <data-dir>/snapshots and answer as before when used again; a shutdown
// snapshots what is loaded; a damaged snapshot is reported and not used after a restart.
func TestChannelEviction(t *testing.T) {
	dir := t.TempDir()
	flags := []string{"--log-level", "warn", "--max-loaded-channels", "1"}
	every := func(m *Main) { m.SnapshotEvery = 1 }
	ts := startServerFull(t, dir, standardPrincipals, every, flags)
	ts.setupHierarchy() // three channels, one after the other: dist-a and dist-b are evicted
	snap := func(channel string) string { return filepath.Join(SnapshotsDir(dir), "channel-"+channel+".snap") }
	for _, ch := range []string{"dist-a", "dist-b"} {
		if _, err := os.Stat(snap(ch)); err != nil {
			t.Fatalf("no snapshot of evicted channel %s: %v", ch, err)
		}
	}
	ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"})
	ts.must(409, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"})
	ts.must(200, "POST", "/v1/customers/c-b/unfreeze", "op-dist-b", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"})
	tokens := ts.tokens
	ts.shutdown()

	b, err := os.ReadFile(snap("dist-a"))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(snap("dist-a"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	ts = startServerFull(t, dir, nil, every, flags)
	ts.tokens = tokens
	ts.must(409, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"})
	ts.must(200, "POST", "/v1/customers/c-a/freeze", "op-dist-a", map[string]any{"reason": "again", "freeze_type": "ACCOUNT"})
	ts.must(409, "POST", "/v1/customers/c-b/unfreeze", "op-dist-b", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"})
	ts.shutdown()
	logs := ts.stderr.String()
	if !strings.Contains(logs, "channel snapshot") || !strings.Contains(logs, "channel-dist-a") || !strings.Contains(logs, "checksum") {
		t.Fatalf("the damaged snapshot was not reported:\n%s", logs)
	}
}
