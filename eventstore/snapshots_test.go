package eventstore_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

var _ domain.SnapshotStore = (*eventstore.FileSnapshots)(nil)

// TestFileSnapshots: none before the first save; a save replaces the file whole, leaves no
// temporary file and makes the directory 0700; names that are not plain file names are refused.
func TestFileSnapshots(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "snapshots")
	fs := eventstore.NewFileSnapshots(dir)
	if b, err := fs.LoadSnapshot(ctx, "channel-d1"); b != nil || err != nil {
		t.Fatalf("before any save: %q %v", b, err)
	}
	for _, v := range [][]byte{[]byte("first, longer"), []byte("second")} {
		if err := fs.SaveSnapshot(ctx, "channel-d1", v); err != nil {
			t.Fatal(err)
		}
		if b, err := fs.LoadSnapshot(ctx, "channel-d1"); err != nil || !bytes.Equal(b, v) {
			t.Fatalf("after saving %q: %q %v", v, b, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 || ents[0].Name() != "channel-d1.snap" {
		t.Fatalf("directory holds %v (%v)", ents, err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v (%v)", st.Mode(), err)
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden", "$system"} {
		if err := fs.SaveSnapshot(ctx, bad, []byte("x")); err == nil {
			t.Errorf("stream %q: saved", bad)
		}
	}
}
