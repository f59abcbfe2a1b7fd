package eventstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileSnapshots is the domain's SnapshotStore on a directory: one file per channel stream,
// `<stream>.snap`, replaced atomically (written to a temporary file, fsynced, renamed, the directory
// fsynced). The domain checks every snapshot against the log before it uses one, so the files are a
// cache: losing or damaging them costs a slower load, never a wrong state. Stream names are those
// ValidateStreamName accepts; one that would not make a plain file name is refused. Safe for
// concurrent use by one process (the data directory's lock keeps others out).
type FileSnapshots struct{ dir string }

// NewFileSnapshots returns the snapshot store in dir, which is made (0700) on the first save.
func NewFileSnapshots(dir string) *FileSnapshots { return &FileSnapshots{dir: dir} }

func (f *FileSnapshots) path(stream string) (string, error) {
	if err := ValidateStreamName(stream); err != nil || strings.ContainsAny(stream, `/\`) || strings.HasPrefix(stream, ".") {
		return "", fmt.Errorf("snapshot of stream %q: not a name for a file", stream)
	}
	return filepath.Join(f.dir, stream+".snap"), nil
}

// LoadSnapshot returns stream's snapshot, nil when there is none.
func (f *FileSnapshots) LoadSnapshot(ctx context.Context, stream string) ([]byte, error) {
	p, err := f.path(stream)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return b, nil
}

// SaveSnapshot replaces stream's snapshot by b.
func (f *FileSnapshots) SaveSnapshot(ctx context.Context, stream string, b []byte) error {
	p, err := f.path(stream)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	tmp := p + ".tmp"
	file, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	_, err = file.Write(b)
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("snapshot %s: %w", p, err)
	}
	d, err := os.Open(f.dir)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("snapshot: syncing %s: %w", f.dir, err)
	}
	return nil
}
