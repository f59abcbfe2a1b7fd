package projections

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
)

// checkpointAt writes the read models' checkpoint of everything in l's store into dir.
func checkpointAt(t *testing.T, l *ledger, dir string) {
	t.Helper()
	m, err := Open(l.store, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// CompareWithRebuild passes on read models equal to a rebuild (no checkpoint, a checkpoint of a
// shorter log that is caught up) and names the difference when the checkpoint's models differ.
func TestCompareWithRebuild(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	customers, _ := randomLog(l, 5, 80)
	short := t.TempDir()
	checkpointAt(t, l, short)
	for _, id := range []string{"late-a", "late-b", "late-c"} {
		l.associate(id, "res-0-1", "dist-0", []string{"late"}, "")
	}
	l.unfreeze("late-b", "res-0-1", opsOf("dist-0"), domain.FreezeAccount, "ok")
	l.freezePartner("sp-0", platform, "late freeze")

	for name, dir := range map[string]string{"no checkpoint": t.TempDir(), "checkpoint of a shorter log": short} {
		var out bytes.Buffer
		if err := CompareWithRebuild(ctx, l.store, dir, &out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := "read models: " + strconv.Itoa(len(customers)+3) + " customers"; !strings.HasPrefix(out.String(), want) {
			t.Errorf("%s: wrote %q, want it to start with %q", name, out.String(), want)
		}
	}

	// A checkpoint that matches the store (so it is used) but holds another reason than the log.
	tampered := t.TempDir()
	checkpointAt(t, l, tampered)
	path := filepath.Join(tampered, CheckpointFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("new customer")) {
		t.Fatal("the checkpoint does not hold the association reason")
	}
	b = bytes.ReplaceAll(b, []byte("new customer"), []byte("NEW CUSTOMER"))
	rewriteCRC(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	head, _ := l.store.Head(ctx)
	if m, err := Open(l.store, tampered, Options{}); err != nil || m.Events() != head.Commit {
		t.Fatalf("the tampered checkpoint is not used (%v): the test would not test the comparison", err)
	}
	var out bytes.Buffer
	err = CompareWithRebuild(ctx, l.store, tampered, &out)
	if err == nil || !strings.Contains(err.Error(), "read models differ from a rebuild") || !strings.Contains(err.Error(), "NEW CUSTOMER") {
		t.Fatalf("CompareWithRebuild on a tampered checkpoint = %v, want the difference named", err)
	}
	if out.Len() != 0 {
		t.Errorf("a failed comparison wrote %q", out.String())
	}
}
