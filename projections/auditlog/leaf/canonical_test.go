package leaf

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// referenceCanonicalize is the definition of the canonical form in executable terms: decode with
// UseNumber, encode with SetEscapeHTML(false). The fast canonicaliser must agree with it.
func referenceCanonicalize(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if len(bytes.TrimLeft(raw[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, errors.New("trailing data")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

var canonicalSeeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e10`, `-12.50E-3`, `"x"`,
	`{"b":1,"a":[1,{"d":null,"c":"x"}],"aa":{}}`,
	` { "z" : [ ] , "y":"\u00e9\n\t\"\\\/\u2028<>&" } `,
	`{"a":1,"a":2}`, `{"\u0061":1,"a":2,"b":{"x":1,"x":[3]}}`,
	`"\ud83d\ude00 emoji"`, "\"raw \xe2\x80\xa8 sep\"", "\"bad \xff utf8\"", `"\ud800 lone"`,
	`{"k":"\u0000\u001f\u007f"}`, `[1,2,]`, `{"a":}`, `{"a" 1}`, `01`, `1.`, `"unterminated`, `{} x`, `[1] [2]`, ``,
	`{"é":1,"e":2,"E":3,"":4}`,
}

func checkCanonicalAgrees(t *testing.T, in []byte) {
	t.Helper()
	want, werr := referenceCanonicalize(in)
	got, gerr := Canonicalize(in)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("input %q: reference error %v, fast error %v", in, werr, gerr)
	}
	if werr == nil && !bytes.Equal(got, want) {
		t.Fatalf("input %q:\nfast      %q\nreference %q", in, got, want)
	}
}

func TestCanonicalizeAgreesWithReference(t *testing.T) {
	for _, s := range canonicalSeeds {
		checkCanonicalAgrees(t, []byte(s))
	}
}

func FuzzCanonicalize(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4096 {
			return
		}
		checkCanonicalAgrees(t, in)
	})
}

// The direct CanonicalBytes must equal the documented construction: the event's JSON object without
// index, position and leaf_hash, canonicalised.
func TestCanonicalBytesMatchesDefinition(t *testing.T) {
	evs := []Event{
		{EventID: "id-1", Type: "customer.frozen", Stream: "channel-d", Revision: 3, Time: "2026-11-26T10:00:00.000Z",
			Actor: Actor{Name: "a<b>&", Role: "partner", PartnerID: "d"}, Data: json.RawMessage(`{"z":1,"a":"\u2028"}`),
			Metadata: json.RawMessage(`{"request_id":"r"}`)},
		{EventID: "bad \xff", Type: "t", Stream: "s\n", Data: nil, Metadata: json.RawMessage(`{}`)},
	}
	for _, ev := range evs {
		stripped := strippedLine(t, ev)
		want, err := referenceCanonicalize(stripped)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ev.CanonicalBytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("CanonicalBytes:\n%s\nwant\n%s", got, want)
		}
	}
}

func TestCanonicalizeDeepNestingIsAnError(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+10) + strings.Repeat("]", maxDepth+10)
	if _, err := Canonicalize([]byte(deep)); err == nil {
		t.Fatal("accepted nesting deeper than the limit")
	}
}
