package embedded

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/freezeledger/freezeledger/eventstore"
)

// ctxCheckEvery is how many events a read decodes between checks of its context.
const ctxCheckEvery = 4096

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, count int) ([]eventstore.RecordedEvent, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return nil, err
	}
	positions, err := s.streamPositions(stream, dir, from, count)
	if err != nil {
		return nil, err
	}
	// Positions first, then the tail, then bbolt: a position in the index is in the tail snapshot
	// or at or before its checkpoint, and bbolt holds everything up to that checkpoint.
	ckpt, tail := s.tail.snapshot()
	out := make([]eventstore.RecordedEvent, 0, len(positions))
	err = s.db.View(func(tx *bolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		var d decoder
		var key [8]byte
		for i, pos := range positions {
			if i%ctxCheckEvery == ctxCheckEvery-1 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var v []byte
			if pos > ckpt {
				v = tail[pos-ckpt-1]
			} else {
				binary.BigEndian.PutUint64(key[:], pos)
				v = events.Get(key[:])
			}
			if v == nil {
				return fmt.Errorf("%w: %s: stream %q has an event at position %d, which has no record", eventstore.ErrCorrupt, s.path, stream, pos)
			}
			e, err := d.decode(v)
			if err != nil {
				return fmt.Errorf("%w: %s: record at position %d: %s", eventstore.ErrCorrupt, s.path, pos, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, readErr(err)
	}
	return out, nil
}

// streamPositions returns the positions a ReadStream reads, in its order.
// StreamPositions implements eventstore.PositionReader from the stream index, reading no record.
func (s *Store) StreamPositions(ctx context.Context, stream string, from uint64, count int) ([]eventstore.Position, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return nil, err
	}
	ps, err := s.streamPositions(stream, eventstore.Forwards, from, count)
	if err != nil {
		return nil, err
	}
	out := make([]eventstore.Position, len(ps))
	for i, p := range ps {
		out[i] = eventstore.Position{Commit: p, Prepare: p}
	}
	return out, nil
}

func (s *Store) streamPositions(stream string, dir eventstore.Direction, from uint64, count int) ([]uint64, error) {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	si := s.idx.streams[stream]
	if si == nil || len(si.positions) == 0 {
		return nil, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
	}
	all := si.positions
	n := uint64(len(all))
	switch dir {
	case eventstore.Forwards:
		if from >= n {
			return nil, nil
		}
		end := n
		if count > 0 {
			end = min(n, from+uint64(count))
		}
		return append([]uint64(nil), all[from:end]...), nil
	case eventstore.Backwards:
		start := min(from, n-1)
		k := start + 1
		if count > 0 {
			k = min(k, uint64(count))
		}
		out := make([]uint64, k)
		for i := range out {
			out[i] = all[start-uint64(i)]
		}
		return out, nil
	}
	return nil, fmt.Errorf("embedded store: unknown read direction %d", dir)
}

// ReadAll implements eventstore.Store. Positions of this store have Commit == Prepare; any other
// position is ErrInvalidPosition.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, count int) ([]eventstore.RecordedEvent, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	if err := checkPosition(after); err != nil {
		return nil, err
	}
	return s.readAll(ctx, after.Commit, count)
}

func checkPosition(p eventstore.Position) error {
	if p.Commit != p.Prepare {
		return fmt.Errorf("%w: %s is not a position of the embedded store (commit and prepare differ)", eventstore.ErrInvalidPosition, p)
	}
	return nil
}

func (s *Store) readAll(ctx context.Context, after uint64, count int) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	if count > 0 {
		out = make([]eventstore.RecordedEvent, 0, min(count, 65536))
	}
	var d decoder
	for count <= 0 || len(out) < count {
		ckpt, tail := s.tail.snapshot()
		if after >= ckpt {
			for i := after - ckpt; i < uint64(len(tail)) && (count <= 0 || len(out) < count); i++ {
				e, err := d.decode(tail[i])
				if err != nil {
					return nil, fmt.Errorf("%w: WAL record at position %d: %s", eventstore.ErrCorrupt, ckpt+1+i, err)
				}
				out = append(out, e)
			}
			return out, nil
		}
		// Positions after..ckpt are in bbolt (and maybe more, if a checkpoint ran since the snapshot).
		n := len(out)
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketEvents).Cursor()
			var key [8]byte
			binary.BigEndian.PutUint64(key[:], after+1)
			for k, v := c.Seek(key[:]); k != nil; k, v = c.Next() {
				if count > 0 && len(out) >= count {
					break
				}
				if len(out)%ctxCheckEvery == ctxCheckEvery-1 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				e, err := d.decode(v)
				if err != nil {
					return fmt.Errorf("%w: %s: record at position %d: %s", eventstore.ErrCorrupt, s.path, binary.BigEndian.Uint64(k), err)
				}
				out = append(out, e)
			}
			return nil
		})
		if err != nil {
			return nil, readErr(err)
		}
		if len(out) == n {
			return nil, fmt.Errorf("%w: %s: no record after position %d, but records up to %d were checkpointed", eventstore.ErrCorrupt, s.path, after, ckpt)
		}
		after = out[len(out)-1].Position.Commit
	}
	return out, nil
}
