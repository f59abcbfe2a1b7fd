package jsonwire

import "unicode/utf8"

// Mode is one of the string escapings encoding/json writes. Both escape '"' and '\\' with a
// backslash, control characters as \b \f \n \r \t or \u00XX (lower-case hex), and U+2028 and U+2029
// as \u2028 and \u2029, and write every other valid character as its UTF-8; they differ in '<', '>',
// '&' and invalid UTF-8.
type Mode uint8

const (
	// Minimal writes '<', '>' and '&' as they are and each byte of invalid UTF-8 as U+FFFD in UTF-8:
	// what encoding/json's Encoder with SetEscapeHTML(false) writes for a string that was decoded
	// from JSON first (the decoding replaces invalid UTF-8). The audit leaf's form.
	Minimal Mode = iota
	// HTMLSafe writes '<', '>' and '&' as \u003c, \u003e and \u0026 and each byte of invalid UTF-8
	// as \ufffd: what json.Marshal writes.
	HTMLSafe
)

const hexDigits = "0123456789abcdef"

// safe[m][c] marks the ASCII bytes Mode m writes as they are; non-ASCII bytes are false and take
// the slow path.
var safe = func() (t [2][256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[Minimal][c] = c != '"' && c != '\\'
		t[HTMLSafe][c] = t[Minimal][c] && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendString appends s to dst as a JSON string, quotes included, escaped as mode says. mode must
// be Minimal or HTMLSafe.
func AppendString[S ~string | ~[]byte](dst []byte, s S, mode Mode) []byte {
	tab := &safe[mode]
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if tab[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		// A rune is at most 4 bytes: the conversion of so short a slice does not allocate.
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			if mode == HTMLSafe {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, "\uFFFD"...)
			}
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
