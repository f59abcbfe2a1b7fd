package verification

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// lockoutView is the lockouts recorded in one version of the state file: principal → locked until
// (Unix ns). file identifies that version (nil: there was no file).
type lockoutView struct {
	file  *fileID
	until map[string]int64
}

// fileID tells versions of the state file apart. Every write replaces the file by the rename of a
// new one, so a changed state has another inode, size or modification time (nanoseconds): a view
// whose fileID matches a fresh stat is that version's.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

func idOf(fi os.FileInfo) *fileID {
	dev, ino := inode(fi)
	return &fileID{dev: dev, ino: ino, size: fi.Size(), mtime: fi.ModTime()}
}

func (a *fileID) same(b *fileID) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.dev == b.dev && a.ino == b.ino && a.size == b.size && a.mtime.Equal(b.mtime)
}

// lockouts returns the lockouts of the state file as it is now: the cached view while a stat of the
// file still names the version it was read from, else a view read afresh under the shared lock
// (from the very file it stats, so content and identity agree).
func (s *Store) lockouts() (*lockoutView, error) {
	path := filepath.Join(s.dir, stateFile)
	cur, err := statID(path)
	if err != nil {
		return nil, err
	}
	if v := s.view.Load(); v != nil && v.file.same(cur) {
		return v, nil
	}
	var v *lockoutView
	err = s.locked(true, func() error {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			v = &lockoutView{}
			return nil
		}
		if err != nil {
			return fmt.Errorf("verification state: %w", err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("verification state: %w", err)
		}
		b, err := io.ReadAll(f)
		if err != nil {
			return fmt.Errorf("verification state: %w", err)
		}
		st, err := parseState(b, path)
		if err != nil {
			return err
		}
		v = &lockoutView{file: idOf(fi), until: map[string]int64{}}
		for name, p := range st.Principals {
			if p.LockedUntil != 0 {
				v.until[name] = p.LockedUntil
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.view.Store(v)
	return v, nil
}

// statID is the identity of the file at path, nil when there is none.
func statID(path string) (*fileID, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("verification state: %w", err)
	}
	return idOf(fi), nil
}
