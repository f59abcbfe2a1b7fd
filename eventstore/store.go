// Package eventstore defines the event store contract every backend keeps (Store, Subscription,
// Position, ExpectedRevision, the typed errors and the limits), and DomainLog, which adapts any Store
// to the domain's EventLog port. The backends are subpackages: eventstore/embedded (bbolt and a
// write-ahead log, freezeledger's default) and eventstore/esdb (EventStoreDB/KurrentDB). The contract
// follows EventStoreDB's semantics so that the EventStoreDB backend can implement it faithfully:
//
//   - streams are append-only sequences of events with revisions starting at 0;
//   - an append states what it expects of the stream (Any, NoStream, StreamExists or an exact
//     revision) and fails with ErrWrongExpectedRevision, carrying the actual revision, otherwise;
//   - every event has a caller-set ID; retrying an append with the same IDs and expectation returns the
//     first result and writes nothing (an append whose IDs are only partly in the stream is refused
//     with ErrWrongExpectedRevision);
//   - every event also has a global Position in the all-stream: opaque, totally ordered, with a string
//     form that round-trips;
//   - limits are those of EventStoreDB: at most MaxAppendSize bytes per append, validated stream names
//     and event types (ValidateAppend). A violation is a typed error and nothing is written.
//
// The conformance suite in eventstore/storetest checks all of this for any backend.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Store is the contract of an event store backend. All methods are safe for concurrent use.
type Store interface {
	// Append writes events atomically at the end of stream if expected holds, and returns the stream's
	// new revision (that of the last event written) and the global position of the last event.
	// Durability: it returns only once the events are on stable storage.
	// Errors: ErrWrongExpectedRevision (as *WrongExpectedRevisionError), ErrInvalidStreamName,
	// ErrInvalidEventType, ErrInvalidEvent, ErrTooLarge, ErrClosed, ErrUnavailable, or ctx's error.
	// An append with no events only checks the expectation.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)

	// ReadStream reads up to count events of stream starting at revision from (inclusive), forwards or
	// backwards. Backwards from End starts at the last event. A stream that was never written is
	// ErrStreamNotFound. count <= 0 means no limit.
	ReadStream(ctx context.Context, stream string, dir Direction, from uint64, count int) ([]RecordedEvent, error)

	// ReadAll reads up to count events in global order strictly after position after (Start reads
	// from the beginning). count <= 0 means no limit.
	ReadAll(ctx context.Context, after Position, count int) ([]RecordedEvent, error)

	// SubscribeAll delivers every event strictly after position after, in global order: first the ones
	// already written (catch-up), then new ones as they are committed (live), with no gap and no
	// duplicate across the handover. A slow subscriber never blocks writers.
	SubscribeAll(ctx context.Context, after Position) (Subscription, error)

	// Head is the position of the last event in the store (Start if it is empty).
	Head(ctx context.Context) (Position, error)

	// Close releases the store. Further calls fail with ErrClosed.
	Close() error
}

// Subscription is a stream of committed events in global order.
type Subscription interface {
	// Next blocks until at least one event after the last one delivered is available and returns them
	// (one or more, in order). It returns ctx's error when ctx is done, ErrClosed after Close, or the
	// store's error.
	Next(ctx context.Context) ([]RecordedEvent, error)
	// Close ends the subscription; a Next in progress returns ErrClosed.
	Close() error
}

// MaxAppendSize is the most bytes one append may carry (sum of data and metadata of its events), as
// in EventStoreDB's default MaxAppendSize.
const MaxAppendSize = 1 << 20

// MaxNameLength bounds stream names and event types.
const MaxNameLength = 255

// EventData is an event to append.
type EventData struct {
	ID       uuid.UUID // set by the caller; the key of idempotent retries. Must not be uuid.Nil.
	Type     string    // validated by ValidateEventType
	Data     []byte    // JSON
	Metadata []byte    // JSON, may be empty
}

// RecordedEvent is an event as stored.
type RecordedEvent struct {
	ID       uuid.UUID
	Type     string
	Stream   string
	Revision uint64
	Position Position
	Created  time.Time // the store's commit time, UTC
	Data     []byte
	Metadata []byte
}

