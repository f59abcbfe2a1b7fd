package leaf

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// An export line (JSON Lines, one event per line) is the event's API shape with the members the leaf
// covers in their canonical form and order between "position" and "leaf_hash":
//
//	{"index":I,"position":"P",<the members of the leaf bytes>,"leaf_hash":"H"}
//
// so that the leaf bytes can be read off a line. A verifier does not rely on that layout: it parses
// the line and recomputes the leaf bytes (LineParser), so that a line re-serialised by another tool
// still verifies.

// AppendLine appends ev's export line, newline included, to dst; canon are ev's canonical bytes
// (CanonicalBytes, or Encoder.Canonical after Encoder.LeafHash) and ev.LeafHash its leaf hash in
// base64.
func AppendLine(dst []byte, ev *Event, canon []byte) []byte {
	dst = append(dst, `{"index":`...)
	dst = strconv.AppendUint(dst, ev.Index, 10)
	dst = append(dst, `,"position":`...)
	dst = appendString(dst, ev.Position)
	dst = append(dst, ',')
	dst = append(dst, canon[1:len(canon)-1]...)
	dst = append(dst, `,"leaf_hash":"`...)
	dst = append(dst, ev.LeafHash...)
	return append(dst, "\"}\n"...)
}

// Line is what an export line says besides its leaf bytes: the members a verifier checks or
// replays. The byte slices alias the parsed line.
type Line struct {
	Index                              uint64
	Position, EventID, Type, Stream    string
	Time                               string
	Revision                           uint64
	Actor, Data, Metadata, RawTime     []byte // raw JSON values as written in the line
	LeafHash                           string
	HasIndex, HasRevision, HasMetadata bool
	// Redacted: a line of a scoped bundle that shows only where an event is (index, stream,
	// revision) and its leaf hash, not its content (AppendRedactedLine). Parse takes its leaf hash
	// from the line; only a scoped bundle's verifier accepts one.
	Redacted bool
}

// AppendRedactedLine appends the redacted line of an event, newline included:
//
//	{"index":I,"stream":"S","revision":R,"leaf_hash":"H","redacted":true}
//
// A scoped bundle shows so the events of its streams that are outside the auditor's subtree: the
// stream's revisions stay contiguous and every leaf is still proved, without the content.
func AppendRedactedLine(dst []byte, index uint64, stream string, revision uint64, leafHash string) []byte {
	dst = append(dst, `{"index":`...)
	dst = strconv.AppendUint(dst, index, 10)
	dst = append(dst, `,"stream":`...)
	dst = appendString(dst, []byte(stream))
	dst = append(dst, `,"revision":`...)
	dst = strconv.AppendUint(dst, revision, 10)
	dst = append(dst, `,"leaf_hash":`...)
	dst = appendString(dst, []byte(leafHash))
	return append(dst, ",\"redacted\":true}\n"...)
}

// LineParser parses export lines and recomputes their leaf hashes, reusing its buffers. The zero
// LineParser is ready to use; it is not safe for concurrent use.
type LineParser struct {
	c     canonicalizer
	canon []byte
}

// Parse extracts the members of an export line and computes its leaf hash from its canonical bytes
// (the object without index, position and leaf_hash, canonicalised), in one pass. The line must be
// a JSON object with index, event_id and leaf_hash; index and revision must be non-negative
// integers, the other named members strings.
func (p *LineParser) Parse(raw []byte) (Line, [32]byte, error) {
	var f Line
	str := func(v []byte, name string) (string, error) {
		if len(v) == 0 || v[0] != '"' {
			return "", fmt.Errorf("%s is not a string", name)
		}
		s, _, err := scanString(v, 0)
		return string(s), err
	}
	num := func(v []byte, name string) (uint64, error) {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s is not a non-negative integer", name)
		}
		return n, nil
	}
	c := &p.c
	c.members = c.members[:0]
	err := forEachMember(raw, func(key, value []byte) error {
		var err error
		switch string(key) {
		case "index", "position", "leaf_hash":
		default:
			off := cap(raw) - cap(value)
			c.members = append(c.members, member{key: key, start: off, end: off + len(value)})
		}
		switch string(key) {
		case "index":
			f.Index, err = num(value, "index")
			f.HasIndex = true
		case "revision":
			f.Revision, err = num(value, "revision")
			f.HasRevision = true
		case "position":
			f.Position, err = str(value, "position")
		case "event_id":
			f.EventID, err = str(value, "event_id")
		case "type":
			f.Type, err = str(value, "type")
		case "stream":
			f.Stream, err = str(value, "stream")
		case "time":
			f.Time, err = str(value, "time")
			f.RawTime = value
		case "leaf_hash":
			f.LeafHash, err = str(value, "leaf_hash")
		case "actor":
			f.Actor = value
		case "data":
			f.Data = value
		case "metadata":
			f.Metadata = value
			f.HasMetadata = true
		case "redacted":
			if string(value) != "true" && string(value) != "false" {
				err = errors.New("redacted is not a boolean")
			}
			f.Redacted = string(value) == "true"
		}
		return err
	})
	if err != nil {
		return f, [32]byte{}, err
	}
	if f.Redacted {
		h, err := redactedLeaf(f)
		return f, h, err
	}
	var missing []string
	for name, ok := range map[string]bool{"index": f.HasIndex, "event_id": f.EventID != "", "leaf_hash": f.LeafHash != ""} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return f, [32]byte{}, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if p.canon, err = c.sortedMembers(p.canon[:0], raw, 0, 0); err != nil {
		return f, [32]byte{}, err
	}
	return f, HashLeaf(p.canon), nil
}

// redactedLeaf checks a redacted line's members and decodes its leaf hash.
func redactedLeaf(f Line) ([32]byte, error) {
	var h [32]byte
	if !f.HasIndex || !f.HasRevision || f.Stream == "" || f.LeafHash == "" {
		return h, errors.New("a redacted line needs index, stream, revision and leaf_hash")
	}
	if f.EventID != "" || f.Data != nil || f.Metadata != nil || f.Actor != nil {
		return h, errors.New("a redacted line shows no event content")
	}
	b, err := base64.StdEncoding.DecodeString(f.LeafHash)
	if err != nil || len(b) != len(h) {
		return h, errors.New("leaf_hash is not 32 bytes of base64")
	}
	copy(h[:], b)
	return h, nil
}

// Canonical is the leaf bytes of the last line Parse accepted, until the next call.
func (p *LineParser) Canonical() []byte { return p.canon }
