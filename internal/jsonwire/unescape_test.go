package jsonwire

import (
	"bytes"
	"encoding/json"
	"testing"
)

// checkUnquote holds Unquote to json.Unmarshal into a string, on inputs that are one token (no
// whitespace around, which json.Unmarshal would skip), and the plain flag to its promise.
func checkUnquote(t *testing.T, tok []byte) {
	t.Helper()
	if len(tok) == 0 || tok[0] != '"' || SkipSpace(tok, len(tok)-1) == len(tok) {
		return
	}
	got, err := Unquote(tok)
	var want string
	jerr := json.Unmarshal(tok, &want)
	if (err == nil) != (jerr == nil) {
		t.Fatalf("Unquote(%q): %v; json.Unmarshal: %v", tok, err, jerr)
	}
	if err != nil {
		return
	}
	if string(got) != want {
		t.Fatalf("Unquote(%q) = %q, json.Unmarshal %q", tok, got, want)
	}
	if _, plain, _ := String(tok, 0); plain && !bytes.Equal(got, tok[1:len(tok)-1]) {
		t.Fatalf("String(%q) says plain, but it decodes to %q", tok, got)
	}
}

var stringSeeds = []string{
	`""`, `"abc"`, `"\"\\\/\b\f\n\r\t"`, `"\u0041\u00e9\u2028"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`,
	`"\ud83d\u0041"`, `"\ud83d\ud83d\ude00"`, `"\ud83dx"`, "\"\xff\xfe\"", "\"é中文🙂\"", "\"\xed\xa0\x80\"",
	`"\x"`, `"\u12"`, `"abc`, "\"\x1f\"", `"a"b"`, `"\uFFFD"`, "\"\x7f\"",
}

func TestUnquoteMatchesEncodingJSON(t *testing.T) {
	for _, s := range stringSeeds {
		checkUnquote(t, []byte(s))
	}
}

func FuzzUnquote(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, tok []byte) {
		checkUnquote(t, tok)
	})
}

func TestUnescapeAliasesWhenItCan(t *testing.T) {
	for _, s := range []string{"plain", "é中文", ""} {
		b := []byte(s)
		if got := Unescape(b); len(b) > 0 && &got[0] != &b[0] {
			t.Errorf("Unescape(%q) copied", s)
		}
	}
}
