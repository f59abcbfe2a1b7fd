package jsonwire

import (
	"encoding/binary"
	"errors"
)

// ErrSyntax is the error of every scanning function for input that is not valid JSON.
var ErrSyntax = errors.New("invalid JSON")

// ErrDepth is Value's error for nesting deeper than MaxDepth.
var ErrDepth = errors.New("JSON nested too deeply")

// ErrStop, returned by the function given to Members or Elements, stops the walk with no error;
// the rest of the input is then not checked.
var ErrStop = errors.New("skip the rest")

// MaxDepth bounds the nesting Value accepts, so that hostile input cannot exhaust the stack
// (encoding/json allows 10000 too).
const MaxDepth = 10000

// SkipSpace returns the index of the first byte at or after i that is not JSON whitespace (space,
// tab, newline, carriage return), or len(b).
func SkipSpace(b []byte, i int) int {
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

// special marks the bytes String must look at: the quote, the backslash, control characters and
// every non-ASCII byte.
var special = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= 0x80
	}
	return t
}()

// String scans the string token at b[i] (which must be '"') and returns the index just after its
// closing quote. The body, b[i+1:end-1], holds no control character and only the escapes \" \\ \/
// \b \f \n \r \t and \uXXXX; invalid UTF-8 is allowed (it decodes to U+FFFD). plain reports a body
// of ASCII without escapes, which is its own decoded value; any other body is decoded by Unescape.
func String(b []byte, i int) (end int, plain bool, err error) {
	if i >= len(b) || b[i] != '"' {
		return i, false, ErrSyntax
	}
	plain = true
	j := i + 1
	for {
		for j+8 <= len(b) && !hasSpecial(binary.LittleEndian.Uint64(b[j:])) {
			j += 8
		}
		for j < len(b) && !special[b[j]] {
			j++
		}
		if j >= len(b) {
			return len(b), false, ErrSyntax
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1, plain, nil
		case c == '\\':
			plain = false
			if j+1 >= len(b) {
				return j, false, ErrSyntax
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if _, ok := hex4(b, j+2); !ok {
					return j, false, ErrSyntax
				}
				j += 6
			default:
				return j, false, ErrSyntax
			}
		case c < 0x20:
			return j, false, ErrSyntax
		default: // non-ASCII
			plain = false
			j++
		}
	}
}

const (
	lsb = 0x0101010101010101 // the lowest bit of each byte
	msb = 0x8080808080808080 // the highest bit of each byte
)

// hasSpecial reports whether one of the eight bytes of x is special (the bit tricks of "Bit
// Twiddling Hacks", "Determine if a word has a byte less than n", which are exact for whether
// there is one): String skips eight plain bytes at a time.
func hasSpecial(x uint64) bool {
	q := x ^ (lsb * '"')
	bs := x ^ (lsb * '\\')
	return ((q-lsb)&^q|(bs-lsb)&^bs|(x-lsb*0x20)&^x|x)&msb != 0
}

// hex4 decodes the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// Number scans the number token at b[i] (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?) and returns
// the index after it. What follows is not looked at: "01" is the number 0 followed by "1".
func Number(b []byte, i int) (int, error) {
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
		return j, ErrSyntax
	}
	if j < len(b) && b[j] == '.' {
		j++
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == k {
			return j, ErrSyntax
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
			return j, ErrSyntax
		}
	}
	return j, nil
}

// Literal scans true, false or null at b[i] and returns the index after it.
func Literal(b []byte, i int) (int, error) {
	var lit string
	switch {
	case i >= len(b):
		return i, ErrSyntax
	case b[i] == 't':
		lit = "true"
	case b[i] == 'f':
		lit = "false"
	case b[i] == 'n':
		lit = "null"
	default:
		return i, ErrSyntax
	}
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, ErrSyntax
	}
	return i + len(lit), nil
}

// Value checks the JSON value at b[i] (no whitespace before it) and returns the index after it.
// Nesting deeper than MaxDepth is ErrDepth.
func Value(b []byte, i int) (int, error) { return value(b, i, 0) }

