package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// Fuzz targets for what the verifier reads from outside: export lines and whole exports. Found
// inputs are kept by `go test -fuzz` in testdata/fuzz/<Name> and run as seeds by every `go test`;
// `make fuzz` runs each target for a bounded time.

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
	l := newTestLog(t, 12)
	signed := l.signedAt(t, 12)
	f := &fuzzFixture{export: l.export(), signed: signed, key: l.key}
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

// FuzzVerifyLine: whatever an export line holds, the verifier reports a problem or accepts it, and
// never panics; a line that changes the export is never accepted.
func FuzzVerifyLine(f *testing.F) {
	l := newTestLog(f, 3)
	signed := l.signedAt(f, 3)
	lines := l.lines
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
		_, err := Verify(context.Background(), VerifyInput{Export: bytes.NewReader(export), Checkpoint: signed, PublicKey: l.key,
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
