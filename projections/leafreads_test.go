package projections

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

// countingStore counts ReadStream calls and the events they return.
type countingStore struct {
	eventstore.Store
	calls, events int
}

func (s *countingStore) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, count int) ([]eventstore.RecordedEvent, error) {
	recs, err := s.Store.ReadStream(ctx, stream, dir, from, count)
	s.calls++
	s.events += len(recs)
	return recs, err
}

// TestLeafReaderReadsRunsOnce: a run of leaves on one stream at consecutive revisions is one
// ReadStream; the events equal the log's, in order; a page reads no more than it returns.
func TestLeafReaderReadsRunsOnce(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("dist-a", domain.PartnerDistributor, "")
	ops := opsOf("dist-a")
	l.associate("c-1", "dist-a", "", nil, "")                                  // reservation; associated, frozen
	l.unfreeze("c-1", "dist-a", ops, domain.FreezeAccount, "paid")             // consecutive with the two above
	l.associate("c-2", "dist-a", "", nil, "")                                  // breaks c-1's run
	l.freeze("c-1", "dist-a", ops, domain.FreezeAccount, "", "overdue")        // a run of one
	head := l.unfreeze("c-1", "dist-a", ops, domain.FreezeAccount, "paid too") // consecutive with the freeze
	all := readAll(t, l.store)

	cs := &countingStore{Store: l.store}
	m := openModels(t, cs, t.TempDir())
	waitFor(t, m, head)
	ci := m.mustLookup(t, "c-1")
	var locs []leafLoc
	m.mu.RLock()
	for _, lf := range m.st.customerLeaves(ci) {
		locs = append(locs, leafLoc{leaf: lf, stream: m.st.streamName(lf), rev: m.st.pos.revision(lf), pos: m.st.pos.at(lf)})
	}
	m.mu.RUnlock()
	// c-1's own events: associated, frozen, unfrozen (one run); frozen, unfrozen (another).
	if len(locs) != 5 {
		t.Fatalf("c-1 has %d leaves, want 5", len(locs))
	}
	cs.calls, cs.events = 0, 0
	rd := leafReader{store: cs, what: "test", locs: locs}
	for i, lc := range locs {
		rec, err := rd.event(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*rec, all[lc.leaf]) {
			t.Fatalf("leaf %d: read %+v, want %+v", lc.leaf, *rec, all[lc.leaf])
		}
	}
	if cs.calls != 2 || cs.events != 5 {
		t.Errorf("5 events in 2 runs: %d ReadStream calls returning %d events, want 2 and 5", cs.calls, cs.events)
	}

	// A history page of 2 reads those 2 events only, in one call.
	cs.calls, cs.events = 0, 0
	p, err := m.History(context.Background(), HistoryQuery{Kind: HistoryCustomer, ID: "c-1", Limit: 2})
	if err != nil || len(p.Events) != 2 || p.NextCursor == "" {
		t.Fatalf("page of 2: %d events, cursor %q, %v", len(p.Events), p.NextCursor, err)
	}
	if cs.calls != 1 || cs.events != 2 {
		t.Errorf("page of 2: %d ReadStream calls returning %d events, want 1 and 2", cs.calls, cs.events)
	}

	// An event that is not the one applied at that position is an error, not a wrong answer.
	bad := append([]leafLoc(nil), locs...)
	bad[1].pos.Commit++
	bad[1].pos.Prepare++
	rd = leafReader{store: cs, what: "test", locs: bad}
	if _, err := rd.event(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "the store differs from the read models") {
		t.Errorf("a moved event: %v", err)
	}
}

func (m *ReadModels) mustLookup(t *testing.T, id string) uint32 {
	t.Helper()
	m.mu.RLock()
	defer m.mu.RUnlock()
	ci, ok := m.st.lookup(id)
	if !ok {
		t.Fatalf("customer %s not found", id)
	}
	return ci
}
