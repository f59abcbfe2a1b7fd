package jsonwire

import (
	"bytes"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
)

var scanSeeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e10`, `-12.50E-3`, `"x"`, ` { "a" : [ 1 , {"b":null} ] } `,
	`{"b":1,"a":[1,{"d":null,"c":"x"}],"aa":{}}`, `{"a":1,"a":2}`, `{"\u0061":1,"a":2}`, `"\ud83d\ude00"`,
	"\"raw \xe2\x80\xa8 sep\"", "\"bad \xff utf8\"", `"\ud800 lone"`, `"\ud800\u0041"`, `"\udc00\ud800"`,
	`{"k":"\u0000\u001f\u007f"}`, `[1,2,]`, `{"a":}`, `{"a" 1}`, `01`, `1.`, `-`, `1e`, `1e+`, `"unterminated`,
	`{} x`, `[1] [2]`, ``, `"\x"`, `"\u12"`, `"\u12g4"`, "\"\x01\"", `tru`, `nul`, `{"a":1,}`, `[,1]`,
}

// valueOK is Value applied to a whole input: one value, whitespace around it allowed.
func valueOK(b []byte) bool {
	end, err := Value(b, SkipSpace(b, 0))
	return err == nil && SkipSpace(b, end) == len(b)
}

func checkValue(t *testing.T, b []byte) {
	t.Helper()
	if got, want := valueOK(b), json.Valid(b); got != want {
		t.Fatalf("Value(%q) accepts: %v, json.Valid: %v", b, got, want)
	}
}

func TestValueMatchesValid(t *testing.T) {
	for _, s := range scanSeeds {
		checkValue(t, []byte(s))
	}
	if _, err := Value([]byte(strings.Repeat("[", MaxDepth+2)+strings.Repeat("]", MaxDepth+2)), 0); err != ErrDepth {
		t.Fatalf("deep nesting: %v", err)
	}
}

func FuzzValue(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		checkValue(t, b)
	})
}

// checkMembers holds Members to encoding/json: it accepts exactly the valid objects, and its
// members, the last of each key winning, are what a decode into map[string]json.RawMessage gives.
func checkMembers(t *testing.T, b []byte) {
	t.Helper()
	got := map[string]string{}
	err := Members(b, func(key, value []byte) error {
		if !json.Valid(value) {
			t.Fatalf("Members(%q) yields invalid value %q", b, value)
		}
		got[string(Unescape(key))] = string(value)
		return nil
	})
	var want map[string]json.RawMessage
	jerr := json.Unmarshal(b, &want)
	isObject := jerr == nil && want != nil
	if (err == nil) != isObject {
		t.Fatalf("Members(%q): %v; encoding/json: %v (object %v)", b, err, jerr, isObject)
	}
	if err != nil {
		return
	}
	wantS := map[string]string{}
	for k, v := range want {
		wantS[k] = string(v)
	}
	if !maps.Equal(got, wantS) {
		t.Fatalf("Members(%q) = %q, encoding/json %q", b, got, wantS)
	}
}

func TestMembersMatchesEncodingJSON(t *testing.T) {
	for _, s := range scanSeeds {
		checkMembers(t, []byte(s))
	}
}

func FuzzMembers(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		checkMembers(t, b)
	})
}

func TestMembersStop(t *testing.T) {
	var keys []string
	err := Members([]byte(`{"a":1,"b":2,"c":`), func(key, _ []byte) error {
		keys = append(keys, string(key))
		if string(key) == "b" {
			return ErrStop
		}
		return nil
	})
	if err != nil || strings.Join(keys, ",") != "a,b" {
		t.Fatalf("keys %q, err %v", keys, err)
	}
	other := Members([]byte(`{"a":1}`), func(_, _ []byte) error { return ErrDepth })
	if other != ErrDepth {
		t.Fatalf("fn's error: got %v", other)
	}
}

func TestElements(t *testing.T) {
	var got []string
	if err := Elements([]byte(` [ "a" , 1,{"x":[]} ] `), func(v []byte) error { got = append(got, string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != `"a"|1|{"x":[]}` {
		t.Fatalf("elements %q", got)
	}
	for _, bad := range []string{`[1,]`, `[1 2]`, `{}`, `[1] x`, `[`, ``} {
		if err := Elements([]byte(bad), func([]byte) error { return nil }); err == nil {
			t.Errorf("Elements(%q) accepted", bad)
		}
	}
	if err := Elements([]byte(`[]`), func([]byte) error { t.Fatal("called"); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestScanningDoesNotAllocate(t *testing.T) {
	obj := []byte(`{"customer_id":"c-1","tags":["a","b"],"n":-1.5e3,"ok":true,"x":null,"nested":{"k":"v\n"}}`)
	n := testing.AllocsPerRun(100, func() {
		_ = Members(obj, func(key, value []byte) error {
			if bytes.HasPrefix(value, []byte("[")) {
				return Elements(value, func([]byte) error { return nil })
			}
			return nil
		})
	})
	if n != 0 {
		t.Fatalf("%v allocations per walk", n)
	}
}

// hasSpecial must find a special byte at every position of a word, and only then.
func TestHasSpecial(t *testing.T) {
	for c := range 256 {
		for pos := range 8 {
			var w [8]byte
			for k := range w {
				w[k] = 'a'
			}
			w[pos] = byte(c)
			x := uint64(0)
			for k := 7; k >= 0; k-- {
				x = x<<8 | uint64(w[k])
			}
			if got := hasSpecial(x); got != special[c] {
				t.Fatalf("hasSpecial with byte %#x at %d: %v, want %v", c, pos, got, special[c])
			}
		}
	}
}

// On random words (bytes drawn mostly from the special ones and their neighbours), hasSpecial says
// exactly whether a byte is special.
func TestHasSpecialRandomWords(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	near := []byte{0x00, 0x1f, 0x20, 0x21, '"', 0x23, 0x5b, '\\', 0x5d, 0x7f, 0x80, 0xff, 'a'}
	for range 200000 {
		var x uint64
		want := false
		for k := range 8 {
			c := near[r.IntN(len(near))]
			if r.IntN(4) == 0 {
				c = byte(r.IntN(256))
			}
			want = want || special[c]
			x |= uint64(c) << (8 * k)
		}
		if hasSpecial(x) != want {
			t.Fatalf("hasSpecial(%#016x) = %v, want %v", x, !want, want)
		}
	}
}
