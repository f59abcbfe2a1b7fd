package embedded

import "io"

// fileSystem is the store's file seam: every file operation of the write-ahead log and of the
// checkpointer goes through it: creating, appending to, syncing and closing WAL segments, listing
// and reading them at recovery, renaming a torn one to .broken, removing checkpointed ones, and
// syncing the data directory so that those directory changes last. The default, osFS, is the real
// OS (fdatasync on Linux). Options.Faults wraps it to fail commits (faults.go), and the power-loss
// test puts an in-memory file system behind it that records every write and sync
// (powerloss_test.go).
//
// Not behind the seam: bbolt's events.db, which bbolt opens, writes, grows and fsyncs itself, and the
// data directory's creation (which bbolt needs too). A power cut relies there on bbolt's own order
// (a transaction's pages are written and fdatasynced before its meta page, which is then
// fdatasynced) and on the store's: a WAL segment is removed only after the bbolt transactions that
// copied its records have committed and synced (checkpointer, recover), and events.db's directory
// entry is made durable by the directory sync that follows the creation of the first WAL segment.
//
// Names are full paths inside the data directory. Implementations must be safe for concurrent use
// (the committer and the checkpointer use the file system at the same time, never the same file).
type fileSystem interface {
	// Create creates name, or truncates it if it exists, open for appending only.
	Create(name string) (walFile, error)
	// ReadFile returns all of name's content.
	ReadFile(name string) ([]byte, error)
	// ReadDir returns the names (not paths) of dir's entries, in any order.
	ReadDir(dir string) ([]string, error)
	// Rename renames oldname to newname, replacing newname if it exists.
	Rename(oldname, newname string) error
	// Remove removes name.
	Remove(name string) error
	// SyncDir makes the creations, renames and removals in dir so far durable.
	SyncDir(dir string) error
}

// walFile is a WAL segment open for appending. Write appends all of b or returns an error; what was
// written is durable only once Sync has returned nil. After a failed Write or Sync the file's content
// is unknown.
type walFile interface {
	io.WriteCloser
	// Sync flushes the file's data and the metadata needed to read it back, such as its size
	// (fdatasync).
	Sync() error
	// Name returns the path the file was created with.
	Name() string
}
