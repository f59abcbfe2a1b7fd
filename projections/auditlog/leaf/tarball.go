package leaf

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// A bundle travels as a tar archive (GET /v1/audit/bundle, application/x-tar): the bundle files as
// regular entries at the archive's top level, nothing else. Unpacked into a directory it is the
// directory bundle OpenBundle reads.

// bundleFiles are the names a bundle may hold.
var bundleFiles = []string{BundleEvents, BundleCheckpoint, BundleProof, BundlePublicKey, BundleScope, BundleHeads, BundleGaps}

// WriteBundleTar writes the bundle files of dir that exist to w as a tar archive, in a fixed order
// (the small files first, the events and the gap proof last). modTime is every entry's time.
func WriteBundleTar(w io.Writer, dir string, modTime time.Time) error {
	tw := tar.NewWriter(w)
	order := []string{BundleCheckpoint, BundlePublicKey, BundleProof, BundleScope, BundleHeads, BundleEvents, BundleGaps}
	for _, name := range order {
		f, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: fi.Size(), ModTime: modTime, Format: tar.FormatPAX})
		}
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("bundle tar: %s: %w", name, err)
		}
	}
	return tw.Close()
}

// ExtractBundleTar unpacks a bundle archive into dir (which must exist). It refuses (naming the
// entry) anything but a regular file with a bundle file's name, and a name given twice.
func ExtractBundleTar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("bundle tar: %w", err)
		}
		if h.Typeflag != tar.TypeReg || !slices.Contains(bundleFiles, h.Name) || seen[h.Name] {
			return fmt.Errorf("bundle tar: unexpected entry %q (a bundle holds each of %v at most once, as regular files)", h.Name, bundleFiles)
		}
		seen[h.Name] = true
		f, err := os.OpenFile(filepath.Join(dir, h.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("bundle tar: %w", err)
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("bundle tar: %s: %w", h.Name, err)
		}
	}
}
