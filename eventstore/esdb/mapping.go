package esdb

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/freezeledger/freezeledger/eventstore"
)

// This file holds the pure translations between the store contract and the EventStoreDB client's
// types. Nothing here talks to a server, so every mapping has a unit test.

// toExpected maps an expectation to the client's: Any, NoStream, StreamExists or an exact revision.
func toExpected(e eventstore.ExpectedRevision) esdb.ExpectedRevision {
	switch {
	case e.IsNoStream():
		return esdb.NoStream{}
	case e.IsStreamExists():
		return esdb.StreamExists{}
	}
	if rev, ok := e.Revision(); ok {
		return esdb.Revision(rev)
	}
	return esdb.Any{}
}

// toEventData maps events to append. The ID is always ours (ValidateAppend refused uuid.Nil, for
// which the client would make up a random one): a retried append then carries the same IDs and
// the server recognises it as the same write. Data and metadata are JSON.
func toEventData(events []eventstore.EventData) []esdb.EventData {
	out := make([]esdb.EventData, len(events))
	for i, ev := range events {
		out[i] = esdb.EventData{
			EventID:     ev.ID,
			EventType:   ev.Type,
			ContentType: esdb.ContentTypeJson,
			Data:        ev.Data,
			Metadata:    ev.Metadata,
		}
	}
	return out
}

// fromRecorded maps a recorded event. Created is the server's commit time; empty data or metadata
// become nil, as the embedded store returns them.
func fromRecorded(ev *esdb.RecordedEvent) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		ID:       ev.EventID,
		Type:     ev.EventType,
		Stream:   ev.StreamID,
		Revision: ev.EventNumber,
		Position: fromPosition(ev.Position),
		Created:  ev.CreatedDate.UTC(),
		Data:     nonEmpty(ev.Data),
		Metadata: nonEmpty(ev.UserMetadata),
	}
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// fromPosition maps a $all position (commit, prepare) to ours, unchanged: positions are compared as
// a pair and never computed with.
func fromPosition(p esdb.Position) eventstore.Position {
	return eventstore.Position{Commit: p.Commit, Prepare: p.Prepare}
}

// toAllPosition maps our position to where a $all read or subscription starts. Start is the
// client's Start; any other position is passed as is. Reads from a position include the event at
// it and subscriptions exclude it: callers drop events at or before it either way (see after).
func toAllPosition(p eventstore.Position) esdb.AllPosition {
	if p == eventstore.Start {
		return esdb.Start{}
	}
	return esdb.Position{Commit: p.Commit, Prepare: p.Prepare}
}

// knownPosition reports whether the server knew an event's position: it sends (2^64-1, 2^64-1)
// when it does not (events of old explicit transactions, read from their stream).
func knownPosition(p esdb.Position) bool {
	return p.Commit != math.MaxUint64 && p.Prepare != math.MaxUint64
}

// after reports whether p is strictly after q, where q == Start means "before everything".
func after(p, q eventstore.Position) bool {
	return q == eventstore.Start || q.Less(p)
}

// isSystem reports whether an event belongs to EventStoreDB rather than to us: a system stream
// ("$stats-...", "$$metadata", "$projections-...") or a system event type ("$metadata", "$>" links,
// "$statsCollected"). ValidateStreamName and ValidateEventType refuse '$' for our own events, so
// nothing of ours is ever dropped.
func isSystem(ev *esdb.RecordedEvent) bool {
	return strings.HasPrefix(ev.StreamID, "$") || strings.HasPrefix(ev.EventType, "$")
}

// systemFilter is the server-side filter of subscriptions to $all: event types starting with '$'
// are not sent. (Reads of $all have no server-side filter in this client; isSystem filters them,
// and filters subscriptions again for system streams whose event types lack the '$'.)
func systemFilter() *esdb.SubscriptionFilter { return esdb.ExcludeSystemEventsFilter() }

// errKind is what the store does about an error from the client.
type errKind int

const (
	kindOther         errKind = iota // give up, return it
	kindWrongExpected                // the expectation failed
	kindNotFound                     // the stream does not exist
	kindStreamDeleted                // the stream was deleted (by someone else: we never delete)
	kindDenied                       // authentication or authorisation failed
	kindTransient                    // retry on the same client (not leader, deadline, aborted)
	kindConnection                   // retry on a fresh client (unavailable, client closed)
)

func (k errKind) String() string {
	return [...]string{"other", "wrong expected version", "not found", "stream deleted", "access denied", "transient", "connection"}[k]
}

// classify finds the client's *esdb.Error in err's chain with errors.As and classifies its code
// (esdb.FromError is not used: its boolean means "no error", not "is an esdb error"). Errors the
// client returns without wrapping (a gRPC status from starting a read) are classified by their
// gRPC code.
func classify(err error) errKind {
	var e *esdb.Error
	if errors.As(err, &e) {
		if k := classifyCode(e.Code()); k != kindOther || e.Err() == nil {
			return k
		}
		return classifyStatus(e.Err()) // ErrorCodeUnknown wrapping a gRPC status
	}
	return classifyStatus(err)
}

func classifyCode(code esdb.ErrorCode) errKind {
	switch code {
	case esdb.ErrorCodeWrongExpectedVersion:
		return kindWrongExpected
	case esdb.ErrorCodeResourceNotFound:
		return kindNotFound
	case esdb.ErrorCodeStreamDeleted:
		return kindStreamDeleted
	case esdb.ErrorCodeUnauthenticated, esdb.ErrorCodeAccessDenied:
		return kindDenied
	case esdb.ErrorCodeNotLeader, esdb.ErrorCodeDeadlineExceeded, esdb.ErrorAborted:
		return kindTransient
	case esdb.ErrorUnavailable, esdb.ErrorCodeConnectionClosed:
		// A client whose (re)discovery failed is closed for good: only a fresh one can connect.
		return kindConnection
	}
	return kindOther
}

func classifyStatus(err error) errKind {
	if err == nil {
		return kindOther
	}
	st, ok := status.FromError(err)
	if !ok {
		return kindOther
	}
	switch st.Code() {
	case codes.Unavailable:
		return kindConnection
	case codes.DeadlineExceeded, codes.Aborted:
		return kindTransient
	case codes.NotFound:
		return kindNotFound
	case codes.Unauthenticated, codes.PermissionDenied:
		return kindDenied
	}
	return kindOther
}

// wrongExpectedRe finds the current revision in the client's wrong-expected-version message,
// "wrong expected version: expecting '0' but got 'no_stream'". The client has no field for it.
var wrongExpectedRe = regexp.MustCompile(`but got '([^']*)'`)

// actualRevision reads the stream's current revision from a wrong-expected-version error: -1 for
// no stream. ok is false if the message does not say (then the caller reads the stream).
func actualRevision(err error) (actual int64, ok bool) {
	m := wrongExpectedRe.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	if m[1] == "no_stream" {
		return -1, true
	}
	n, perr := strconv.ParseInt(m[1], 10, 64)
	if perr != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// refusal maps the server's InvalidArgument refusals that have a contract error: an append over
// the server's size limits (it counts some bytes of overhead that ValidateAppend does not) is
// ErrTooLarge, a read from a position that is no record's is ErrInvalidPosition. The client
// reports both as ErrorCodeUnknown, so the server's messages are matched. nil if neither.
func refusal(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Maximum Append Size") || strings.Contains(msg, "Maximum Append Event Size"):
		return eventstore.ErrTooLarge
	case strings.Contains(msg, "invalid position"):
		return eventstore.ErrInvalidPosition
	}
	return nil
}
