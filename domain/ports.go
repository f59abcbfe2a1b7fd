package domain

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Stream names. Each distributor or solution provider owns one channel stream holding its own
// events, its resellers', their delegations and all their customers' events: the consistency
// boundary of rules 2, 3 and 6. Reservation streams make IDs unique across channels (rule 10).
const (
	ChannelStreamPrefix             = "channel-"
	PartnerReservationStreamPrefix  = "reservation-partner-"
	CustomerReservationStreamPrefix = "reservation-customer-"
)

// ChannelStream is the stream of the channel whose root partner (distributor or solution provider) is rootID.
func ChannelStream(rootID string) string { return ChannelStreamPrefix + rootID }

// ExpectNoStream and ExpectAny are the non-exact expectations EventLog.Append understands; any value
// >= 0 is an exact revision.
const (
	ExpectNoStream int64 = -1
	ExpectAny      int64 = -2
)

// ErrWrongRevision is what EventLog.Append returns (wrapped) when the expectation fails.
var ErrWrongRevision = errors.New("wrong expected revision")

// ErrStoreUnavailable is what EventLog.Append returns (wrapped) when the store cannot take writes.
var ErrStoreUnavailable = errors.New("event store unavailable")

// NewEvent is an event the domain asks the log to append.
type NewEvent struct {
	ID       uuid.UUID
	Type     string
	Data     []byte
	Metadata []byte
}

// StoredEvent is an event read back from the log.
type StoredEvent struct {
	ID       uuid.UUID
	Type     string
	Stream   string
	Revision uint64
	Position string // the store's opaque position string (eventstore.Position.String)
	Data     []byte
	Metadata []byte
}

// Appended is the result of an append: the stream's new revision and the position of its last event.
type Appended struct {
	Revision uint64
	Position string
}

// EventLog is the port the command service needs from an event store. eventstore.DomainLog adapts
// any eventstore.Store to it.
type EventLog interface {
	// Append writes events atomically to stream if expected holds (ExpectNoStream, ExpectAny or an
	// exact revision); it returns ErrWrongRevision (wrapped) if not.
	Append(ctx context.Context, stream string, expected int64, events []NewEvent) (Appended, error)
	// Read returns the events of stream from revision from (inclusive) on, in order; an empty slice
	// for a stream that does not exist.
	Read(ctx context.Context, stream string, from uint64) ([]StoredEvent, error)
}

// Clock is the source of time.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock, in UTC.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC() }

// GlobalReader is optionally implemented by an EventLog that can read the whole log in global order
// (all streams interleaved). The Service uses it to find channel streams it has not loaded yet (after
// a restart, or written by another instance) when releasing expired resources (rule 8).
type GlobalReader interface {
	// ReadAll returns up to count events (count <= 0: no limit) strictly after position after
	// ("" is the start of the log), in global order.
	ReadAll(ctx context.Context, after string, count int) ([]StoredEvent, error)
}

// ReservationStream is the reservation stream of a partner or customer ID (kind "partner" or
// "customer", as reservation events write it; any other kind is taken as "customer").
func ReservationStream(kind, id string) string {
	k, _ := parseEntityKind(kind)
	return k.reservationStream(id)
}

// PositionReader is optionally implemented by an EventLog that knows where a stream's events are
// in the log without reading them. The worker asks it for the positions of a multi-event append
// (an append returns only the last), instead of reading the events back.
type PositionReader interface {
	// Positions returns the positions of up to count events of stream from revision from
	// (inclusive), in order; an empty slice past the end or for a stream that does not exist.
	Positions(ctx context.Context, stream string, from uint64, count int) ([]string, error)
}

// PipelinedLog is optionally implemented by an EventLog that is the only writer of its streams and
// applies appends in the order they are started (eventstore.DomainLog over the embedded store). A
// channel's worker then decides its next group of commands while the previous group's append is
// being made durable, instead of after it (worker.go, pipeline.go).
type PipelinedLog interface {
	// StartAppend starts an append as Append would and returns without waiting for it; wait blocks
	// until it is durable or failed and returns what Append would have. An append started after
	// another is applied after it; one that expects the revision an earlier, failed append to the
	// same stream would have made fails (ErrWrongRevision or ErrStoreUnavailable, wrapped).
	StartAppend(ctx context.Context, stream string, expected int64, events []NewEvent) (wait func() (Appended, error))
}

// RangeReader is optionally implemented by an EventLog that can read part of a stream. The Service
// then loads a long channel in chunks read and decoded in parallel (eventstore.Store.ReadStream with
// a count is exactly this).
type RangeReader interface {
	// ReadRange returns up to count events of stream from revision from (inclusive), in order; an
	// empty slice past the end or for a stream that does not exist.
	ReadRange(ctx context.Context, stream string, from uint64, count int) ([]StoredEvent, error)
}
