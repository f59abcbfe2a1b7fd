// Package auditlog makes the ledger verifiable: the public shape of an event (the one history,
// audit events and exports use), its canonical bytes and leaf hash, the RFC 6962 Merkle tree over all
// events in global log order, signed checkpoints, proofs, exports and the offline verifier.
package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

// TimeFormat is the format of every timestamp the API shows: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Event is an event as the API and exports show it (shared/API.md, "Event shape").
//
// Index is the event's 0-based leaf index in the audit Merkle tree: the number of events before it
// in global log order. Position is the store's opaque position string. Actor and Time come from the
// stored metadata; Metadata is the rest of the stored metadata (request_id, idempotency_key,
// on_behalf_of, schema_version, command_hash).
type Event struct {
	Index    uint64          `json:"index"`
	Position string          `json:"position"`
	EventID  string          `json:"event_id"`
	Type     string          `json:"type"`
	Stream   string          `json:"stream"`
	Revision uint64          `json:"revision"`
	Time     string          `json:"time"`
	Actor    domain.Actor    `json:"actor"`
	Data     json.RawMessage `json:"data"`
	Metadata json.RawMessage `json:"metadata"`
	LeafHash string          `json:"leaf_hash"`
}

// FromRecorded builds the public Event of a stored event at leaf index index, with its leaf hash.
// Metadata holds the stored metadata's members other than actor and time, in canonical form.
func FromRecorded(rec eventstore.RecordedEvent, index uint64) (Event, error) {
	ev, err := fromRecorded(rec, index)
	if err != nil {
		return Event{}, err
	}
	leaf, err := ev.ComputeLeafHash()
	if err != nil {
		return Event{}, fmt.Errorf("event %s at position %s: %w", rec.ID, rec.Position, err)
	}
	ev.LeafHash = base64.StdEncoding.EncodeToString(leaf[:])
	return ev, nil
}

// fromRecorded is FromRecorded without the leaf hash.
func fromRecorded(rec eventstore.RecordedEvent, index uint64) (Event, error) {
	var enc leafEncoder
	return enc.decode(rec, index)
}

// leafEncoder turns stored events into Events and leaf hashes, reusing its buffers. An Event it
// returns aliases its buffers until the next call. Not safe for concurrent use.
type leafEncoder struct {
	c     canonicalizer
	meta  []byte
	canon []byte
}

// decode is fromRecorded in one pass over the metadata: actor and time are taken out, the rest is
// written in canonical form.
func (enc *leafEncoder) decode(rec eventstore.RecordedEvent, index uint64) (Event, error) {
	var actorRaw, timeRaw []byte
	enc.c.members = enc.c.members[:0]
	err := forEachMember(rec.Metadata, func(key, value []byte) error {
		switch string(key) {
		case "actor":
			actorRaw = value
		case "time":
			timeRaw = value
		default:
			off := cap(rec.Metadata) - cap(value)
			enc.c.members = append(enc.c.members, member{key: key, start: off, end: off + len(value)})
		}
		return nil
	})
	if err != nil {
		return Event{}, fmt.Errorf("event %s at position %s: metadata is not a JSON object: %w", rec.ID, rec.Position, err)
	}
	actor, err := decodeActor(actorRaw)
	if err != nil {
		return Event{}, fmt.Errorf("event %s at position %s: metadata actor: %w", rec.ID, rec.Position, err)
	}
	t, err := decodeTime(timeRaw)
	if err != nil {
		return Event{}, fmt.Errorf("event %s at position %s: metadata time: %w", rec.ID, rec.Position, err)
	}
	if enc.meta, err = enc.c.sortedMembers(enc.meta[:0], rec.Metadata, 0, 0); err != nil {
		return Event{}, fmt.Errorf("event %s at position %s: metadata: %w", rec.ID, rec.Position, err)
	}
	return Event{
		Index:    index,
		Position: rec.Position.String(),
		EventID:  rec.ID.String(),
		Type:     rec.Type,
		Stream:   rec.Stream,
		Revision: rec.Revision,
		Time:     formatTime(t, timeRaw),
		Actor:    actor,
		Data:     json.RawMessage(rec.Data),
		Metadata: json.RawMessage(enc.meta),
	}, nil
}

// leaf returns the leaf hash of an Event from decode (whose metadata is already canonical).
func (enc *leafEncoder) leaf(ev *Event) ([32]byte, error) {
	var err error
	// The RFC 6962 leaf prefix goes first so that one Sum256 hashes it all.
	if enc.canon, err = ev.appendCanonicalWith(append(enc.canon[:0], 0), true, &enc.c); err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(enc.canon), nil
}

// canonical is the canonical bytes of the last leaf computed.
func (enc *leafEncoder) canonical() []byte { return enc.canon[1:] }

// decodeActor decodes the metadata's actor object as json.Unmarshal into domain.Actor would, with a
// fast path for the usual object of string members.
func decodeActor(raw []byte) (domain.Actor, error) {
	var a domain.Actor
	if raw == nil || string(raw) == "null" {
		return a, nil
	}
	fast := forEachMember(raw, func(key, value []byte) error {
		if len(value) == 0 || value[0] != '"' {
			return errSyntax
		}
		s, _, err := scanString(value, 0)
		if err != nil {
			return err
		}
		switch string(key) {
		case "name":
			a.Name = string(s)
		case "role":
			a.Role = domain.Role(s)
		case "partner_id":
			a.PartnerID = string(s)
		default:
			return errSyntax // unusual: let encoding/json decide
		}
		return nil
	})
	if fast == nil {
		return a, nil
	}
	a = domain.Actor{}
	err := json.Unmarshal(raw, &a)
	return a, err
}

