package embedded

import "encoding/binary"

// FaultInjector makes commits fail as a failing disk would, for reliability tests. BeforeCommit is
// called once per group commit, after the batch's records are staged and before anything is written
// to the write-ahead log; events is the number of events in the batch. A non-nil error aborts the
// batch: every append in it fails with an error wrapping eventstore.ErrUnavailable and nothing of it
// is written. The store stays usable (the fault is treated as transient). Real write or sync errors
// (of the WAL or of a checkpoint into bbolt), in contrast, make the store refuse all further appends
// with ErrUnavailable until it is reopened, because after a failed fsync a file's state is unknown.
//
// The injector works through the store's file seam (fileSystem): Options.Faults wraps the real file
// system in faultFS, whose WAL segments ask BeforeCommit before each write.
type FaultInjector interface {
	BeforeCommit(events int) error
}

// faultFS is a fileSystem whose WAL segments consult a FaultInjector before each write (each write
// is one group commit's frame) and, when it says so, write nothing and fail with an injectedFault.
type faultFS struct {
	fileSystem
	faults FaultInjector
}

func (f faultFS) Create(name string) (walFile, error) {
	w, err := f.fileSystem.Create(name)
	if err != nil {
		return nil, err
	}
	return faultFile{w, f.faults}, nil
}

type faultFile struct {
	walFile
	faults FaultInjector
}

func (f faultFile) Write(b []byte) (int, error) {
	if err := f.faults.BeforeCommit(frameRecords(b)); err != nil {
		return 0, injectedFault{err}
	}
	return f.walFile.Write(b)
}

// injectedFault is a write refused by a FaultInjector: nothing was written, so the commit failed
// without leaving the file in an unknown state.
type injectedFault struct{ err error }

func (e injectedFault) Error() string { return e.err.Error() }
func (e injectedFault) Unwrap() error { return e.err }

// frameRecords counts the records of a frame made by frame.
func frameRecords(b []byte) int {
	n := 0
	for off := 4; off+4 <= len(b); n++ {
		off += 4 + int(binary.BigEndian.Uint32(b[off:]))
	}
	return n
}
