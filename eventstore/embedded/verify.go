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
//   - each stream's revisions appear in global order as 0, 1, 2, ..., no event ID repeats in a
//     stream, and the in-memory index agrees (each revision's position);
//   - the meta head and chain value are those of bbolt's last record;
//   - the records still only in the write-ahead log continue the positions and the chain.
//
// It returns nil, ctx's error, ErrClosed, or the first break found as an error wrapping
// eventstore.ErrCorrupt that names the file, the position and what is wrong.
func (s *Store) Verify(ctx context.Context) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	ckpt, tail := s.tail.snapshot() // before the transaction: bbolt then holds everything up to ckpt
	err := s.db.View(func(tx *bolt.Tx) error { return s.verifyTx(ctx, tx, ckpt, tail) })
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

// verifyError is a break found by a check: at position pos (0 if it names none), msg.
type verifyError struct {
	pos uint64
	msg string
}

func (e *verifyError) Error() string { return e.msg }

func breakAt(pos uint64, format string, args ...any) error {
	return &verifyError{pos: pos, msg: fmt.Sprintf("position %d: ", pos) + fmt.Sprintf(format, args...)}
}

func (s *Store) verifyTx(ctx context.Context, tx *bolt.Tx, ckpt uint64, tail [][]byte) error {
	for _, name := range buckets {
		if tx.Bucket(name) == nil {
			return &verifyError{msg: fmt.Sprintf("bucket %s is missing", name)}
		}
	}
	seen := newIndex()
	last, chain, err := scanLog(ctx, tx, seen, scanOptions{chain: true, names: true, allIDs: true, record: func(pos uint64, stream []byte, rev uint64) error {
		if ipos, ok := s.indexedPosition(stream, rev); !ok || ipos != pos {
			return breakAt(pos, "the in-memory index has stream %q revision %d at position %d (present: %v)", stream, rev, ipos, ok)
		}
		return nil
	}})
	if err != nil {
		return err
	}
	meta := tx.Bucket(bucketMeta)
	if hv := meta.Get(keyHead); len(hv) != 8 || binary.BigEndian.Uint64(hv) != last {
		return breakAt(last, "meta head is %x, the last record is at position %d", hv, last)
	}
	if cv := meta.Get(keyChain); !bytes.Equal(cv, chain[:]) {
		return breakAt(last, "meta chain value %x differs from the last record's %x", cv, chain)
	}
	if last < ckpt {
		return breakAt(last, "bbolt ends at position %d but records up to %d were checkpointed", last, ckpt)
	}
	// Then the records still only in the WAL (those a checkpoint since the snapshot copied into
	// bbolt were checked above), in order: there are at most a checkpoint's worth.
	want := last + 1
	for i, v := range tail {
		pos := ckpt + 1 + uint64(i)
		if pos <= last {
			continue
		}
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
		if err := eventstore.ValidateStreamName(string(r.stream)); err != nil {
			return breakAt(pos, "%s", err)
		}
		if err := seen.stream(r.stream).add(r.stream, r.id, r.rev, pos, true); err != nil {
			return breakAt(pos, "%s", err)
		}
		if ipos, ok := s.indexedPosition(r.stream, r.rev); !ok || ipos != pos {
			return breakAt(pos, "the in-memory index has stream %q revision %d at position %d (present: %v)", r.stream, r.rev, ipos, ok)
		}
		want++
	}
	return nil
}

func (s *Store) indexedPosition(stream []byte, rev uint64) (uint64, bool) {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	si := s.idx.streams[string(stream)]
	if si == nil || rev >= uint64(len(si.positions)) {
		return 0, false
	}
	return si.positions[rev], true
}
