package leaf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// This file holds a fast JSON canonicaliser producing exactly the form of the package
// documentation (the form encoding/json produces for a value decoded with UseNumber and encoded
// with SetEscapeHTML(false)). It scans the input once and re-serialises it without building a
// generic tree, so that exports, the tree's ingestion and the verifier keep their rates. The
// reference implementation (decode into any, encode) is kept in the tests and a fuzz test checks the
// two agree.

var errSyntax = errors.New("invalid JSON")

// Canonicalize re-serialises a JSON value in the leaf's canonical form (the package documentation).
func Canonicalize(raw []byte) ([]byte, error) {
	out, err := appendCanonical(make([]byte, 0, len(raw)), raw)
	if err != nil {
		return nil, fmt.Errorf("canonicalize: %w", err)
	}
	return out, nil
}

// appendCanonical appends the canonical form of the single JSON value in raw to dst.
func appendCanonical(dst, raw []byte) ([]byte, error) {
	var c canonicalizer
	return c.appendCanonical(dst, raw)
}

// appendCanonical is appendCanonical reusing c's buffers.
func (c *canonicalizer) appendCanonical(dst, raw []byte) ([]byte, error) {
	i := skipSpace(raw, 0)
	dst, i, err := c.value(dst, raw, i, 0)
	if err != nil {
		return dst, err
	}
	if skipSpace(raw, i) != len(raw) {
		return dst, errors.New("trailing data after the JSON value")
	}
	return dst, nil
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack (encoding/json allows 10000).
const maxDepth = 10000

type member struct {
	key        []byte // the decoded key
	start, end int    // the raw value's span in the input
}

type canonicalizer struct {
	members []member // reused stack of object members
	scratch [][]byte // per nesting depth: the canonical values of the object being written there
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value canonicalises the value starting at b[i] and returns the index after it.
func (c *canonicalizer) value(dst, b []byte, i, depth int) ([]byte, int, error) {
	if i >= len(b) {
		return dst, i, errSyntax
	}
	if depth > maxDepth {
		return dst, i, errors.New("JSON nested too deeply")
	}
	switch b[i] {
	case '{':
		return c.object(dst, b, i, depth)
	case '[':
		dst = append(dst, '[')
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return append(dst, ']'), i + 1, nil
		}
		for {
			var err error
			dst, i, err = c.value(dst, b, i, depth+1)
			if err != nil {
				return dst, i, err
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return dst, i, errSyntax
			}
			if b[i] == ']' {
				return append(dst, ']'), i + 1, nil
			}
			if b[i] != ',' {
				return dst, i, errSyntax
			}
			dst = append(dst, ',')
			i = skipSpace(b, i+1)
		}
	case '"':
		s, end, err := scanString(b, i)
		if err != nil {
			return dst, i, err
		}
		return appendString(dst, s), end, nil
	case 't':
		return literal(dst, b, i, "true")
	case 'f':
		return literal(dst, b, i, "false")
	case 'n':
		return literal(dst, b, i, "null")
	default:
		end, err := scanNumber(b, i)
		if err != nil {
			return dst, i, err
		}
		return append(dst, b[i:end]...), end, nil
	}
}

func literal(dst, b []byte, i int, lit string) ([]byte, int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return dst, i, errSyntax
	}
	return append(dst, lit...), i + len(lit), nil
}

// object canonicalises the object at b[i]: members sorted by decoded key (bytewise), the last of
// duplicate keys winning, as when decoding into a map. Each member's value is canonicalised once,
// into the scratch buffer of this depth, and copied out in sorted order.
func (c *canonicalizer) object(dst, b []byte, i, depth int) ([]byte, int, error) {
	for len(c.scratch) <= depth {
		c.scratch = append(c.scratch, nil)
	}
	scratch := c.scratch[depth][:0]
	base := len(c.members)
	defer func() { c.members = c.members[:base] }()
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return append(dst, '{', '}'), i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return dst, i, errSyntax
		}
		key, end, err := scanString(b, i)
		if err != nil {
			return dst, i, err
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return dst, i, errSyntax
		}
		i = skipSpace(b, i+1)
		start := len(scratch)
		if scratch, i, err = c.value(scratch, b, i, depth+1); err != nil {
			return dst, i, err
		}
		c.members = append(c.members, member{key: key, start: start, end: len(scratch)})
		i = skipSpace(b, i)
		if i >= len(b) {
			return dst, i, errSyntax
		}
		if b[i] == '}' {
			i++
			break
		}
		if b[i] != ',' {
			return dst, i, errSyntax
		}
		i = skipSpace(b, i+1)
	}
	c.scratch[depth] = scratch
	dst = append(dst, '{')
	for k, m := range canonicalOrder(c.members[base:]) {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, m.key)
		dst = append(dst, ':')
		dst = append(dst, scratch[m.start:m.end]...)
	}
	return append(dst, '}'), i, nil
}

