package leaf

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/freezeledger/freezeledger/internal/jsonwire"
)

// This file holds a fast JSON canonicaliser producing exactly the form of the package
// documentation (the form encoding/json produces for a value decoded with UseNumber and encoded
// with SetEscapeHTML(false)). It scans the input once and re-serialises it without building a
// generic tree, so that exports, the tree's ingestion and the verifier keep their rates. Tokens are
// read, strings decoded and escaped with the module's one JSON toolkit (internal/jsonwire, escaping
// mode Minimal); the sorting and writing are this file's. The reference implementation (decode into
// any, encode) is kept in the tests and a fuzz test checks the two agree.

var errSyntax = jsonwire.ErrSyntax

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
	i := jsonwire.SkipSpace(raw, 0)
	dst, i, err := c.value(dst, raw, i, 0)
	if err != nil {
		return dst, err
	}
	if jsonwire.SkipSpace(raw, i) != len(raw) {
		return dst, jsonwire.ErrTrailing
	}
	return dst, nil
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack (encoding/json allows 10000).
const maxDepth = jsonwire.MaxDepth

type member struct {
	key        []byte // the decoded key
	start, end int    // the raw value's span in the input
}

type canonicalizer struct {
	members []member // reused stack of object members
	scratch [][]byte // per nesting depth: the canonical values of the object being written there
}

// value canonicalises the value starting at b[i] and returns the index after it.
func (c *canonicalizer) value(dst, b []byte, i, depth int) ([]byte, int, error) {
	if i >= len(b) {
		return dst, i, errSyntax
	}
	if depth > maxDepth {
		return dst, i, jsonwire.ErrDepth
	}
	switch b[i] {
	case '{':
		return c.object(dst, b, i, depth)
	case '[':
		dst = append(dst, '[')
		i = jsonwire.SkipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return append(dst, ']'), i + 1, nil
		}
		for {
			var err error
			dst, i, err = c.value(dst, b, i, depth+1)
			if err != nil {
				return dst, i, err
			}
			i = jsonwire.SkipSpace(b, i)
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
			i = jsonwire.SkipSpace(b, i+1)
		}
	case '"':
		s, end, err := scanString(b, i)
		if err != nil {
			return dst, i, err
		}
		return appendString(dst, s), end, nil
	case 't', 'f', 'n':
		end, err := jsonwire.Literal(b, i)
		if err != nil {
			return dst, i, err
		}
		return append(dst, b[i:end]...), end, nil
	default:
		end, err := jsonwire.Number(b, i)
		if err != nil {
			return dst, i, err
		}
		return append(dst, b[i:end]...), end, nil
	}
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
	i = jsonwire.SkipSpace(b, i+1)
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
		i = jsonwire.SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return dst, i, errSyntax
		}
		i = jsonwire.SkipSpace(b, i+1)
		start := len(scratch)
		if scratch, i, err = c.value(scratch, b, i, depth+1); err != nil {
			return dst, i, err
		}
		c.members = append(c.members, member{key: key, start: start, end: len(scratch)})
		i = jsonwire.SkipSpace(b, i)
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
		i = jsonwire.SkipSpace(b, i+1)
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

// scanString decodes the string at b[i] (invalid UTF-8 becoming U+FFFD, as encoding/json does). The
// result aliases b when the string has no escapes and is valid UTF-8.
func scanString(b []byte, i int) ([]byte, int, error) {
	end, plain, err := jsonwire.String(b, i)
	if err != nil {
		return nil, end, err
	}
	body := b[i+1 : end-1]
	if plain {
		return body, end, nil
	}
	return jsonwire.Unescape(body), end, nil
}

// appendString appends s as a JSON string escaped as encoding/json does with SetEscapeHTML(false):
// '"' and '\\' escaped, control characters as \b \f \n \r \t or \u00XX, U+2028 and U+2029 escaped,
// invalid UTF-8 replaced by U+FFFD (as its UTF-8 bytes, as a decode and re-encode gives), everything
// else as is (jsonwire.Minimal).
func appendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	return jsonwire.AppendString(dst, s, jsonwire.Minimal)
}

// forEachMember calls fn with each member of the JSON object raw, in order: the decoded key and the
// raw value. Keys and values alias raw (a key with escapes or invalid UTF-8 is decoded into a copy).
func forEachMember(raw []byte, fn func(key, value []byte) error) error {
	return jsonwire.Members(raw, func(key, value []byte) error {
		return fn(jsonwire.Unescape(key), value)
	})
}
