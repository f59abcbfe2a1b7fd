package httpapi

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/freezeledger/freezeledger/domain"
)

// checkUsageFast fails if the fast path takes b and decodes it otherwise than decodeRequest, or
// takes a body decodeRequest refuses.
func checkUsageFast(t interface{ Fatalf(string, ...any) }, b []byte) {
	got, ok := decodeUsageFast(b)
	if !ok {
		return
	}
	want, err := decodeRequest[usageRequest](b)
	if err != nil {
		t.Fatalf("fast path takes %q, which decodeRequest refuses: %v", b, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("body %q: fast %+v, decodeRequest %+v", b, got, want)
	}
}

func TestDecodeUsageFastMatchesDecodeRequest(t *testing.T) {
	str := rapid.OneOf(rapid.SampledFrom([]string{"", "r-1", "cust-dn-012", "1.25", "2026-11-01T00:00:00Z", "a\"b", "a\\b", "<&>", "é", "\x7f", "\x1f", "{", "x y"}), rapid.StringMatching(`[ -~]{0,12}`), rapid.String())
	keys := rapid.SampledFrom([]string{"record_id", "customer_id", "amount", "time", "Record_ID", "extra"})
	space := rapid.SampledFrom([]string{"", "", " ", "\n\t", "\r\n  "})
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(0, 4).Draw(rt, "records")
		var sb strings.Builder
		w := func(s string) { sb.WriteString(s); sb.WriteString(space.Draw(rt, "space")) }
		q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
		w("{")
		w(`"records"`)
		w(":")
		w("[")
		for i := range n {
			if i > 0 {
				w(",")
			}
			w("{")
			for j := range rapid.IntRange(0, 5).Draw(rt, "members") {
				if j > 0 {
					w(",")
				}
				k := keys.Draw(rt, "key")
				if j < 4 && rapid.IntRange(0, 4).Draw(rt, "canonical") > 0 {
					k = usageRecordFields[j]
				}
				w(q(k))
				w(":")
				switch rapid.IntRange(0, 9).Draw(rt, "value kind") {
				case 0:
					w("null")
				case 1:
					w("12")
				default:
					w(q(str.Draw(rt, "value")))
				}
			}
			w("}")
		}
		w("]")
		w("}")
		checkUsageFast(rt, []byte(sb.String()))
	})
}

// TestDecodeUsageFastTakesTheFeed: a body as the billing feed writes it (json.Marshal) takes the
// fast path, and the seeds decode as decodeRequest decodes them.
func TestDecodeUsageFastTakesTheFeed(t *testing.T) {
	var req usageRequest
	for i := range domain.MaxUsageBatch {
		req.Records = append(req.Records, usageRecordRequest{RecordID: fmt.Sprintf("r-%d", i), CustomerID: fmt.Sprintf("c-%d", i%300), Amount: "1.25", Time: "2026-11-30T23:59:59.123456789Z"})
	}
	b, _ := json.Marshal(req)
	got, ok := decodeUsageFast(b)
	if !ok || !reflect.DeepEqual(got, req) {
		t.Fatalf("the fast path refuses or changes a body of %d records as the feed writes it", len(req.Records))
	}
	req.Records = append(req.Records, req.Records[0])
	if b, _ := json.Marshal(req); !strings.Contains(string(b), "r-0") {
		t.Fatal("bad test body")
	} else if _, ok := decodeUsageFast(b); ok {
		t.Fatalf("the fast path takes %d records, over the batch limit", len(req.Records))
	}
	for _, b := range seeds(t, "usage_bodies") {
		checkUsageFast(t, b)
	}
	for _, name := range []string{"plain.json", "spaced.json"} {
		b := seedFile(t, "usage_bodies", name)
		if _, ok := decodeUsageFast(b); !ok {
			t.Fatalf("the fast path refuses seed %s: %s", name, b)
		}
	}
}

func FuzzDecodeUsageFast(f *testing.F) {
	for _, b := range seeds(f, "usage_bodies") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkUsageFast(t, b)
	})
}

// BenchmarkDecodeUsageBody: a 1,000-record body as the billing feed sends it, decoded by the fast
// path and by decodeRequest (checkKeys, then encoding/json).
func BenchmarkDecodeUsageBody(b *testing.B) {
	var req usageRequest
	for i := range domain.MaxUsageBatch {
		req.Records = append(req.Records, usageRecordRequest{RecordID: fmt.Sprintf("h-%d-%d", 17, i), CustomerID: fmt.Sprintf("u-dist-a-%d", i%400), Amount: "1.25", Time: "2026-11-30T23:59:59.123456789Z"})
	}
	body, _ := json.Marshal(req)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := decodeUsageFast(body); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("decodeRequest", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeRequest[usageRequest](body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse-records", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i, r := range req.Records {
				if _, err := parseUsageRecord(i, r); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// seedFile reads one seed of testdata/httpapi/dir.
func seedFile(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "httpapi", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
