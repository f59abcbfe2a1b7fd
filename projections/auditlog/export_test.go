package auditlog

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

func mustBound(t *testing.T, s string) Bound {
	t.Helper()
	b, err := ParseBound(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExportJSONLinesIsTheAPIShape(t *testing.T) {
	s := newMemStore()
	appendEvents(t, s, 25)
	tr := runTree(t, t.TempDir(), s, Options{})
	waitSize(t, tr, 25)
	var buf bytes.Buffer
	res, err := tr.Export(context.Background(), &buf, ExportRequest{Format: FormatJSONL})
	if err != nil {
		t.Fatal(err)
	}
	if res.First != 0 || res.End != 25 || res.Events() != 25 {
		t.Fatalf("result %+v", res)
	}
	recs, _ := s.ReadAll(context.Background(), eventstore.Start, 0)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 25 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, line := range lines {
		var got leaf.Event
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		want, err := FromRecorded(recs[i], uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		g, _ := got.CanonicalBytes()
		w, _ := want.CanonicalBytes()
		if !bytes.Equal(g, w) || got.Index != want.Index || got.Position != want.Position || got.LeafHash != want.LeafHash {
			t.Fatalf("line %d:\n%s\nwant\n%s", i+1, line, w)
		}
		// The leaf bytes can be read off the line: what lies between position and leaf_hash.
		inner := "{" + line[strings.Index(line, `"actor":`):strings.Index(line, `,"leaf_hash"`)] + "}"
		if inner != string(w) {
			t.Fatalf("line %d does not carry the canonical bytes:\n%s\n%s", i+1, inner, w)
		}
	}
}

func TestExportRanges(t *testing.T) {
	s := newMemStore()
	appendEvents(t, s, 30)
	tr := runTree(t, t.TempDir(), s, Options{})
	waitSize(t, tr, 30)
	cases := []struct {
		name, from, to string
		first, end     uint64
	}{
		{"all", "", "", 0, 30},
		{"positions", "6", "11", 5, 10},
		{"from position", "29", "", 28, 30},
		{"past the end", "31", "", 30, 30},
		{"times", baseTime.Add(5 * time.Second).Format(time.RFC3339), baseTime.Add(10 * time.Second).Format(time.RFC3339), 5, 10},
		{"time to", "", baseTime.Add(3 * time.Second).Format(time.RFC3339Nano), 0, 3},
		{"time before all", "2000-01-01T00:00:00Z", "", 0, 30},
		{"time after all", "2100-01-01T00:00:00Z", "", 30, 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			res, err := tr.Export(context.Background(), &buf, ExportRequest{From: mustBound(t, c.from), To: mustBound(t, c.to)})
			if err != nil {
				t.Fatal(err)
			}
			if res.First != c.first || res.End != c.end {
				t.Fatalf("exported [%d, %d), want [%d, %d)", res.First, res.End, c.first, c.end)
			}
			if n := uint64(strings.Count(buf.String(), "\n")); n != c.end-c.first {
				t.Fatalf("%d lines, want %d", n, c.end-c.first)
			}
			if c.end > c.first {
				var ev leaf.Event
				json.Unmarshal([]byte(buf.String()[:strings.IndexByte(buf.String(), '\n')]), &ev)
				if ev.Index != c.first {
					t.Fatalf("first line has index %d", ev.Index)
				}
			}
		})
	}
	if _, err := ParseBound("yesterday"); err == nil {
		t.Fatal("bad bound accepted")
	}
	if _, err := tr.Export(context.Background(), &bytes.Buffer{}, ExportRequest{Format: "xml"}); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestExportCSVNeutralisesFormulas(t *testing.T) {
	s := newMemStore()
	for i, name := range []string{"=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx", "plain"} {
		meta, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: domain.Actor{Name: name, Role: domain.RolePartner, PartnerID: "=p"}, Time: baseTime})
		s.Append(context.Background(), "channel-x", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: domain.EventPartnerFrozen,
			Data: []byte(`{"partner_id":"p","reason":"=HYPERLINK(\"http://x\")"}`), Metadata: meta})
		_ = i
	}
	tr := runTree(t, t.TempDir(), s, Options{})
	waitSize(t, tr, 7)
	var buf bytes.Buffer
	if _, err := tr.Export(context.Background(), &buf, ExportRequest{Format: FormatCSV}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 8 || strings.Join(rows[0], ",") != strings.Join(CSVHeader, ",") {
		t.Fatalf("rows %d, header %v", len(rows), rows[0])
	}
	for _, row := range rows[1:] {
		for j, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("column %s: cell %q would run as a formula", CSVHeader[j], cell)
			}
		}
	}
	if rows[1][7] != "'=1+1" || rows[7][7] != "plain" || rows[1][9] != "'=p" {
		t.Fatalf("actor cells %q %q %q", rows[1][7], rows[7][7], rows[1][9])
	}
}

func TestExportDetectsStoreChangedUnderTheTree(t *testing.T) {
	s := newMemStore()
	appendEvents(t, s, 10)
	tr := runTree(t, t.TempDir(), s, Options{})
	waitSize(t, tr, 10)
	rec := s.events[4]
	rec.Data = []byte(`{"customer_id":"forged"}`)
	s.set(4, rec)
	_, err := tr.Export(context.Background(), &bytes.Buffer{}, ExportRequest{})
	if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), "leaf 4") {
		t.Fatalf("export over a changed store: %v", err)
	}
}

// Exports of more than a page are encoded in parallel: the lines must still come in order, and a
// changed event deep in the log must still stop the export.
func TestExportManyPagesInOrder(t *testing.T) {
	defer func(p uint64) { exportPage = p }(exportPage)
	exportPage = 7 // many pages: more than the workers and the pages in flight
	s := newMemStore()
	const n = 5*7*7 + 3
	appendEvents(t, s, n)
	tr := runTree(t, t.TempDir(), s, Options{})
	waitSize(t, tr, n)
	for _, format := range []Format{FormatJSONL, FormatCSV} {
		var buf bytes.Buffer
		res, err := tr.Export(context.Background(), &buf, ExportRequest{Format: format, From: mustBound(t, "10")})
		if err != nil || res.First != 9 || res.End != n {
			t.Fatalf("%s: %+v, %v", format, res, err)
		}
		if format == FormatCSV {
			rows, err := csv.NewReader(&buf).ReadAll()
			if err != nil || len(rows) != n-9+1 || rows[len(rows)-1][0] != fmt.Sprint(n-1) {
				t.Fatalf("csv: %d rows, %v", len(rows), err)
			}
			continue
		}
		want := uint64(9)
		for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
			var ev leaf.Event
			if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Index != want {
				t.Fatalf("line with index %d, want %d (%v)", ev.Index, want, err)
			}
			want++
		}
		if want != n {
			t.Fatalf("last index %d", want-1)
		}
	}
	// A changed event early in a long export stops it (and its workers: the test would hang or
	// goleak-style leak otherwise).
	for _, at := range []int{12, n - 2} {
		rec := s.events[at]
		orig := rec
		rec.Data = []byte(`{"customer_id":"forged"}`)
		s.set(at, rec)
		_, err := tr.Export(context.Background(), io.Discard, ExportRequest{})
		if !errors.Is(err, eventstore.ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("leaf %d", at)) {
			t.Fatalf("changed event %d: %v", at, err)
		}
		s.set(at, orig)
	}
	// A cancelled export returns promptly.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Export(ctx, io.Discard, ExportRequest{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled export: %v", err)
	}
}
