package domain

// The snapshot format's primitives (snapshot_codec.go is the layout): unsigned and zig-zag
// varints, length-prefixed strings, flag bytes, times, counts of items that may be absent (nil) or
// empty, and length-prefixed blocks that a decoder hands to a goroutine of its own.

import (
	"encoding/binary"
	"fmt"
	"time"
)

type snapEncoder struct{ b []byte }

func (e *snapEncoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *snapEncoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *snapEncoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }

func (e *snapEncoder) flags(bits ...bool) {
	var f byte
	for i, b := range bits {
		if b {
			f |= 1 << i
		}
	}
	e.b = append(e.b, f)
}

// optCount writes the length of a slice or map that may be nil: 0 for nil, else n+1, so that a
// decoded state is nil or empty exactly where the encoded one was.
func (e *snapEncoder) optCount(n int, isNil bool) {
	if isNil {
		e.uvarint(0)
		return
	}
	e.uvarint(uint64(n) + 1)
}

// time writes a zero time as one 0 byte, any other as 1, its Unix seconds and its nanoseconds.
// The location is not kept: a decoded time is in UTC (the state's times are).
func (e *snapEncoder) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
}

// block writes the bytes of inner (another encoder's) as one block: its length, then the bytes.
func (e *snapEncoder) block(inner *snapEncoder) {
	e.uvarint(uint64(len(inner.b)))
	e.b = append(e.b, inner.b...)
}

// snapDecoder reads a snapshot whose checksum held; the first fault sticks in err (and moves off
// to the end, so every later read is a fault too) and every later read returns zero values.
type snapDecoder struct {
	s   string // the snapshot without its checksum, as one string: decoded strings are substrings
	off int
	err error
}

func (d *snapDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", errSnapshot, d.off, fmt.Sprintf(format, args...))
	}
	d.off = len(d.s)
}

// uvarint reads an unsigned varint; one byte (most lengths and counts) without a loop.
func (d *snapDecoder) uvarint() uint64 {
	if d.off < len(d.s) && d.s[d.off] < 0x80 {
		v := d.s[d.off]
		d.off++
		return uint64(v)
	}
	return d.uvarintLong()
}

func (d *snapDecoder) uvarintLong() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	var shift uint
	for i := d.off; i < len(d.s) && i < d.off+binary.MaxVarintLen64; i++ {
		b := d.s[i]
		if i == d.off+binary.MaxVarintLen64-1 && b > 1 {
			break // more than 64 bits
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			d.off = i + 1
			return v
		}
		shift += 7
	}
	d.fail("a bad varint")
	return 0
}

func (d *snapDecoder) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// count is a length that must fit in what is left (each item takes a byte at least).
func (d *snapDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.off) {
		d.fail("a count of %d with %d bytes left", n, len(d.s)-d.off)
		return 0
	}
	return int(n)
}

// countOf is a count of items of at least size bytes each that must fit in what is left (so that
// a damaged count cannot make a slab much bigger than the snapshot).
func (d *snapDecoder) countOf(size int) int {
	n := d.uvarint()
	if left := uint64(len(d.s) - d.off); n > left/uint64(size) {
		d.fail("a count of %d items of %d bytes at least with %d bytes left", n, size, left)
		return 0
	}
	return int(n)
}

// optCount reads what snapEncoder.optCount wrote: the count, and whether the slice or map was nil.
func (d *snapDecoder) optCount() (n int, isNil bool) {
	if d.off < len(d.s) && d.s[d.off] == 0 {
		d.off++
		return 0, true
	}
	n = d.count()
	if n == 0 {
		if d.err == nil {
			d.fail("a count of 0 where 1 is the least")
		}
		return 0, true
	}
	return n - 1, false
}

func (d *snapDecoder) str() string {
	n := d.count()
	s := d.s[d.off : d.off+n]
	d.off += n
	return s
}

// fixed fills dst from the next len(dst) bytes.
func (d *snapDecoder) fixed(dst []byte) {
	if d.err != nil || len(d.s)-d.off < len(dst) {
		d.fail("%d bytes wanted", len(dst))
		return
	}
	d.off += copy(dst, d.s[d.off:d.off+len(dst)])
}

func (d *snapDecoder) byte() byte {
	if d.off >= len(d.s) {
		d.fail("a byte wanted")
		return 0
	}
	b := d.s[d.off]
	d.off++
	return b
}

func (d *snapDecoder) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		sec := d.varint()
		ns := d.uvarint()
		if ns >= 1e9 {
			d.fail("a time with %d nanoseconds", ns)
			return time.Time{}
		}
		return time.Unix(sec, int64(ns)).UTC()
	}
	d.fail("a bad time tag")
	return time.Time{}
}

// block returns a decoder of the next block (snapEncoder.block) and moves d past it; the two read
// independently (another goroutine may read the block). A block decoder's faults are its own: the
// caller joins them (end).
func (d *snapDecoder) block() *snapDecoder {
	n := d.count()
	b := &snapDecoder{s: d.s[:d.off+n], off: d.off, err: d.err}
	d.off += n
	return b
}

// end checks that d read all of its bytes (what a snapshot holds of it: "the state", "the keys")
// and returns its fault, if any.
func (d *snapDecoder) end(what string) error {
	if d.err == nil && d.off != len(d.s) {
		d.fail("%d bytes after %s", len(d.s)-d.off, what)
	}
	return d.err
}
