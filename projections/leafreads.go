package projections

import (
	"context"
	"fmt"

	"github.com/freezeledger/freezeledger/eventstore"
)

// leafLoc is where a leaf's event lies in the store, as the read models applied it.
type leafLoc struct {
	leaf   uint32
	stream string
	rev    uint64
	pos    eventstore.Position
	check  bool // AuditEvents: the type has no code of its own, compare the read event's type
}

// maxRunRead bounds the events one ReadStream of a run reads.
const maxRunRead = 128

// leafReader reads the events of a list of leaf locations, in order, from the store: each run of
// locations on one stream at consecutive revisions is one ReadStream (a customer's association and
// its default freeze, a batch of one operator's freezes), not one per event. Each event read is
// checked to be the one the read models applied at that position. A leafReader is used by one
// goroutine; what it returns is valid until the next call.
type leafReader struct {
	store eventstore.Store
	what  string // names the query in errors ("history", "audit events")
	locs  []leafLoc
	buf   []eventstore.RecordedEvent
	at    int // index in locs of buf[0]
}

// event returns the event of locs[i]. Calls must come with i ascending; a run is read at the
// first call that needs it, so a caller that stops early reads at most one run more than it uses.
func (r *leafReader) event(ctx context.Context, i int) (*eventstore.RecordedEvent, error) {
	if i >= r.at && i < r.at+len(r.buf) {
		return &r.buf[i-r.at], nil
	}
	l := r.locs[i]
	n := 1
	for n < maxRunRead && i+n < len(r.locs) && r.locs[i+n].stream == l.stream && r.locs[i+n].rev == l.rev+uint64(n) {
		n++
	}
	recs, err := r.store.ReadStream(ctx, l.stream, eventstore.Forwards, l.rev, n)
	if err != nil {
		return nil, fmt.Errorf("projections: %s: read %s@%d: %w", r.what, l.stream, l.rev, err)
	}
	for k := range n {
		if k >= len(recs) || recs[k].Position != r.locs[i+k].pos {
			lk := r.locs[i+k]
			return nil, fmt.Errorf("projections: %s: %s@%d is not the event at position %s the read models applied: the store differs from the read models (rebuild them)", r.what, lk.stream, lk.rev, lk.pos)
		}
	}
	r.buf, r.at = recs[:n], i
	return &r.buf[0], nil
}
