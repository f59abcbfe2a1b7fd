package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// entries lists dir's names, so that a test sees any temporary file left behind.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileCreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := WriteFile(path, []byte("first, longer content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("second"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "second" {
		t.Fatalf("content %q, %v", got, err)
	}
	if names := entries(t, dir); !slices.Equal(names, []string{"state"}) {
		t.Fatalf("directory holds %q", names)
	}
}

func TestWriteFilePermissions(t *testing.T) {
	dir := t.TempDir()
	for _, perm := range []os.FileMode{0o600, 0o640, 0o644} {
		path := filepath.Join(dir, perm.String())
		// Replacing a file of other permissions gives the new ones too.
		if err := os.WriteFile(path, []byte("old"), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(path, []byte("x"), perm); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("perm %v, want %v", fi.Mode().Perm(), perm)
		}
	}
}

// A failing write leaves what was there, and no temporary file: here the rename fails because the
// path is a directory that is not empty.
func TestWriteFileFailureLeavesNoTrace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "inside"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o644); err == nil {
		t.Fatal("replaced a non-empty directory")
	}
	if names := entries(t, dir); !slices.Equal(names, []string{"state"}) {
		t.Fatalf("directory holds %q after the failure", names)
	}
	if got, err := os.ReadFile(filepath.Join(path, "inside")); err != nil || string(got) != "kept" {
		t.Fatalf("old content %q, %v", got, err)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "state"), []byte("x"), 0o644); err == nil {
		t.Fatal("wrote into a directory that does not exist")
	}
	if names := entries(t, dir); !slices.Equal(names, []string{"state"}) {
		t.Fatalf("directory holds %q after the second failure", names)
	}
}

// Readers see one whole content or the other, never a mix or an empty file, while the file is
// replaced over and over.
func TestWriteFileReadersSeeWholeContents(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	a, b := bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 3)
	if err := WriteFile(path, a, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done) // before Wait, also when a write fails
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("read: %v", err)
				return
			}
			if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
				t.Errorf("read %d bytes that are neither content", len(got))
				return
			}
		}
	}()
	for i := range 40 {
		data := a
		if i%2 == 0 {
			data = b
		}
		if err := WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
