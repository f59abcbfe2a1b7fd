package jsonwire

import (
	"bytes"
	"encoding/json"
	"testing"
)

// referenceMinimal is Minimal's definition: the string with each invalid byte replaced by U+FFFD
// (as decoding it from JSON would), encoded by an Encoder with SetEscapeHTML(false).
func referenceMinimal(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(string([]rune(s))); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	if got, want := AppendString(nil, s, Minimal), referenceMinimal(s); !bytes.Equal(got, want) {
		t.Fatalf("AppendString(%q, Minimal) = %s, want %s", s, got, want)
	}
	if got, want := AppendString([]byte("x"), []byte(s), Minimal), append([]byte("x"), referenceMinimal(s)...); !bytes.Equal(got, want) {
		t.Fatalf("AppendString(x, []byte(%q), Minimal) = %s, want %s", s, got, want)
	}
	want, _ := json.Marshal(s)
	if got := AppendString(nil, s, HTMLSafe); !bytes.Equal(got, want) {
		t.Fatalf("AppendString(%q, HTMLSafe) = %s, json.Marshal %s", s, got, want)
	}
	if got := AppendString(nil, []byte(s), HTMLSafe); !bytes.Equal(got, want) {
		t.Fatalf("AppendString([]byte(%q), HTMLSafe) = %s, json.Marshal %s", s, got, want)
	}
}

var escapeSeeds = []string{
	"", "plain", "<script>&</script>", "a\u2028b\u2029c", "\x00\x01\x1f\x7f\"\\/", "\b\f\n\r\t",
	"é中文🙂", "bad \xff utf8 \xe2\x80", "\xed\xa0\x80", "\ufffd", "\xf4\x90\x80\x80",
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range escapeSeeds {
		checkAppendString(t, s)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range escapeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAppendString(t, s)
	})
}

func TestAppendStringDoesNotAllocate(t *testing.T) {
	s := "Umbrella \u00e9 <&> \u2028 \xff \"quoted\"\n"
	b := []byte(s)
	dst := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		dst = AppendString(dst[:0], s, HTMLSafe)
		dst = AppendString(dst[:0], b, Minimal)
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
