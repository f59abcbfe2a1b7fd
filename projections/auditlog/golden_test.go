package auditlog

import (
	"bytes"
	"context"
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

// FuzzVerifyLine: whatever an export line holds, the verifier reports a problem or accepts it, and
// never panics; a line that changes the export is never accepted.
func FuzzVerifyLine(f *testing.F) {
	s := newMemStore()
	appendEvents(f, s, 3)
	tr := runTree(f, f.TempDir(), s, Options{})
	waitSize(f, tr, 3)
	var buf bytes.Buffer
	if _, err := tr.Export(context.Background(), &buf, ExportRequest{}); err != nil {
		f.Fatal(err)
	}
	_, signed := tr.Checkpoint()
	lines := bytes.SplitAfter(buf.Bytes(), []byte("\n"))
	for _, l := range lines[:3] {
		f.Add(bytes.TrimSuffix(l, []byte("\n")))
	}
	f.Add([]byte(`{"index":1,"position":"2","event_id":"x","leaf_hash":"AA=="}`))
	f.Add([]byte(`{"index":-1}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.ContainsAny(line, "\n\r") {
			return
		}
		orig := lines[1]
		export := bytes.Join([][]byte{lines[0], append(bytes.Clone(line), '\n'), lines[2]}, nil)
		_, err := Verify(context.Background(), VerifyInput{Export: bytes.NewReader(export), Checkpoint: signed, PublicKey: tr.PublicKey(),
			Validator: &rejectCustomer{id: "none"}})
		if err == nil {
			// Accepted: the line must hold the same event (same leaf bytes).
			var a, b leaf.Event
			if json.Unmarshal(line, &a) != nil || json.Unmarshal(orig, &b) != nil {
				t.Fatalf("accepted a line that is not an event: %q", line)
			}
			ca, _ := a.CanonicalBytes()
			cb, _ := b.CanonicalBytes()
			if !bytes.Equal(ca, cb) {
				t.Fatalf("accepted a different event:\n%s\n%s", line, orig)
			}
		}
	})
}
