package projections

import (
	"bytes"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

// TestStreamNames: every leaf's stream reads back by name, whether interned or a customer
// reservation stream held as its ID, also after a checkpoint's round trip; reservation streams take
// no string in the table.
func TestStreamNames(t *testing.T) {
	streams := []string{
		domain.CustomerReservationStreamPrefix + "cust-1",
		domain.ChannelStream("dist-1"),
		domain.CustomerReservationStreamPrefix + "cust-2",
		domain.CustomerReservationStreamPrefix + "cust-1",                   // a second event in the same stream
		domain.CustomerReservationStreamPrefix,                              // no ID: interned
		domain.CustomerReservationStreamPrefix + strings.Repeat("x", 1<<16), // too long: interned
		domain.ChannelStream("dist-1"),
	}
	s := newState()
	var d decoded
	for i, name := range streams {
		s.apply(&eventstore.RecordedEvent{Stream: name, Type: "test.other", Data: []byte(`{}`), Metadata: []byte(`{}`),
			Position: eventstore.Position{Commit: uint64(i + 1), Prepare: uint64(i + 1)}}, &d)
	}
	if len(s.resLoc) != 3 {
		t.Errorf("%d reservation stream entries, want 3", len(s.resLoc))
	}
	for _, x := range s.strs {
		if strings.HasPrefix(x, domain.CustomerReservationStreamPrefix+"cust-") {
			t.Errorf("reservation stream %q interned", x)
		}
	}
	var b bytes.Buffer
	if err := writeState(&b, s); err != nil {
		t.Fatal(err)
	}
	back, err := readState(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range streams {
		if got := s.streamName(uint32(i)); got != name {
			t.Errorf("leaf %d: stream %.40q, want %.40q", i, got, name)
		}
		if got := back.streamName(uint32(i)); got != name {
			t.Errorf("leaf %d after the checkpoint: stream %.40q, want %.40q", i, got, name)
		}
	}
}
