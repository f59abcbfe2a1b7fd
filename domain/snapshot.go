package domain

// Channel snapshots: a channel evicted from memory, or the whole Service at shutdown, leaves its
// state in a SnapshotStore, and the next load starts from it and reads only the events after it.
// A snapshot holds the channel's whole state, phase 2's included (billing, quotas, verification,
// personal data keys, disassociations), so every channel is snapshotted; its format (version 2) is
// snapshot_codec.go's. A snapshot is never trusted: it is used only if its format version is this
// build's, its checksum holds and the log's event at its revision is the one it names (ID and
// position); otherwise it is reported and the channel is rebuilt from its first event.

import (
	"context"
	"errors"
	"fmt"
)

// SnapshotStore keeps the latest snapshot of each channel stream: bytes the Service wrote, given
// back as they were. The Service checks every snapshot against the log before using it, so a store
// that loses, keeps stale or damages snapshots costs a slower load, never a wrong state.
type SnapshotStore interface {
	// LoadSnapshot returns stream's snapshot, or nil and no error when there is none. The bytes
	// belong to the Service from then on: the store must not keep or change them (the decoded
	// state's strings are views of them).
	LoadSnapshot(ctx context.Context, stream string) ([]byte, error)
	// SaveSnapshot replaces stream's snapshot by b, atomically: a later load sees the old bytes or
	// the new ones, never a mix.
	SaveSnapshot(ctx context.Context, stream string, b []byte) error
}

// DefaultSnapshotEvery is the default Options.SnapshotEvery.
const DefaultSnapshotEvery = 4096

// loadFromSnapshot returns stream's state from its snapshot, or nil when there is none or it was
// not used (reported through Options.SnapshotError).
func (s *Service) loadFromSnapshot(ctx context.Context, stream string) *Channel {
	if s.opts.Snapshots == nil {
		return nil
	}
	b, err := s.opts.Snapshots.LoadSnapshot(ctx, stream)
	if err != nil || b == nil {
		if err != nil {
			s.snapshotError(stream, fmt.Errorf("reading the snapshot (rebuilding from the log): %w", err))
		}
		return nil
	}
	c, err := decodeSnapshot(b, func(h snapshotHeader) error { return s.checkSnapshot(ctx, stream, h) })
	if err != nil {
		s.snapshotError(stream, fmt.Errorf("snapshot discarded, rebuilding from the log: %w", err))
		return nil
	}
	return c
}

// errSnapshotMismatch is the error of a snapshot that does not match the log.
var errSnapshotMismatch = errors.New("the snapshot does not match the log")

// checkSnapshot checks that snapshot header h is of stream and that the log's event at its
// revision is the event it names.
func (s *Service) checkSnapshot(ctx context.Context, stream string, h snapshotHeader) error {
	if h.stream != stream {
		return fmt.Errorf("%w: it is of stream %q", errSnapshotMismatch, h.stream)
	}
	if h.revision < 0 {
		return fmt.Errorf("%w: it is of an empty stream", errSnapshotMismatch)
	}
	ev, err := s.eventAt(ctx, stream, uint64(h.revision))
	if err != nil {
		return err
	}
	if ev == nil {
		return fmt.Errorf("%w: the log has no revision %d", errSnapshotMismatch, h.revision)
	}
	if ev.ID != h.lastID || ev.Position != h.position {
		return fmt.Errorf("%w: revision %d is event %s at position %s, the snapshot names %s at %s",
			errSnapshotMismatch, h.revision, ev.ID, ev.Position, h.lastID, h.position)
	}
	return nil
}

// eventAt reads stream's event at revision rev; nil when the stream is shorter.
func (s *Service) eventAt(ctx context.Context, stream string, rev uint64) (*StoredEvent, error) {
	var evs []StoredEvent
	var err error
	if rr, ok := s.log.(RangeReader); ok {
		evs, err = rr.ReadRange(ctx, stream, rev, 1)
	} else {
		evs, err = s.log.Read(ctx, stream, rev)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s at revision %d: %w", stream, rev, err)
	}
	if len(evs) == 0 || evs[0].Revision != rev {
		return nil, nil
	}
	return &evs[0], nil
}

// saveSnapshot writes c's state as its stream's snapshot and reports whether it did. Failures are
// reported through Options.SnapshotError: a missing snapshot only makes a later load slower.
func (s *Service) saveSnapshot(ctx context.Context, c *Channel) bool {
	if s.opts.Snapshots == nil || c.revision < 0 {
		return false
	}
	ev, err := s.eventAt(ctx, c.stream, uint64(c.revision))
	if err == nil && (ev == nil || ev.Position != c.position) {
		err = fmt.Errorf("the log's revision %d is not the state's last event", c.revision)
	}
	if err == nil {
		err = s.opts.Snapshots.SaveSnapshot(ctx, c.stream, encodeSnapshot(c, ev.ID))
	}
	if err != nil {
		s.snapshotError(c.stream, fmt.Errorf("writing a snapshot at revision %d: %w", c.revision, err))
		return false
	}
	return true
}

func (s *Service) snapshotError(stream string, err error) {
	if s.opts.SnapshotError != nil {
		s.opts.SnapshotError(stream, err)
	}
}
