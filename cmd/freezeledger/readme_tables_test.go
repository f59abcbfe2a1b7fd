package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeSection returns the text of README.md between <!-- name:begin --> and <!-- name:end -->.
func readmeSection(t *testing.T, name string) string {
	t.Helper()
	readme := readFile(t, filepath.Join(repoRoot, "README.md"))
	_, rest, ok := strings.Cut(readme, "<!-- "+name+":begin -->")
	if !ok {
		t.Fatalf("README.md has no <!-- %s:begin --> marker", name)
	}
	section, _, ok := strings.Cut(rest, "<!-- "+name+":end -->")
	if !ok {
		t.Fatalf("README.md has no <!-- %s:end --> marker", name)
	}
	return section
}

// TestREADMELayoutListsEveryPackage: the README's Layout table has a row for every Go package and
// every top-level directory of the repository.
func TestREADMELayoutListsEveryPackage(t *testing.T) {
	layout := readmeSection(t, "layout")
	want := map[string]bool{} // directory -> its own row (a package) rather than a row under it
	top, err := os.ReadDir(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range top {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			want[e.Name()] = false
		}
	}
	err = filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != repoRoot || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".go") {
			rel, err := filepath.Rel(repoRoot, filepath.Dir(path))
			if err != nil {
				return err
			}
			want[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir, own := range want {
		if own && !strings.Contains(layout, "| `"+dir+"/` |") {
			t.Errorf("README.md's Layout table has no row for the package %s/", dir)
		}
		if !own && !strings.Contains(layout, "| `"+dir+"/") {
			t.Errorf("README.md's Layout table has no row for %s/ or below", dir)
		}
	}
}

// TestREADMEDataDirListsEveryFile: every file and folder that demo, serve and export leave in a
// data directory is listed in the README's data-directory block (numbered names as patterns).
func TestREADMEDataDirListsEveryFile(t *testing.T) {
	block := readmeSection(t, "datadir")
	dir := filepath.Join(t.TempDir(), "demo-data")
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--data-dir", dir}, &out, &errs); code != 0 {
		t.Fatalf("demo exited %d: %s", code, errs.String())
	}
	ts := startServerIn(t, dir, nil, nil)
	ts.shutdown()
	if code := run(context.Background(), []string{"export", "--data-dir", dir, "--bundle", filepath.Join(t.TempDir(), "bundle")}, &out, &errs); code != 0 {
		t.Fatalf("export exited %d: %s", code, errs.String())
	}
	numbered := regexp.MustCompile(`^(wal|level)-[0-9]+`)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		base := numbered.ReplaceAllString(filepath.Base(rel), "$1-*")
		name := "<data-dir>/" + strings.TrimPrefix(filepath.ToSlash(filepath.Dir(rel))+"/", "./") + base
		if d.IsDir() {
			name += "/"
		}
		if !strings.Contains(block, name+" ") {
			t.Errorf("README.md's data-directory block does not list %s", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDocsLinkOnlyInsideTheRepo: every relative link of the repository's Markdown files leads to a
// file of the repository (a clone has nothing beside it), and no Go comment points at the specs outside it.
func TestDocsLinkOnlyInsideTheRepo(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	outside := "../" + "shared" // split, so that this file does not match itself
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case strings.HasSuffix(path, ".go"):
			if strings.Contains(readFile(t, path), outside) {
				t.Errorf("%s points at %s, outside the repository", rel, outside)
			}
		case strings.HasSuffix(path, ".md"):
			for _, m := range link.FindAllStringSubmatch(readFile(t, path), -1) {
				target, _, _ := strings.Cut(m[1], "#")
				if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				abs := filepath.Join(filepath.Dir(path), target)
				if r, err := filepath.Rel(root, abs); err != nil || strings.HasPrefix(r, "..") {
					t.Errorf("%s links %s, outside the repository", rel, m[1])
				} else if _, err := os.Stat(abs); err != nil {
					t.Errorf("%s links %s, which does not exist", rel, m[1])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
