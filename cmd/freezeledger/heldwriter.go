package main

import (
	"bytes"
	"io"
	"sync"
)

// heldWriter holds what is written to it until Release, which writes it out to the underlying
// writer and lets every later write through; after Drop it discards everything. serve opens the
// read models alongside the event store and logs them through one, so that their lines (a
// checkpoint that does not match the store, a rebuild) appear only once the store has opened: a
// server refused the store's lock says that, and nothing about read models it will never run.
// It is safe for concurrent use.
type heldWriter struct {
	mu    sync.Mutex
	w     io.Writer
	held  bytes.Buffer
	state heldState
}

type heldState int

const (
	holding heldState = iota
	released
	dropped
)

func newHeldWriter(w io.Writer) *heldWriter { return &heldWriter{w: w} }

// Write holds p, writes it through once released, or discards it once dropped. It never fails
// while holding or dropped.
func (h *heldWriter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.state {
	case released:
		return h.w.Write(p)
	case dropped:
		return len(p), nil
	}
	return h.held.Write(p)
}

// Release writes out what was held and lets later writes through. Only the first of Release and
// Drop counts.
func (h *heldWriter) Release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != holding {
		return
	}
	h.state = released
	_, _ = h.w.Write(h.held.Bytes())
	h.held = bytes.Buffer{}
}

// Drop discards what was held and everything written later. Only the first of Release and Drop
// counts.
func (h *heldWriter) Drop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != holding {
		return
	}
	h.state = dropped
	h.held = bytes.Buffer{}
}
