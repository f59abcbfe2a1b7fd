package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/freezeledger/freezeledger/eventstore"
)

// Verify walks the whole store in one read transaction (appends go on meanwhile) and checks, in
// global order, that:
//
//   - the records are at positions 1, 2, ... with no gap, each parses and states its own position;
//   - each record's chain value is SHA-256(previous chain value || its canonical bytes);
//   - each stream's revisions appear in global order as 0, 1, 2, ... and the revs and ids indexes
//     point back to the record, and hold nothing else;
//   - each stream's last revision in the streams bucket is that of its last record;
//   - the meta head and chain value are those of the last record.
//
// It returns nil, ctx's error, ErrClosed, or the first break found as an error wrapping
// eventstore.ErrCorrupt that names the file, the position and what is wrong.
func (s *Store) Verify(ctx context.Context) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	err := s.db.View(func(tx *bolt.Tx) error { return verifyTx(ctx, tx) })
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = readErr(err)
		if err == eventstore.ErrClosed {
			return err
		}
		return fmt.Errorf("%w: %s: %w", eventstore.ErrCorrupt, s.path, err)
	}
	return nil
}

type verifyError struct{ msg string }

func (e *verifyError) Error() string { return e.msg }

func breakAt(pos uint64, format string, args ...any) error {
	return &verifyError{msg: fmt.Sprintf("position %d: ", pos) + fmt.Sprintf(format, args...)}
}

func verifyTx(ctx context.Context, tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketEvents, bucketStreams, bucketRevs, bucketIDs, bucketMeta} {
		if tx.Bucket(name) == nil {
			return &verifyError{msg: fmt.Sprintf("bucket %s is missing", name)}
		}
	}
	revs, ids := tx.Bucket(bucketRevs), tx.Bucket(bucketIDs)
	next := map[string]uint64{}
	var chain [ChainSize]byte
	var want uint64 = 1
	c := tx.Bucket(bucketEvents).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if want%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(k) != 8 {
			return breakAt(want, "events key %x is not 8 bytes", k)
		}
		pos := binary.BigEndian.Uint64(k)
		if pos != want {
			return breakAt(want, "record missing: the next record is at position %d", pos)
		}
		r, err := parseRecord(v)
		if err != nil {
			return breakAt(pos, "%s", err)
		}
		if r.pos != pos {
			return breakAt(pos, "record says position %d", r.pos)
		}
		if c := chainNext(&chain, r.canonical); !bytes.Equal(c[:], r.chain) {
			return breakAt(pos, "chain breaks: stored chain value %x, computed %x (the record or an earlier one was altered)", r.chain, c)
		}
		copy(chain[:], r.chain)
		stream := string(r.stream)
		if err := eventstore.ValidateStreamName(stream); err != nil {
			return breakAt(pos, "%s", err)
		}
		if r.rev != next[stream] {
			return breakAt(pos, "stream %q revision %d where revision %d was next", stream, r.rev, next[stream])
		}
		next[stream]++
		if rv := revs.Get(revKey(stream, r.rev)); rv == nil || len(rv) != 8 || binary.BigEndian.Uint64(rv) != pos {
			return breakAt(pos, "revs index entry of stream %q revision %d is %x, want this position", stream, r.rev, rv)
		}
		iv := ids.Get(idKey(r.id, stream))
		if len(iv) != 16 || binary.BigEndian.Uint64(iv) != r.rev || binary.BigEndian.Uint64(iv[8:]) != pos {
			return breakAt(pos, "ids index entry of event %s on stream %q is %x, want revision %d at this position", r.id, stream, iv, r.rev)
		}
		want++
	}
	last := want - 1
	var count uint64
	for _, n := range next {
		count += n
	}
	if n := uint64(revs.Stats().KeyN); n != count {
		return breakAt(last, "revs index has %d entries for %d records", n, count)
	}
	if n := uint64(ids.Stats().KeyN); n != count {
		return breakAt(last, "ids index has %d entries for %d records", n, count)
	}
	streams := tx.Bucket(bucketStreams)
	if n := streams.Stats().KeyN; n != len(next) {
		return breakAt(last, "streams bucket has %d streams, the records %d", n, len(next))
	}
	for stream, n := range next {
		if cur, ok := streamRevision(streams, stream); !ok || cur != n-1 {
			return breakAt(last, "streams bucket says stream %q is at revision %d (present: %v), its records end at %d", stream, cur, ok, n-1)
		}
	}
	meta := tx.Bucket(bucketMeta)
	if hv := meta.Get(keyHead); len(hv) != 8 || binary.BigEndian.Uint64(hv) != last {
		return breakAt(last, "meta head is %x, the last record is at position %d", hv, last)
	}
	if cv := meta.Get(keyChain); !bytes.Equal(cv, chain[:]) {
		return breakAt(last, "meta chain value %x differs from the last record's %x", cv, chain)
	}
	return nil
}
