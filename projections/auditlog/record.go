package auditlog

import (
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// FromRecorded builds the public Event of a stored event at leaf index index, with its leaf hash
// (leaf.FromRecord of the event's fields).
func FromRecorded(rec eventstore.RecordedEvent, index uint64) (leaf.Event, error) {
	return leaf.FromRecord(recordOf(rec), index)
}

// recordOf is the leaf format's view of a stored event.
func recordOf(rec eventstore.RecordedEvent) leaf.Record {
	return leaf.Record{Position: rec.Position.String(), EventID: rec.ID.String(), Type: rec.Type, Stream: rec.Stream,
		Revision: rec.Revision, Data: rec.Data, Metadata: rec.Metadata}
}
