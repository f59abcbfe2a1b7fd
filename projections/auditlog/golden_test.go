package auditlog

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// TestLeafGolden: the store's events become the leaves the leaf format pins
// (leaf/testdata/leaf.golden, written by the leaf package's own golden test): the conversion from a
// stored event keeps the leaf bytes of existing logs.
func TestLeafGolden(t *testing.T) {
	meta, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: domain.Actor{Name: "ops-dist-1", Role: domain.RolePartner, PartnerID: "dist-1"},
		Time: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC), RequestID: "r-1", IdempotencyKey: "k-1", CommandHash: "c0ffee"})
	rec := eventstore.RecordedEvent{ID: uuid.MustParse("0b7e4a52-55d4-4bd3-9a4b-5b0a3b0e0f01"), Type: domain.EventCustomerFrozen,
		Stream: "channel-dist-1", Revision: 17, Position: eventstore.Position{Commit: 1042, Prepare: 1042},
		Data:     []byte(`{"customer_id":"c-1","freeze_type":"ACCOUNT","origin":"manual","reason":"overdue <invoice> & \u00e9 \u2028 \"q\"\n"}`),
		Metadata: meta}
	ev, err := FromRecorded(rec, 1041)
	if err != nil {
		t.Fatal(err)
	}
	canon, err := ev.CanonicalBytes()
	if err != nil {
		t.Fatal(err)
	}
	h := leaf.HashLeaf(canon)
	got := append(append(canon, '\n'), base64.StdEncoding.EncodeToString(h[:])+"\n"...)
	want, err := os.ReadFile(filepath.Join("leaf", "testdata", "leaf.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("leaf format changed:\n%s\nwant\n%s", got, want)
	}
	if ev.LeafHash != base64.StdEncoding.EncodeToString(h[:]) {
		t.Fatal("FromRecorded's leaf hash differs from HashLeaf(CanonicalBytes)")
	}
}