// PositionReader is optionally implemented by a Store that knows where a stream's events are in
// the log without reading them (the embedded store's index): DomainLog's domain.PositionReader.
type PositionReader interface {
	// StreamPositions returns the global positions of up to count events (count <= 0: all) of
	// stream from revision from (inclusive), forwards: those ReadStream would return the events at.
	// ErrStreamNotFound for a stream that does not exist.
	StreamPositions(ctx context.Context, stream string, from uint64, count int) ([]Position, error)
}

// PipelinedAppender is optionally implemented by a Store that is the only writer of its streams
// and applies appends in the order they are started (the embedded store): DomainLog's
// domain.PipelinedLog, so that a channel decides its next commands while the previous ones are being
// made durable.
type PipelinedAppender interface {
	// StartAppend queues an append as Append would and returns without waiting for it; wait blocks
	// until the append is durable or failed and returns what Append would have. An append started
	// after another is applied after it; one that expects the revision an earlier, failed append of
	// the same stream would have made fails with ErrWrongExpectedRevision (or ErrUnavailable).
	StartAppend(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (wait func() (AppendResult, error))
}

// AppendResult is what a successful append returns.
type AppendResult struct {
	NextRevision uint64   // revision of the last event written (the stream's current revision)
	Position     Position // global position of the last event written
}

// Direction of a stream read.
type Direction int

const (
	Forwards Direction = iota
	Backwards
)

// End as the from revision of a backwards read means "from the last event".
const End uint64 = math.MaxUint64

// Position is an event's place in the global order. For the embedded store Commit == Prepare and is
// the event's 1-based sequence number; for EventStoreDB it is the $all (commit, prepare) pair.
// Positions compare as a pair; callers must never do arithmetic on them.
type Position struct {
	Commit  uint64
	Prepare uint64
}

// Start is the position before the first event.
var Start = Position{}

// Compare returns -1, 0 or +1 as p is before, equal to or after q.
func (p Position) Compare(q Position) int {
	switch {
	case p.Commit < q.Commit:
		return -1
	case p.Commit > q.Commit:
		return 1
	case p.Prepare < q.Prepare:
		return -1
	case p.Prepare > q.Prepare:
		return 1
	}
	return 0
}

// Less reports whether p is before q.
func (p Position) Less(q Position) bool { return p.Compare(q) < 0 }

// String is the decimal commit position when Commit == Prepare (always so in the embedded store,
// where it is what the HTTP API shows as "position"), and "commit/prepare" otherwise.
func (p Position) String() string {
	if p.Commit == p.Prepare {
		return strconv.FormatUint(p.Commit, 10)
	}
	return strconv.FormatUint(p.Commit, 10) + "/" + strconv.FormatUint(p.Prepare, 10)
}

// ParsePosition parses the form produced by Position.String.
func ParsePosition(s string) (Position, error) {
	c, p, pair := strings.Cut(s, "/")
	commit, err := strconv.ParseUint(c, 10, 64)
	if err != nil || (len(c) > 1 && c[0] == '0') {
		return Position{}, fmt.Errorf("%w: position %q is not a log position (a decimal number, as responses show it)", ErrInvalidPosition, s)
	}
	if !pair {
		return Position{Commit: commit, Prepare: commit}, nil
	}
	prepare, err := strconv.ParseUint(p, 10, 64)
	if err != nil || (len(p) > 1 && p[0] == '0') || prepare == commit {
		return Position{}, fmt.Errorf("%w: position %q is not a log position (a decimal number, as responses show it)", ErrInvalidPosition, s)
	}
	return Position{Commit: commit, Prepare: prepare}, nil
}

// ExpectedRevision is what an append expects of its stream. Use Any, NoStream, StreamExists or Exact.
type ExpectedRevision struct {
	kind     expectKind
	revision uint64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

var (
	// Any: no check.
	Any = ExpectedRevision{kind: expectAny}
	// NoStream: the stream must not exist yet.
	NoStream = ExpectedRevision{kind: expectNoStream}
	// StreamExists: the stream must have at least one event.
	StreamExists = ExpectedRevision{kind: expectStreamExists}
)

// Exact expects the stream's last event to have revision rev.
func Exact(rev uint64) ExpectedRevision { return ExpectedRevision{kind: expectExact, revision: rev} }

// IsAny, IsNoStream, IsStreamExists report the expectation's kind.
func (e ExpectedRevision) IsAny() bool          { return e.kind == expectAny }
func (e ExpectedRevision) IsNoStream() bool     { return e.kind == expectNoStream }
func (e ExpectedRevision) IsStreamExists() bool { return e.kind == expectStreamExists }

// Revision returns the exact revision expected and true, or false for the other kinds.
func (e ExpectedRevision) Revision() (uint64, bool) { return e.revision, e.kind == expectExact }

// Matches reports whether a stream whose last revision is current (exists false: no stream) meets e.
func (e ExpectedRevision) Matches(current uint64, exists bool) bool {
	switch e.kind {
	case expectNoStream:
		return !exists
	case expectStreamExists:
		return exists
	case expectExact:
		return exists && current == e.revision
	}
	return true
}

func (e ExpectedRevision) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "stream exists"
	case expectExact:
		return "revision " + strconv.FormatUint(e.revision, 10)
	}
	return "any"
}

