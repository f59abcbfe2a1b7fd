package leaf

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// Record is a stored event as the leaf format takes it: the store's fields in plain form, so that
// this package needs nothing of the store. Position is the store's position as shown in exports
// (see ParsePosition), EventID the event's UUID in its canonical text form, Metadata the stored
// metadata object (with "actor" and "time" among its members), Data the stored data.
type Record struct {
	Position string
	EventID  string
	Type     string
	Stream   string
	Revision uint64
	Data     []byte
	Metadata []byte
}

// FromRecord builds the public Event of a stored event at leaf index index, with its leaf hash.
// Metadata holds the stored metadata's members other than actor and time, in canonical form.
func FromRecord(rec Record, index uint64) (Event, error) {
	var enc Encoder
	ev, err := enc.Decode(rec, index)
	if err != nil {
		return Event{}, err
	}
	leaf, err := ev.ComputeLeafHash()
	if err != nil {
		return Event{}, fmt.Errorf("event %s at position %s: %w", rec.EventID, rec.Position, err)
	}
	ev.LeafHash = base64.StdEncoding.EncodeToString(leaf[:])
	return ev, nil
}

// Encoder turns stored events into Events and leaf hashes, reusing its buffers: the form for
// ingesting and exporting many events. An Event it returns aliases its buffers until the next call.
// The zero Encoder is ready to use; it is not safe for concurrent use.
type Encoder struct {
	c     canonicalizer
	meta  []byte
	canon []byte
}

// Decode is FromRecord without the leaf hash (see LeafHash), in one pass over the metadata: actor
// and time are taken out, the rest is written in canonical form.
func (enc *Encoder) Decode(rec Record, index uint64) (Event, error) {
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
		return Event{}, fmt.Errorf("event %s at position %s: metadata is not a JSON object: %w", rec.EventID, rec.Position, err)
	}
	actor, err := decodeActor(actorRaw)
	if err != nil {
		return Event{}, fmt.Errorf("event %s at position %s: metadata actor: %w", rec.EventID, rec.Position, err)
	}
	t, err := decodeTime(timeRaw)
	if err != nil {
		return Event{}, fmt.Errorf("event %s at position %s: metadata time: %w", rec.EventID, rec.Position, err)
	}
	if enc.meta, err = enc.c.sortedMembers(enc.meta[:0], rec.Metadata, 0, 0); err != nil {
		return Event{}, fmt.Errorf("event %s at position %s: metadata: %w", rec.EventID, rec.Position, err)
	}
	return Event{
		Index:    index,
		Position: rec.Position,
		EventID:  rec.EventID,
		Type:     rec.Type,
		Stream:   rec.Stream,
		Revision: rec.Revision,
		Time:     formatTime(t, timeRaw),
		Actor:    actor,
		Data:     json.RawMessage(rec.Data),
		Metadata: json.RawMessage(enc.meta),
	}, nil
}

// LeafHash returns the leaf hash of an Event from Decode (whose metadata is already canonical); its
// canonical bytes are Canonical until the next call.
func (enc *Encoder) LeafHash(ev *Event) ([32]byte, error) {
	var err error
	// The RFC 6962 leaf prefix goes first so that one Sum256 hashes it all.
	if enc.canon, err = ev.appendCanonicalWith(append(enc.canon[:0], 0), true, &enc.c); err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(enc.canon), nil
}

// Canonical is the canonical bytes of the last leaf LeafHash computed.
func (enc *Encoder) Canonical() []byte { return enc.canon[1:] }

// decodeActor decodes the metadata's actor object as json.Unmarshal into Actor would, with a fast
// path for the usual object of string members.
func decodeActor(raw []byte) (Actor, error) {
	var a Actor
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
			a.Role = string(s)
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
	a = Actor{}
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
