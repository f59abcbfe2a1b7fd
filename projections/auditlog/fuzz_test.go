package auditlog

import (
	"testing"
)

// Fuzz targets for what the verifier and the audit routes read from outside: export lines, signed
// checkpoint notes and range bounds. Found inputs are kept by `go test -fuzz` in testdata/fuzz/<Name>
// and run as seeds by every `go test`; `make fuzz` runs each target for a bounded time.

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
