package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog"
)

// forgeAndExport appends a forged event (type typ, data and metadata as given, its request_id
// "forged") straight into dist-a's channel stream of ts's store, stops ts, and exports the data
// directory as a bundle and as JSON Lines. It returns the bundle and export paths, the verifier
// key's path and the forged event's export line (the last).
func forgeAndExport(t *testing.T, ts *testServer, dir, typ string, data, meta []byte) (bundle, export, key string, forged int) {
	t.Helper()
	ts.m.mu.Lock()
	store := ts.m.led.store
	ts.m.mu.Unlock()
	if _, err := store.Append(context.Background(), domain.ChannelStream("dist-a"), eventstore.Any,
		eventstore.EventData{ID: uuid.New(), Type: typ, Data: data, Metadata: meta}); err != nil {
		t.Fatal(err)
	}
	ts.shutdown() // the tree signs a checkpoint covering every event on the way out

	ctx := context.Background()
	var o, e bytes.Buffer
	bundle = filepath.Join(t.TempDir(), "bundle")
	if code := runExport(ctx, []string{"--data-dir", dir, "--bundle", bundle}, &o, &e); code != 0 {
		t.Fatalf("export --bundle: exit %d: %s", code, e.String())
	}
	export = filepath.Join(t.TempDir(), "export.jsonl")
	if code := runExport(ctx, []string{"--data-dir", dir, "--format", "jsonl", "--out", export}, &o, &e); code != 0 {
		t.Fatalf("export --format jsonl: exit %d: %s", code, e.String())
	}
	lines := bytes.Split(bytes.TrimSpace(mustRead(t, export)), []byte("\n"))
	forged = len(lines) // the forgery is the last event
	if !bytes.Contains(lines[forged-1], []byte(`"request_id":"forged"`)) {
		t.Fatalf("the last export line is not the forged event: %s", lines[forged-1])
	}
	return bundle, export, filepath.Join(AuditDir(dir), auditlog.VerifierKeyFile), forged
}
