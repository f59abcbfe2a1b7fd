package embedded

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/eventstore"
)

// recordVersion is the first byte of every record's canonical encoding.
const recordVersion = 1

// ChainSize is the size of a chain value: a SHA-256 sum.
const ChainSize = sha256.Size

// A record is stored in the events bucket under its position (8 bytes, big-endian) as its canonical
// bytes followed by its chain value (ChainSize bytes).
//
// The canonical bytes of a record (format version 1) are, in order, with all integers big-endian:
//
//	offset  size   field
//	0       1      format version, 1
//	1       8      position: the record's 1-based global sequence number (uint64)
//	9       16     event ID (the UUID's 16 bytes)
//	25      8      stream revision (uint64, 0-based)
//	33      8      commit time, Unix nanoseconds UTC (int64)
//	41      2      length S of the stream name (uint16), then the S bytes of the stream name
//	43+S    2      length T of the event type (uint16), then the T bytes of the type
//	45+S+T  4      length D of the data (uint32), then the D bytes of the data
//	49+S+T+D 4     length M of the metadata (uint32), then the M bytes of the metadata
//
// Nothing follows the metadata: the canonical bytes are exactly 53+S+T+D+M bytes long.
//
// The chain value of record n is SHA-256(chain value of record n-1 || canonical bytes of record n);
// the chain value "of record 0" (before the first record) is 32 zero bytes. Because the canonical
// bytes include the position, a record moved, removed, inserted or altered anywhere breaks the chain
// at that record or the next, and the store's last chain value (kept in the meta bucket) commits to
// the whole log.
const recordFixed = 1 + 8 + 16 + 8 + 8 + 2 + 2 + 4 + 4

// canonicalSize is the size of the canonical bytes of a record of stream with event e.
func canonicalSize(stream string, e *eventstore.EventData) int {
	return recordFixed + len(stream) + len(e.Type) + len(e.Data) + len(e.Metadata)
}

// encodeRecord returns the stored value of a record (canonical bytes then chain value) and its chain
// value, a sub-slice of the returned value.
func encodeRecord(prev *[ChainSize]byte, pos uint64, stream string, rev uint64, created int64, e *eventstore.EventData) (value []byte, chain [ChainSize]byte) {
	n := canonicalSize(stream, e)
	b := make([]byte, n, n+ChainSize)
	b[0] = recordVersion
	binary.BigEndian.PutUint64(b[1:], pos)
	copy(b[9:25], e.ID[:])
	binary.BigEndian.PutUint64(b[25:], rev)
	binary.BigEndian.PutUint64(b[33:], uint64(created))
	i := 41
	binary.BigEndian.PutUint16(b[i:], uint16(len(stream)))
	i += 2 + copy(b[i+2:], stream)
	binary.BigEndian.PutUint16(b[i:], uint16(len(e.Type)))
	i += 2 + copy(b[i+2:], e.Type)
	binary.BigEndian.PutUint32(b[i:], uint32(len(e.Data)))
	i += 4 + copy(b[i+4:], e.Data)
	binary.BigEndian.PutUint32(b[i:], uint32(len(e.Metadata)))
	copy(b[i+4:], e.Metadata)
	chain = chainNext(prev, b)
	return append(b, chain[:]...), chain
}

func chainNext(prev *[ChainSize]byte, canonical []byte) [ChainSize]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(canonical)
	var out [ChainSize]byte
	h.Sum(out[:0])
	return out
}

// rawRecord is a stored value split into its fields, pointing into the value.
type rawRecord struct {
	pos       uint64
	id        uuid.UUID
	rev       uint64
	created   int64
	stream    []byte
	typ       []byte
	data      []byte
	meta      []byte
	canonical []byte
	chain     []byte
}

// parseRecord splits a stored value. It checks the structure only (version, lengths), not the chain.
func parseRecord(v []byte) (rawRecord, error) {
	var r rawRecord
	if len(v) < recordFixed+ChainSize {
		return r, fmt.Errorf("record is %d bytes, shorter than the smallest record (%d)", len(v), recordFixed+ChainSize)
	}
	if v[0] != recordVersion {
		return r, fmt.Errorf("record format version is %d, want %d", v[0], recordVersion)
	}
	r.pos = binary.BigEndian.Uint64(v[1:])
	copy(r.id[:], v[9:25])
	r.rev = binary.BigEndian.Uint64(v[25:])
	r.created = int64(binary.BigEndian.Uint64(v[33:]))
	end := len(v) - ChainSize
	i := 41
	field := func(lenSize int) ([]byte, bool) {
		if i+lenSize > end {
			return nil, false
		}
		var n int
		if lenSize == 2 {
			n = int(binary.BigEndian.Uint16(v[i:]))
		} else {
			n = int(binary.BigEndian.Uint32(v[i:]))
		}
		i += lenSize
		if n > end-i {
			return nil, false
		}
		f := v[i : i+n : i+n]
		i += n
		return f, true
	}
	var ok bool
	if r.stream, ok = field(2); !ok {
		return r, fmt.Errorf("record's stream name overruns the record")
	}
	if r.typ, ok = field(2); !ok {
		return r, fmt.Errorf("record's event type overruns the record")
	}
	if r.data, ok = field(4); !ok {
		return r, fmt.Errorf("record's data overruns the record")
	}
	if r.meta, ok = field(4); !ok {
		return r, fmt.Errorf("record's metadata overruns the record")
	}
	if i != end {
		return r, fmt.Errorf("record has %d unexpected bytes after its metadata", end-i)
	}
	r.canonical = v[:end:end]
	r.chain = v[end:]
	return r, nil
}

// decoder turns stored values into RecordedEvents, copying what it needs out of bbolt's memory with
// few allocations: data and metadata are carved from shared slabs, and stream names and event types
// are interned. A decoder's slabs double from firstSlabSize up to slabSize, so a read of one event
// (history and audit pages read events one by one) allocates about its own size, and a long read
// still one slab per 64 KiB.
type decoder struct {
	slab    []byte
	strings map[string]string
}

const (
	slabSize      = 64 << 10
	firstSlabSize = 1 << 10
)

func (d *decoder) bytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if len(b) > slabSize/4 {
		return append([]byte(nil), b...)
	}
	if len(d.slab)+len(b) > cap(d.slab) {
		n := min(slabSize, max(firstSlabSize, 2*cap(d.slab)))
		for n < len(b) {
			n *= 2
		}
		d.slab = make([]byte, 0, n)
	}
	start := len(d.slab)
	d.slab = append(d.slab, b...)
	return d.slab[start:len(d.slab):len(d.slab)]
}

func (d *decoder) intern(b []byte) string {
	if s, ok := d.strings[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.strings == nil {
		d.strings = make(map[string]string)
	}
	if len(d.strings) < 4096 {
		d.strings[s] = s
	}
	return s
}

func (d *decoder) decode(v []byte) (eventstore.RecordedEvent, error) {
	r, err := parseRecord(v)
	if err != nil {
		return eventstore.RecordedEvent{}, err
	}
	return eventstore.RecordedEvent{
		ID:       r.id,
		Type:     d.intern(r.typ),
		Stream:   d.intern(r.stream),
		Revision: r.rev,
		Position: eventstore.Position{Commit: r.pos, Prepare: r.pos},
		Created:  time.Unix(0, r.created).UTC(),
		Data:     d.bytes(r.data),
		Metadata: d.bytes(r.meta),
	}, nil
}
