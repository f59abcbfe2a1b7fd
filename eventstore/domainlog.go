package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/freezeledger/freezeledger/domain"
)

// DomainLog adapts s to the domain's EventLog port:
//
//   - expected revision -1 (domain.ExpectNoStream) is NoStream, -2 (domain.ExpectAny) is Any, any value
//     >= 0 is Exact; other negative values are rejected with ErrInvalidEvent before s is called;
//   - ErrWrongExpectedRevision comes back wrapping domain.ErrWrongRevision (and still wrapping the
//     store's *WrongExpectedRevisionError), ErrUnavailable wrapping domain.ErrStoreUnavailable;
//     other errors are returned as they are;
//   - Read of a stream that does not exist returns an empty slice and no error;
//   - positions are Position.String();
//   - it also implements domain.RangeReader and domain.GlobalReader (chunked channel loads, and
//     finding every channel after a restart for resource release), and domain.PositionReader (the
//     positions of a multi-event append; from the store's index when s is a PositionReader);
//   - when s is a PipelinedAppender (the embedded store), it is a domain.PipelinedLog too.
func DomainLog(s Store) domain.EventLog {
	if p, ok := s.(PipelinedAppender); ok {
		return pipelinedLog{domainLog{s: s}, p}
	}
	return domainLog{s: s}
}

type domainLog struct{ s Store }

func (l domainLog) Append(ctx context.Context, stream string, expected int64, events []domain.NewEvent) (domain.Appended, error) {
	exp, data, err := appendArgs(stream, expected, events)
	if err != nil {
		return domain.Appended{}, err
	}
	return appended(l.s.Append(ctx, stream, exp, data...))
}

// pipelinedLog is DomainLog over a PipelinedAppender: it is a domain.PipelinedLog too.
type pipelinedLog struct {
	domainLog
	p PipelinedAppender
}

// StartAppend implements domain.PipelinedLog.
func (l pipelinedLog) StartAppend(ctx context.Context, stream string, expected int64, events []domain.NewEvent) func() (domain.Appended, error) {
	exp, data, err := appendArgs(stream, expected, events)
	if err != nil {
		return func() (domain.Appended, error) { return domain.Appended{}, err }
	}
	wait := l.p.StartAppend(ctx, stream, exp, data...)
	return func() (domain.Appended, error) { return appended(wait()) }
}

// appendArgs translates a domain append's expectation and events into the store's.
func appendArgs(stream string, expected int64, events []domain.NewEvent) (ExpectedRevision, []EventData, error) {
	var exp ExpectedRevision
	switch {
	case expected == domain.ExpectNoStream:
		exp = NoStream
	case expected == domain.ExpectAny:
		exp = Any
	case expected >= 0:
		exp = Exact(uint64(expected))
	default:
		return exp, nil, fmt.Errorf("%w: expected revision %d on stream %q is neither -1 (no stream), -2 (any) nor >= 0", ErrInvalidEvent, expected, stream)
	}
	data := make([]EventData, len(events))
	for i, e := range events {
		data[i] = EventData{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata}
	}
	return exp, data, nil
}

// appended translates a store append's outcome into the domain's.
func appended(res AppendResult, err error) (domain.Appended, error) {
	switch {
	case err == nil:
		return domain.Appended{Revision: res.NextRevision, Position: res.Position.String()}, nil
	case errors.Is(err, ErrWrongExpectedRevision):
		return domain.Appended{}, fmt.Errorf("%w: %w", domain.ErrWrongRevision, err)
	case errors.Is(err, ErrUnavailable):
		return domain.Appended{}, fmt.Errorf("%w: %w", domain.ErrStoreUnavailable, err)
	}
	return domain.Appended{}, err
}

func (l domainLog) Read(ctx context.Context, stream string, from uint64) ([]domain.StoredEvent, error) {
	return l.ReadRange(ctx, stream, from, 0)
}

// ReadRange implements domain.RangeReader: up to count events (count <= 0: all) of stream from
// revision from on; empty for a stream that does not exist.
func (l domainLog) ReadRange(ctx context.Context, stream string, from uint64, count int) ([]domain.StoredEvent, error) {
	recs, err := l.s.ReadStream(ctx, stream, Forwards, from, count)
	if errors.Is(err, ErrStreamNotFound) {
		return []domain.StoredEvent{}, nil
	}
	if err != nil {
		return nil, err
	}
	return toDomain(recs), nil
}

// Positions implements domain.PositionReader: from the store's index when it is a PositionReader
// (the embedded store), else from the events read.
func (l domainLog) Positions(ctx context.Context, stream string, from uint64, count int) ([]string, error) {
	var ps []Position
	if pr, ok := l.s.(PositionReader); ok {
		var err error
		if ps, err = pr.StreamPositions(ctx, stream, from, count); err != nil && !errors.Is(err, ErrStreamNotFound) {
			return nil, err
		}
	} else {
		recs, err := l.s.ReadStream(ctx, stream, Forwards, from, count)
		if err != nil && !errors.Is(err, ErrStreamNotFound) {
			return nil, err
		}
		for _, r := range recs {
			ps = append(ps, r.Position)
		}
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out, nil
}

// ReadAll implements domain.GlobalReader: up to count events strictly after position after ("" is
// the start of the log), in global order.
func (l domainLog) ReadAll(ctx context.Context, after string, count int) ([]domain.StoredEvent, error) {
	pos := Start
	if after != "" {
		p, err := ParsePosition(after)
		if err != nil {
			return nil, err
		}
		pos = p
	}
	recs, err := l.s.ReadAll(ctx, pos, count)
	if err != nil {
		return nil, err
	}
	return toDomain(recs), nil
}

func toDomain(recs []RecordedEvent) []domain.StoredEvent {
	out := make([]domain.StoredEvent, len(recs))
	for i, r := range recs {
		out[i] = domain.StoredEvent{
			ID: r.ID, Type: r.Type, Stream: r.Stream, Revision: r.Revision,
			Position: r.Position.String(), Data: r.Data, Metadata: r.Metadata,
		}
	}
	return out
}

var (
	_ domain.GlobalReader   = domainLog{}
	_ domain.RangeReader    = domainLog{}
	_ domain.PositionReader = domainLog{}
)
