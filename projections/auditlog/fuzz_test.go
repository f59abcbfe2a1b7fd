package auditlog

import (
	"bytes"
	"context"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
)

// Fuzz targets for what the verifier and the audit routes read from outside: export lines, signed
// checkpoint notes and range bounds. Found inputs are kept by `go test -fuzz` in testdata/fuzz/<Name>
// and run as seeds by every `go test`; `make fuzz` runs each target for a bounded time.

// fuzzFixture is a small genuine export with its signed checkpoint and verifier key.
type fuzzFixture struct {
	export []byte
	lines  [][]byte
	canon  [][]byte // each line's canonical event bytes
	signed []byte
	key    string
}

func newFuzzFixture(t testing.TB) *fuzzFixture {
	t.Helper()
	s := newMemStore()
	appendEvents(t, s, 12)
	tr := runTree(t, t.TempDir(), s, Options{})
	waitSize(t, tr, 12)
	var buf bytes.Buffer
	if _, err := tr.Export(context.Background(), &buf, ExportRequest{Format: FormatJSONL}); err != nil {
		t.Fatal(err)
	}
	_, signed := tr.Checkpoint()
	f := &fuzzFixture{export: buf.Bytes(), signed: signed, key: tr.PublicKey()}
	f.lines = bytes.SplitAfter(f.export, []byte("\n"))
	f.lines = f.lines[:len(f.lines)-1]
	for _, l := range f.lines {
		f.canon = append(f.canon, lineCanon(t, l))
	}
	rep, err := Verify(context.Background(), VerifyInput{Export: bytes.NewReader(f.export), Checkpoint: signed, PublicKey: f.key})
	if err != nil || rep.Lines != 12 {
		t.Fatalf("the genuine export does not verify: %v %+v", err, rep)
	}
	return f
}

// lineCanon is the canonical event bytes a line carries (nil if it has none).
func lineCanon(t testing.TB, line []byte) []byte {
	t.Helper()
	c, err := lineCanonical(bytes.TrimSpace(line))
	if err != nil {
		return nil
	}
	return c
}

// FuzzVerifyExport: the verifier never panics on any export, with or without the domain rules
// replayed; and whatever it accepts against the genuine signed checkpoint carries exactly the genuine
// events: the same number of lines, each with the genuine canonical bytes (no forged, dropped,
// reordered or altered event passes).
func FuzzVerifyExport(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Add(fx.export)
	f.Add(bytes.Join(fx.lines[:11], nil))
	f.Add(bytes.Join(append([][]byte{fx.lines[1], fx.lines[0]}, fx.lines[2:]...), nil))
	f.Add(bytes.ReplaceAll(fx.export, []byte(`"c-3"`), []byte(`"c-4"`)))
	f.Add(bytes.ReplaceAll(fx.export, []byte("\n"), []byte("\r\n")))
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"index":0,"position":"1","leaf_hash":"AAAA"}` + "\n"))
	f.Fuzz(func(t *testing.T, export []byte) {
		if len(export) > 64<<10 {
			return
		}
		rep, err := Verify(context.Background(), VerifyInput{Export: bytes.NewReader(export), Checkpoint: fx.signed, PublicKey: fx.key})
		_, _ = Verify(context.Background(), VerifyInput{Export: bytes.NewReader(export), Checkpoint: fx.signed, PublicKey: fx.key,
			Validator: domain.NewHistoryValidator(domain.HistoryOptions{})})
		if err != nil {
			return
		}
		lines := bytes.SplitAfter(export, []byte("\n"))
		var nonEmpty [][]byte
		for _, l := range lines {
			if len(bytes.TrimSpace(l)) > 0 {
				nonEmpty = append(nonEmpty, l)
			}
		}
		if rep.Lines != len(fx.lines) || len(nonEmpty) != len(fx.lines) {
			t.Fatalf("accepted an export of %d lines (report %d), the log has %d", len(nonEmpty), rep.Lines, len(fx.lines))
		}
		for i, l := range nonEmpty {
			if c := lineCanon(t, l); !bytes.Equal(c, fx.canon[i]) {
				t.Fatalf("accepted line %d with other canonical bytes:\n%s\nwant\n%s", i+1, c, fx.canon[i])
			}
		}
	})
}

// FuzzParseBound: an export's from/to (query parameters and flags) never panics; a non-empty bound
// that is accepted is exactly one of a time or a position, and a position formats and parses back to
// itself.
func FuzzParseBound(f *testing.F) {
	for _, s := range []string{"", "0", "1", "1042", "2026-11-26T10:00:00Z", "2026-11-26T10:00:00.123+02:00", "-1", "1e3", " 1", "18446744073709551616", "position:5", "2026-13-01T00:00:00Z", "1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBound(s)
		if err != nil || s == "" {
			return
		}
		if (b.Position == nil) == (b.Time == nil) {
			t.Fatalf("%q accepted as %+v: want exactly one of a position and a time", s, b)
		}
		if b.Position != nil {
			again, err := ParseBound(b.Position.String())
			if err != nil || again.Position == nil || *again.Position != *b.Position {
				t.Fatalf("%q: position %v does not round-trip (%+v, %v)", s, *b.Position, again, err)
			}
		}
	})
}
