package leaf

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The stored forms of the tests' events, as the service writes them (json.Marshal of the domain's
// metadata and event payloads).
const (
	testMetadata = `{"schema_version":1,"actor":{"name":"ops-dist-1","role":"partner","partner_id":"dist-1"},"time":"2026-11-26T10:00:00.123456789Z","request_id":"r-1"}`
	testData     = `{"customer_id":"c-1","freeze_type":"ACCOUNT","origin":"manual","reason":"overdue \u003cinvoice\u003e \u0026 \u2028 é"}`
)

// strippedLine is ev's export line (json.Marshal) parsed as an outside verifier would and marshalled
// again without index, position and leaf_hash: the object the leaf's canonical bytes are defined on.
func strippedLine(t *testing.T, ev Event) []byte {
	t.Helper()
	line, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		t.Fatal(err)
	}
	delete(obj, "index")
	delete(obj, "position")
	delete(obj, "leaf_hash")
	stripped, _ := json.Marshal(obj)
	return stripped
}

func TestCanonicalBytesRecomputableFromExportLine(t *testing.T) {
	rec := Record{EventID: "0b7e4a52-55d4-4bd3-9a4b-5b0a3b0e0f01", Type: "customer.frozen",
		Stream: "channel-dist-1", Revision: 17, Position: "1042", Data: []byte(testData), Metadata: []byte(testMetadata)}
	ev, err := FromRecord(rec, 1041)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Time != "2026-11-26T10:00:00.123Z" || ev.Actor.Name != "ops-dist-1" || ev.Position != "1042" {
		t.Fatalf("unexpected view: %+v", ev)
	}
	if strings.Contains(string(ev.Metadata), "actor") || strings.Contains(string(ev.Metadata), `"time"`) {
		t.Fatalf("metadata keeps actor/time: %s", ev.Metadata)
	}
	// An outside verifier: parse the line, drop index/position/leaf_hash, canonicalize, hash.
	stripped := strippedLine(t, ev)
	canon, err := Canonicalize(stripped)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ev.CanonicalBytes()
	if string(canon) != string(want) {
		t.Fatalf("canonical bytes differ:\n%s\n%s", canon, want)
	}
	if !strings.HasPrefix(string(canon), `{"actor":{"name":"ops-dist-1","partner_id":"dist-1","role":"partner"},"data":{"customer_id":"c-1"`) {
		t.Fatalf("keys not sorted: %s", canon)
	}
	if !strings.Contains(string(canon), `<invoice> &`) {
		t.Fatalf("HTML characters escaped: %s", canon)
	}
	h := HashLeaf(canon)
	if base64.StdEncoding.EncodeToString(h[:]) != ev.LeafHash {
		t.Fatal("leaf hash does not match the recomputed one")
	}
	// A flipped byte in the data changes the leaf.
	ev2 := ev
	ev2.Data = json.RawMessage(strings.Replace(string(ev.Data), "c-1", "c-2", 1))
	h2, _ := ev2.ComputeLeafHash()
	if h2 == h {
		t.Fatal("changed data kept the leaf hash")
	}
}

func TestFromRecordRejectsBadMetadata(t *testing.T) {
	for _, md := range []string{``, `[]`, `{"actor":5}`, `{"time":"yesterday"}`} {
		rec := Record{EventID: "3f2b8c1e-0000-4000-8000-000000000001", Type: "x", Stream: "s", Data: []byte(`{}`), Metadata: []byte(md)}
		if _, err := FromRecord(rec, 0); err == nil {
			t.Errorf("metadata %q accepted", md)
		}
	}
}

func TestFormatTimeMatchesFormat(t *testing.T) {
	for _, s := range []string{"2026-11-26T10:00:00Z", "2026-11-26T10:00:00.1Z", "2026-11-26T10:00:00.123Z", "2026-11-26T10:00:00.123456789Z",
		"2026-11-26T10:00:00.9999Z", "2026-11-26T10:00:00+02:00", "2026-11-26T10:00:00.5-07:30", "0001-01-01T00:00:00Z"} {
		raw := []byte(`"` + s + `"`)
		tm, err := decodeTime(raw)
		if err != nil {
			t.Fatal(s, err)
		}
		if got, want := formatTime(tm, raw), tm.UTC().Format(TimeFormat); got != want {
			t.Errorf("%s: %s, want %s", s, got, want)
		}
	}
	for i := int64(0); i < 2000; i++ {
		tm := time.Unix(1_700_000_000+i*7919, i*104729%1_000_000_000).UTC()
		raw, _ := json.Marshal(tm)
		if got, want := formatTime(tm, raw), tm.Format(TimeFormat); got != want {
			t.Fatalf("%s: %s, want %s", raw, got, want)
		}
	}
	if got := formatTime(time.Time{}, nil); got != "0001-01-01T00:00:00.000Z" {
		t.Errorf("no time: %s", got)
	}
}
