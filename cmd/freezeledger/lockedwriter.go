package main

import (
	"io"
	"sync"
)

// lockedWriter serialises the Writes of several writers to one io.Writer: serve's hclog lines and
// the access log's batches go to stderr through one, so that no batch is ever split by a line
// (a write to a pipe larger than PIPE_BUF may otherwise interleave with another writer's).
// It is safe for concurrent use.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