func value(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, ErrSyntax
	}
	if depth > MaxDepth {
		return i, ErrDepth
	}
	switch b[i] {
	case '{', '[':
		obj := b[i] == '{'
		closing := byte(']')
		if obj {
			closing = '}'
		}
		i = SkipSpace(b, i+1)
		if i < len(b) && b[i] == closing {
			return i + 1, nil
		}
		for {
			var err error
			if obj {
				if end := plainEnd(b, i); end >= 0 {
					i = end
				} else if i, _, err = String(b, i); err != nil {
					return i, err
				}
				if i = SkipSpace(b, i); i >= len(b) || b[i] != ':' {
					return i, ErrSyntax
				}
				i = SkipSpace(b, i+1)
			}
			if i, err = value(b, i, depth+1); err != nil {
				return i, err
			}
			if i = SkipSpace(b, i); i >= len(b) {
				return i, ErrSyntax
			}
			if b[i] == closing {
				return i + 1, nil
			}
			if b[i] != ',' {
				return i, ErrSyntax
			}
			i = SkipSpace(b, i+1)
		}
	case '"':
		if end := plainEnd(b, i); end >= 0 {
			return end, nil
		}
		end, _, err := String(b, i)
		return end, err
	case 't', 'f', 'n':
		return Literal(b, i)
	default:
		return Number(b, i)
	}
}

// ErrNotObject is Members' error for a value that is not an object, ErrNotArray Elements' for one
// that is not an array.
var (
	ErrNotObject = errors.New("not a JSON object")
	ErrNotArray  = errors.New("not a JSON array")
)

// ErrTrailing is the error of Members and Elements for data after the value.
var ErrTrailing = errors.New("trailing data after the JSON value")

// Members calls fn with each member of the JSON object obj, in order: the key's raw body (between
// the quotes, escapes as written; Unescape decodes it) and the raw value, both views into obj. obj
// must be one object, whitespace around it allowed; each value is checked (Value) before fn sees
// it. An error from fn stops the walk and is returned, except ErrStop, which stops it with nil.
func Members(obj []byte, fn func(key, value []byte) error) error {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return ErrNotObject
	}
	i = SkipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return trailing(obj, i+1)
	}
	for {
		// Short plain keys and string values are scanned here: String is too large to inline, and
		// its call costs as much as their scan.
		kend := plainEnd(obj, i)
		if kend < 0 {
			var err error
			if kend, _, err = String(obj, i); err != nil {
				return err
			}
		}
		key := obj[i+1 : kend-1]
		if i = SkipSpace(obj, kend); i >= len(obj) || obj[i] != ':' {
			return ErrSyntax
		}
		i = SkipSpace(obj, i+1)
		vend := plainEnd(obj, i)
		if vend < 0 {
			var err error
			if vend, err = value(obj, i, 1); err != nil {
				return err
			}
		}
		if err := fn(key, obj[i:vend]); err != nil {
			if err == ErrStop {
				return nil
			}
			return err
		}
		if i = SkipSpace(obj, vend); i >= len(obj) {
			return ErrSyntax
		}
		if obj[i] == '}' {
			return trailing(obj, i+1)
		}
		if obj[i] != ',' {
			return ErrSyntax
		}
		i = SkipSpace(obj, i+1)
	}
}

// Elements calls fn with each element of the JSON array arr, in order, as a view into arr; the
// rules are Members'.
func Elements(arr []byte, fn func(value []byte) error) error {
	i := SkipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return ErrNotArray
	}
	i = SkipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return trailing(arr, i+1)
	}
	for {
		end, err := member(arr, i)
		if err != nil {
			return err
		}
		if err := fn(arr[i:end]); err != nil {
			if err == ErrStop {
				return nil
			}
			return err
		}
		if i = SkipSpace(arr, end); i >= len(arr) {
			return ErrSyntax
		}
		if arr[i] == ']' {
			return trailing(arr, i+1)
		}
		if arr[i] != ',' {
			return ErrSyntax
		}
		i = SkipSpace(arr, i+1)
	}
}

// member is value for a member or element, with plain strings scanned first.
func member(b []byte, i int) (int, error) {
	if end := plainEnd(b, i); end >= 0 {
		return end, nil
	}
	return value(b, i, 1)
}

// plainEnd returns the index after the plain string (ASCII, no escapes) at b[i], or -1 if there is
// none: String decides then. Small enough to be inlined.
func plainEnd(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	j := i + 1
	for j < len(b) && !special[b[j]] {
		j++
	}
	if j < len(b) && b[j] == '"' {
		return j + 1
	}
	return -1
}

func trailing(b []byte, i int) error {
	if SkipSpace(b, i) != len(b) {
		return ErrTrailing
	}
	return nil
}
