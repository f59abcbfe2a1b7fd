package domain_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// TestEmittedUsageBytesAreEncodingJSON: the events a large usage batch emits (many customers, one
// round, so many events share the emitter's buffer and metadata) hold exactly the bytes
// json.Marshal writes for what they decode to, each event its own.
func TestEmittedUsageBytesAreEncodingJSON(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	var ids []string
	for i := range 300 {
		id := fmt.Sprintf("c-many-%03d", i)
		f.must(assoc(op("dist-1"), id, "dist-1"))
		ids = append(ids, id)
	}
	before := len(f.log.All())
	var recs []domain.UsageInput
	for i := range domain.MaxUsageBatch {
		recs = append(recs, rec(fmt.Sprintf("r-%d", i), ids[i%len(ids)], fmt.Sprintf("%d.%02d", i, i%100), t0.Add(-time.Duration(i)*time.Millisecond)))
	}
	f.must(usage(recs...))
	evs := f.log.All()[before:]
	if len(evs) != len(ids) {
		t.Fatalf("%d events, want one usage.recorded per customer (%d)", len(evs), len(ids))
	}
	n := 0
	for _, ev := range evs {
		d, err := domain.DecodeData(ev.Type, ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		n += len(d.(*domain.UsageRecorded).Records)
		if want, _ := json.Marshal(d); !bytes.Equal(ev.Data, want) {
			t.Fatalf("revision %d data:\n%s\njson.Marshal:\n%s", ev.Revision, ev.Data, want)
		}
		var m domain.Metadata
		if err := json.Unmarshal(ev.Metadata, &m); err != nil {
			t.Fatal(err)
		}
		if want, _ := json.Marshal(m); !bytes.Equal(ev.Metadata, want) {
			t.Fatalf("revision %d metadata:\n%s\njson.Marshal:\n%s", ev.Revision, ev.Metadata, want)
		}
	}
	if n != len(recs) {
		t.Fatalf("%d records in the events, want %d", n, len(recs))
	}
	f.validate()
}