// Sentinel errors. Backends wrap them with context (stream, revision, position); test with errors.Is.
var (
	ErrWrongExpectedRevision = errors.New("wrong expected revision")
	ErrStreamNotFound        = errors.New("stream not found")
	ErrInvalidStreamName     = errors.New("invalid stream name")
	ErrInvalidEventType      = errors.New("invalid event type")
	ErrInvalidEvent          = errors.New("invalid event")
	ErrInvalidPosition       = errors.New("invalid position")
	ErrTooLarge              = errors.New("append too large")
	ErrClosed                = errors.New("store closed")
	// ErrUnavailable: the store cannot accept writes now (a disk or connection fault). Nothing of the
	// failed append was acknowledged; reads may still work.
	ErrUnavailable = errors.New("store unavailable")
	// ErrCorrupt: stored data failed an integrity check. The message names where.
	ErrCorrupt = errors.New("store corrupt")
)

// WrongExpectedRevisionError is returned (wrapped or not) when an append's expectation fails.
// errors.Is(err, ErrWrongExpectedRevision) is true for it.
type WrongExpectedRevisionError struct {
	Stream   string
	Expected ExpectedRevision
	// Actual is the stream's current revision, or -1 if the stream does not exist.
	Actual int64
}

func (e *WrongExpectedRevisionError) Error() string {
	actual := "no stream"
	if e.Actual >= 0 {
		actual = "revision " + strconv.FormatInt(e.Actual, 10)
	}
	return fmt.Sprintf("wrong expected revision on stream %q: expected %s, actual %s", e.Stream, e.Expected, actual)
}

func (e *WrongExpectedRevisionError) Is(target error) bool { return target == ErrWrongExpectedRevision }

// ValidateStreamName checks a stream name: 1 to MaxNameLength bytes of printable ASCII without
// spaces, not starting with '$' (reserved for system streams, as in EventStoreDB).
func ValidateStreamName(s string) error {
	if err := validateName(s); err != nil {
		return fmt.Errorf("%w: %q: %s", ErrInvalidStreamName, truncate(s), err.Error())
	}
	return nil
}

// ValidateEventType checks an event type with the same rules as stream names.
func ValidateEventType(s string) error {
	if err := validateName(s); err != nil {
		return fmt.Errorf("%w: %q: %s", ErrInvalidEventType, truncate(s), err.Error())
	}
	return nil
}

func validateName(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > MaxNameLength:
		return fmt.Errorf("longer than %d bytes", MaxNameLength)
	case s[0] == '$':
		return errors.New("names starting with '$' are reserved for the system")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return fmt.Errorf("byte %d is not printable ASCII", i)
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// ValidateAppend checks an append's stream and events against the limits, before anything is written.
func ValidateAppend(stream string, events []EventData) error {
	if err := ValidateStreamName(stream); err != nil {
		return err
	}
	size := 0
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, ev := range events {
		if ev.ID == uuid.Nil {
			return fmt.Errorf("%w: event %d on stream %q has no ID", ErrInvalidEvent, i, stream)
		}
		if _, dup := seen[ev.ID]; dup {
			return fmt.Errorf("%w: event %d on stream %q repeats ID %s", ErrInvalidEvent, i, stream, ev.ID)
		}
		seen[ev.ID] = struct{}{}
		if err := ValidateEventType(ev.Type); err != nil {
			return fmt.Errorf("event %d on stream %q: %w", i, stream, err)
		}
		size += len(ev.Data) + len(ev.Metadata)
	}
	if size > MaxAppendSize {
		return fmt.Errorf("%w: %d bytes on stream %q, limit %d", ErrTooLarge, size, stream, MaxAppendSize)
	}
	return nil
}
