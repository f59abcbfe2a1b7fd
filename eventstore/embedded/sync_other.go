//go:build !linux

package embedded

import "os"

// datasync flushes f's data (and the metadata needed to read it back, such as its size).
func datasync(f *os.File) error { return f.Sync() }
