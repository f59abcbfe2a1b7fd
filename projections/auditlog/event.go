// Package auditlog makes the ledger verifiable: the public shape of an event (the one history,
// audit events and exports use), its canonical bytes and leaf hash, the RFC 6962 Merkle tree over all
// events in global log order, signed checkpoints, proofs, exports and the offline verifier.
package auditlog

import (
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
	var actorRaw, timeRaw []byte
	err := forEachMember(rec.Metadata, func(key, value []byte) error {
		switch string(key) {
		case "actor":
			actorRaw = value
		case "time":
			timeRaw = value
		}
		return nil
	})
	if err != nil {
		return Event{}, fmt.Errorf("event %s at position %s: metadata is not a JSON object: %w", rec.ID, rec.Position, err)
	}
	var actor domain.Actor
	if actorRaw != nil {
		if err := json.Unmarshal(actorRaw, &actor); err != nil {
			return Event{}, fmt.Errorf("event %s at position %s: metadata actor: %w", rec.ID, rec.Position, err)
		}
	}
	var t time.Time
	if timeRaw != nil {
		if err := json.Unmarshal(timeRaw, &t); err != nil {
			return Event{}, fmt.Errorf("event %s at position %s: metadata time: %w", rec.ID, rec.Position, err)
		}
	}
	rest, err := canonicalObjectExcept(nil, rec.Metadata, func(key []byte) bool {
		return string(key) == "actor" || string(key) == "time"
	})
	if err != nil {
		return Event{}, fmt.Errorf("event %s at position %s: metadata: %w", rec.ID, rec.Position, err)
	}
	return Event{
		Index:    index,
		Position: rec.Position.String(),
		EventID:  rec.ID.String(),
		Type:     rec.Type,
		Stream:   rec.Stream,
		Revision: rec.Revision,
		Time:     t.UTC().Format(TimeFormat),
		Actor:    actor,
		Data:     json.RawMessage(rec.Data),
		Metadata: json.RawMessage(rest),
	}, nil
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
	return e.appendCanonical(nil)
}

// appendCanonical appends CanonicalBytes to dst. It writes the members in their sorted order
// directly rather than building and re-parsing a JSON object; the tests check it against that.
func (e Event) appendCanonical(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, `{"actor":{"name":`...)
	dst = appendString(dst, []byte(e.Actor.Name))
	dst = append(dst, `,"partner_id":`...)
	dst = appendString(dst, []byte(e.Actor.PartnerID))
	dst = append(dst, `,"role":`...)
	dst = appendString(dst, []byte(e.Actor.Role))
	dst = append(dst, `},"data":`...)
	if dst, err = appendRawCanonical(dst, e.Data); err != nil {
		return nil, fmt.Errorf("canonical bytes: data: %w", err)
	}
	dst = append(dst, `,"event_id":`...)
	dst = appendString(dst, []byte(e.EventID))
	dst = append(dst, `,"metadata":`...)
	if dst, err = appendRawCanonical(dst, e.Metadata); err != nil {
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

// appendRawCanonical canonicalises a raw member value; a missing one is null, as json.Marshal has it.
func appendRawCanonical(dst []byte, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return append(dst, "null"...), nil
	}
	return appendCanonical(dst, raw)
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
