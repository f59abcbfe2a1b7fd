package leaf

import (
	"bytes"
	"encoding/base64"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenRecord is the stored event whose leaf testdata/leaf.golden pins: its metadata is what
// json.Marshal of the domain's metadata writes.
var goldenRecord = Record{EventID: "0b7e4a52-55d4-4bd3-9a4b-5b0a3b0e0f01", Type: "customer.frozen",
	Stream: "channel-dist-1", Revision: 17, Position: "1042",
	Data:     []byte(`{"customer_id":"c-1","freeze_type":"ACCOUNT","origin":"manual","reason":"overdue <invoice> & \u00e9 \u2028 \"q\"\n"}`),
	Metadata: []byte(`{"schema_version":1,"actor":{"name":"ops-dist-1","role":"partner","partner_id":"dist-1"},"time":"2026-11-26T10:00:00.123456789Z","request_id":"r-1","idempotency_key":"k-1","command_hash":"c0ffee"}`)}

// TestLeafGolden pins the documented leaf format (doc.go, docs/AUDIT.md): a change to the canonical
// bytes or the leaf hash of a stored event breaks every checkpoint already handed to auditors.
func TestLeafGolden(t *testing.T) {
	ev, err := FromRecord(goldenRecord, 1041)
	if err != nil {
		t.Fatal(err)
	}
	canon, err := ev.CanonicalBytes()
	if err != nil {
		t.Fatal(err)
	}
	h := HashLeaf(canon)
	got := append(append(canon, '\n'), base64.StdEncoding.EncodeToString(h[:])+"\n"...)
	path := filepath.Join("testdata", "leaf.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("leaf format changed:\n%s\nwant\n%s", got, want)
	}
	if ev.LeafHash != base64.StdEncoding.EncodeToString(h[:]) {
		t.Fatal("FromRecord's leaf hash differs from HashLeaf(CanonicalBytes)")
	}
}
