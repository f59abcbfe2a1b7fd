// Package atomicfile replaces a file whole or not at all: the one temp-file-and-rename writer of
// freezeledger's small state files (read-model and audit checkpoints, keys, the principals file).
// It imports only the standard library.
package atomicfile

import (
	"os"
	"path/filepath"
)

// WriteFile replaces the file at path with data, with permissions perm (set explicitly, not reduced
// by the umask). data goes to a new temporary file in path's directory (<base>.tmp<random>), which
// is synced, closed and renamed over path; then the directory is synced so that the rename itself
// survives a crash. A reader, or the file after a crash, shows the old content or the new, never a
// mix. On any failure before the rename the temporary file is removed and path is left as it was;
// if only the directory sync fails, the new file is in place but may not survive a crash. The
// directory must exist. Concurrent calls for the same path leave one of the contents whole.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close() // a second Close only fails: nothing to learn from it
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	renamed = true
	return syncDir(dir)
}

// syncDir makes the directory's entries (a rename into it) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