// formatTime is t.UTC().Format(TimeFormat), read off raw (the JSON string t was parsed from) when raw
// is already in UTC ("…Z"): Format truncates the fraction to milliseconds, so this is the same.
func formatTime(t time.Time, raw []byte) string {
	n := len(raw)
	if n >= 22 && raw[0] == '"' && raw[n-1] == '"' && raw[n-2] == 'Z' && (raw[20] == 'Z' || raw[20] == '.') && t.Year() >= 0 && t.Year() <= 9999 {
		var frac []byte
		if raw[20] == '.' {
			frac = raw[21 : n-2]
		}
		var b [24]byte
		copy(b[:19], raw[1:20])
		b[19] = '.'
		for i := 0; i < 3; i++ {
			b[20+i] = '0'
			if i < len(frac) {
				b[20+i] = frac[i]
			}
		}
		b[23] = 'Z'
		return string(b[:])
	}
	return t.UTC().Format(TimeFormat)
}

// decodeTime decodes the metadata's time as json.Unmarshal into time.Time would.
func decodeTime(raw []byte) (time.Time, error) {
	var t time.Time
	if raw == nil || string(raw) == "null" {
		return t, nil
	}
	if len(raw) > 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 {
		if t, err := time.Parse(time.RFC3339Nano, string(raw[1:len(raw)-1])); err == nil {
			return t, nil
		}
	}
	err := json.Unmarshal(raw, &t)
	return t, err
}

// CanonicalBytes are the bytes of the event's Merkle leaf. They are defined so that anyone can
// recompute them from an export line:
//
//	take the event's JSON object, remove the members "index", "position" and "leaf_hash", and
//	serialise what is left with no insignificant whitespace, object members sorted by key (bytewise,
//	at every depth), numbers as they were written, and strings escaped minimally: '"' and '\' as
//	\" and \\, control characters as \b \f \n \r \t or \u00XX, U+2028 and U+2029 as \u2028 and \u2029,
//	everything else (including '<', '>', '&' and non-ASCII) as UTF-8.
//
// That is: {"actor":{...},"data":{...},"event_id":...,"metadata":{...},"revision":N,"stream":...,"time":...,"type":...}.
// The leaf hash is SHA-256(0x00 || CanonicalBytes), as RFC 6962 hashes leaves.
func (e Event) CanonicalBytes() ([]byte, error) {
	return e.appendCanonicalWith(nil, false, &canonicalizer{})
}

// appendCanonicalWith appends CanonicalBytes to dst. It writes the members in their sorted order
// directly rather than building and re-parsing a JSON object; the tests check it against that.
// metaCanonical says e.Metadata is already in canonical form (as decode writes it).
func (e *Event) appendCanonicalWith(dst []byte, metaCanonical bool, c *canonicalizer) ([]byte, error) {
	var err error
	dst = append(dst, `{"actor":{"name":`...)
	dst = appendString(dst, []byte(e.Actor.Name))
	dst = append(dst, `,"partner_id":`...)
	dst = appendString(dst, []byte(e.Actor.PartnerID))
	dst = append(dst, `,"role":`...)
	dst = appendString(dst, []byte(e.Actor.Role))
	dst = append(dst, `},"data":`...)
	if dst, err = c.appendRaw(dst, e.Data); err != nil {
		return nil, fmt.Errorf("canonical bytes: data: %w", err)
	}
	dst = append(dst, `,"event_id":`...)
	dst = appendString(dst, []byte(e.EventID))
	dst = append(dst, `,"metadata":`...)
	if metaCanonical && len(e.Metadata) > 0 {
		dst = append(dst, e.Metadata...)
	} else if dst, err = c.appendRaw(dst, e.Metadata); err != nil {
		return nil, fmt.Errorf("canonical bytes: metadata: %w", err)
	}
	dst = append(dst, `,"revision":`...)
	dst = strconv.AppendUint(dst, e.Revision, 10)
	dst = append(dst, `,"stream":`...)
	dst = appendString(dst, []byte(e.Stream))
	dst = append(dst, `,"time":`...)
	dst = appendString(dst, []byte(e.Time))
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, []byte(e.Type))
	return append(dst, '}'), nil
}

// appendRaw canonicalises a raw member value; a missing one is null, as json.Marshal has it.
func (c *canonicalizer) appendRaw(dst []byte, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return append(dst, "null"...), nil
	}
	return c.appendCanonical(dst, raw)
}

// ComputeLeafHash is SHA-256(0x00 || CanonicalBytes()).
func (e Event) ComputeLeafHash() ([32]byte, error) {
	b, err := e.CanonicalBytes()
	if err != nil {
		return [32]byte{}, err
	}
	return HashLeaf(b), nil
}

// HashLeaf is the RFC 6962 leaf hash of leaf bytes.
func HashLeaf(leaf []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	var out [32]byte
	h.Sum(out[:0])
	return out
}
