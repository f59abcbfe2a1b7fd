package auditlog

import (
	"context"
	"fmt"
	"io"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// EventSource serves the audit log as the HTTP API reads it (httpapi.Audit): events numbered by
// the tree and read from the store, exports, checkpoints, proofs and the verifier key. Store must be
// the store Tree follows. It is safe for concurrent use as far as Tree and Store are. Errors are the
// tree's and the store's, passed on (ErrSize, ErrInvalid: the caller asked for something the tree
// cannot serve); no signed checkpoint yet is a domain unavailable error.
type EventSource struct {
	Tree  *Tree
	Store eventstore.Store
	// Witnesses, if set, are the tree's witnesses: checkpoints are served with their cosignatures
	// (Witnesses.Checkpoint, Witnesses.Cosign).
	Witnesses *Witnesses
}

// Events calls fn for up to limit events (limit <= 0: no limit) strictly after position after
// (eventstore.Start: from the first), in log order, until fn returns an error, which it returns. It
// reads the events from the store and numbers them by the tree: only events the tree has indexed are
// returned (the tree follows the store within milliseconds). A position between two events starts
// at the next one.
func (s *EventSource) Events(ctx context.Context, after eventstore.Position, limit int, fn func(leaf.Event) error) error {
	size := s.Tree.Size()
	next := uint64(0)
	if after != eventstore.Start {
		i, err := s.Tree.IndexOf(after)
		if err != nil {
			return err
		}
		if i < size {
			p, err := s.Tree.Position(i)
			if err != nil {
				return err
			}
			if p == after {
				i++
			}
		}
		next = i
	}
	sent := 0
	for next < size && (limit <= 0 || sent < limit) {
		page := 1024
		if limit > 0 {
			page = min(page, limit-sent)
		}
		page = int(min(uint64(page), size-next))
		recs, err := s.Store.ReadAll(ctx, after, page)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		for _, rec := range recs {
			ev, err := FromRecorded(rec, next)
			if err != nil {
				return err
			}
			if err := fn(ev); err != nil {
				return err
			}
			next++
			sent++
			after = rec.Position
		}
	}
	return nil
}

// Export writes the events from from (inclusive) to to (exclusive) as format ("jsonl" or "csv") to
// w. from and to are ParseBound's: positions or RFC 3339 times, "" for an open end; a malformed one
// is ErrInvalid, its message prefixed with the bound's name.
func (s *EventSource) Export(ctx context.Context, w io.Writer, format, from, to string) error {
	f, err := ParseBound(from)
	if err != nil {
		return fmt.Errorf("from: %w", err)
	}
	t, err := ParseBound(to)
	if err != nil {
		return fmt.Errorf("to: %w", err)
	}
	_, err = s.Tree.Export(ctx, w, ExportRequest{Format: Format(format), From: f, To: t})
	return err
}

// Checkpoint is the latest signed checkpoint (a signed note), or with witnesses the one
// Witnesses.Checkpoint serves (cosignatures added), or a domain unavailable error before the tree
// has signed one.
func (s *EventSource) Checkpoint(ctx context.Context) ([]byte, error) {
	_, signed := s.Tree.Checkpoint()
	if s.Witnesses != nil {
		signed = s.Witnesses.Checkpoint()
	}
	if len(signed) == 0 {
		return nil, domain.Errorf(domain.CodeUnavailable, "no signed checkpoint yet")
	}
	return signed, nil
}

// WaitCheckpoint returns the first signed checkpoint covering at least size events, or ctx's error.
// With witnesses, it then waits for their answers on that checkpoint (Witnesses.Cosign, until ctx
// is done) and returns the served checkpoint (Witnesses.Checkpoint) if that covers size, else that
// first checkpoint with the cosignatures it got.
func (s *EventSource) WaitCheckpoint(ctx context.Context, size uint64) ([]byte, error) {
	_, signed, err := s.Tree.WaitCheckpoint(ctx, size)
	if err != nil || s.Witnesses == nil {
		return signed, err
	}
	cosigned := s.Witnesses.Cosign(ctx, signed)
	if served := s.Witnesses.Checkpoint(); checkpointSize(served) >= size {
		return served, nil
	}
	return cosigned, nil
}

// InclusionProof is Tree.InclusionProof.
func (s *EventSource) InclusionProof(index, treeSize uint64) ([][]byte, error) {
	return s.Tree.InclusionProof(index, treeSize)
}

// ConsistencyProof is Tree.ConsistencyProof.
func (s *EventSource) ConsistencyProof(first, second uint64) ([][]byte, error) {
	return s.Tree.ConsistencyProof(first, second)
}

// PublicKey is the verifier key of the checkpoint signatures (a note verifier key string).
func (s *EventSource) PublicKey() string { return s.Tree.PublicKey() }