// canonicalOrder sorts ms by key, stably, and keeps only the last member of each key (a later
// duplicate wins), in place.
func canonicalOrder(ms []member) []member {
	if !sortedKeys(ms) {
		slices.SortStableFunc(ms, func(x, y member) int { return bytes.Compare(x.key, y.key) })
	}
	out := ms[:0]
	for k := range ms {
		if k+1 < len(ms) && bytes.Equal(ms[k].key, ms[k+1].key) {
			continue
		}
		out = append(out, ms[k])
	}
	return out
}

func sortedKeys(ms []member) bool {
	for k := 1; k < len(ms); k++ {
		if bytes.Compare(ms[k-1].key, ms[k].key) > 0 {
			return false
		}
	}
	return true
}

// sortedMembers writes the object made of c.members[base:] (spans of b) in canonical order and pops
// them.
func (c *canonicalizer) sortedMembers(dst, b []byte, base, depth int) ([]byte, error) {
	defer func() { c.members = c.members[:base] }()
	ms := canonicalOrder(c.members[base:])
	dst = append(dst, '{')
	for k := range ms {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, ms[k].key)
		dst = append(dst, ':')
		var err error
		// Nested objects push their members above ms and pop them before returning; ms is re-sliced
		// because the stack may have grown.
		dst, _, err = c.value(dst, b[:ms[k].end], ms[k].start, depth+1)
		if err != nil {
			return dst, err
		}
		ms = c.members[base : base+len(ms)]
	}
	return append(dst, '}'), nil
}

// skipValue returns the index after the value at b[i], checking its syntax.
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, errSyntax
	}
	if depth > maxDepth {
		return i, errors.New("JSON nested too deeply")
	}
	switch b[i] {
	case '{', '[':
		closing := byte('}')
		if b[i] == '[' {
			closing = ']'
		}
		obj := b[i] == '{'
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closing {
			return i + 1, nil
		}
		for {
			var err error
			if obj {
				if i >= len(b) || b[i] != '"' {
					return i, errSyntax
				}
				if i, err = skipString(b, i); err != nil {
					return i, err
				}
				i = skipSpace(b, i)
				if i >= len(b) || b[i] != ':' {
					return i, errSyntax
				}
				i = skipSpace(b, i+1)
			}
			if i, err = skipValue(b, i, depth+1); err != nil {
				return i, err
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return i, errSyntax
			}
			if b[i] == closing {
				return i + 1, nil
			}
			if b[i] != ',' {
				return i, errSyntax
			}
			i = skipSpace(b, i+1)
		}
	case '"':
		return skipString(b, i)
	case 't':
		_, end, err := literal(nil, b, i, "true")
		return end, err
	case 'f':
		_, end, err := literal(nil, b, i, "false")
		return end, err
	case 'n':
		_, end, err := literal(nil, b, i, "null")
		return end, err
	default:
		return scanNumber(b, i)
	}
}

// skipString returns the index after the string at b[i] (which is '"').
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, nil
		case c == '\\':
			j++
		case c < 0x20:
			return j, errSyntax
		}
	}
	return len(b), errSyntax
}

// scanString decodes the string at b[i] (invalid UTF-8 becoming U+FFFD, as encoding/json does). The
// result aliases b when the string has no escapes and is valid UTF-8.
func scanString(b []byte, i int) ([]byte, int, error) {
	end, err := skipString(b, i)
	if err != nil {
		return nil, end, err
	}
	body := b[i+1 : end-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return body, end, nil
	}
	var s string
	if err := json.Unmarshal(b[i:end], &s); err != nil {
		return nil, end, errSyntax
	}
	return []byte(s), end, nil
}

// scanNumber returns the index after the JSON number at b[i].
func scanNumber(b []byte, i int) (int, error) {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	default:
		return j, errSyntax
	}
	if j < len(b) && b[j] == '.' {
		j++
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return j, errSyntax
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return j, errSyntax
		}
	}
	return j, nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string escaped as encoding/json does with SetEscapeHTML(false):
// '"' and '\\' escaped, control characters as \b \f \n \r \t or \u00XX, U+2028 and U+2029 escaped,
// invalid UTF-8 replaced by U+FFFD (as its UTF-8 bytes, as a decode and re-encode gives), everything
// else as is.
func appendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
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
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...) // as decoding then re-encoding does
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// forEachMember calls fn with each member of the JSON object raw, in order: the decoded key and the
// raw value. Keys and values alias raw.
func forEachMember(raw []byte, fn func(key, value []byte) error) error {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return errors.New("not a JSON object")
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		i++
	} else {
		for {
			if i >= len(raw) || raw[i] != '"' {
				return errSyntax
			}
			key, kend, err := scanString(raw, i)
			if err != nil {
				return err
			}
			i = skipSpace(raw, kend)
			if i >= len(raw) || raw[i] != ':' {
				return errSyntax
			}
			i = skipSpace(raw, i+1)
			vend, err := skipValue(raw, i, 1)
			if err != nil {
				return err
			}
			if err := fn(key, raw[i:vend]); err != nil {
				return err
			}
			i = skipSpace(raw, vend)
			if i >= len(raw) {
				return errSyntax
			}
			if raw[i] == '}' {
				i++
				break
			}
			if raw[i] != ',' {
				return errSyntax
			}
			i = skipSpace(raw, i+1)
		}
	}
	if skipSpace(raw, i) != len(raw) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
