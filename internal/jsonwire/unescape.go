package jsonwire

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Unescape returns the decoded value of a string body that String accepted (the bytes between the
// quotes), as encoding/json decodes it: escapes resolved, a \u surrogate pair joined, a lone
// surrogate and every byte of invalid UTF-8 replaced by U+FFFD. A body without escapes that is valid
// UTF-8 is returned as is (no copy); otherwise the result is newly allocated. A body String did not
// accept gives an unspecified result, never a panic.
func Unescape(body []byte) []byte {
	i := 0
	for i < len(body) && body[i] != '\\' && body[i] < utf8.RuneSelf {
		i++
	}
	if i == len(body) {
		return body
	}
	if !hasBackslash(body[i:]) && utf8.Valid(body[i:]) {
		return body
	}
	out := make([]byte, i, len(body)+utf8.UTFMax)
	copy(out, body[:i])
	return appendUnescaped(out, body[i:])
}

// Unquote decodes the string token tok (quotes included, nothing around it) as Unescape does.
func Unquote(tok []byte) ([]byte, error) {
	end, plain, err := String(tok, 0)
	if err != nil {
		return nil, err
	}
	if end != len(tok) {
		return nil, ErrSyntax
	}
	body := tok[1 : end-1]
	if plain {
		return body, nil
	}
	return Unescape(body), nil
}

func hasBackslash(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// appendUnescaped appends the decoded s to dst (encoding/json's unquoteBytes, which it follows
// case for case).
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		if c != '\\' || i+1 >= len(s) {
			dst = append(dst, c)
			i++
			continue
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				dst = append(dst, c)
				i++
				continue
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if r2, ok := hex4(s, i+2); ok {
						if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
				}
				r = unicode.ReplacementChar
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			dst = append(dst, c)
			i++
			continue
		}
		i += 2
	}
	return dst
}
