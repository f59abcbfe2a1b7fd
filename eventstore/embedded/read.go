package embedded

import (
	"bytes"
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
	var out []eventstore.RecordedEvent
	err := s.db.View(func(tx *bolt.Tx) error {
		cur, exists := streamRevision(tx.Bucket(bucketStreams), stream)
		if !exists {
			return fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
		}
		events := tx.Bucket(bucketEvents)
		c := tx.Bucket(bucketRevs).Cursor()
		prefix := revKey(stream, 0)[:len(stream)+1]
		var d decoder
		var k, v []byte
		switch dir {
		case eventstore.Forwards:
			if from > cur {
				return nil
			}
			k, v = c.Seek(revKey(stream, from))
		case eventstore.Backwards:
			k, v = c.Seek(revKey(stream, min(from, cur)))
		default:
			return fmt.Errorf("embedded store: unknown read direction %d", dir)
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = next(c, dir) {
			if count > 0 && len(out) >= count {
				break
			}
			if len(out)%ctxCheckEvery == ctxCheckEvery-1 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if len(v) != 8 {
				return fmt.Errorf("%w: %s: revs entry %x of stream %q is %d bytes", eventstore.ErrCorrupt, s.path, k, stream, len(v))
			}
			pos := binary.BigEndian.Uint64(v)
			rv := events.Get(v)
			if rv == nil {
				return fmt.Errorf("%w: %s: stream %q revision %d points to position %d, which has no record", eventstore.ErrCorrupt, s.path, stream, binary.BigEndian.Uint64(k[len(prefix):]), pos)
			}
			e, err := d.decode(rv)
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

func next(c *bolt.Cursor, dir eventstore.Direction) ([]byte, []byte) {
	if dir == eventstore.Backwards {
		return c.Prev()
	}
	return c.Next()
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
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		var d decoder
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
	return out, nil
}
