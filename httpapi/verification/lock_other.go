//go:build !unix

package verification

import "os"

// On systems without flock, only the process's own mutex orders the operations: one process per
// directory there.
func flock(*os.File, bool) error { return nil }

func funlock(*os.File) error { return nil }

// inode is unknown here: file versions are told apart by size and modification time only.
func inode(os.FileInfo) (dev, ino uint64) { return 0, 0 }
