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
func FromRecorded(rec eventstore.RecordedEvent, index uint64) (Event, error) {
	var meta map[string]json.RawMessage
	if err := json.Unmarshal(rec.Metadata, &meta); err != nil {
		return Event{}, fmt.Errorf("event %s at position %s: metadata is not a JSON object: %w", rec.ID, rec.Position, err)
	}
	var actor domain.Actor
	if raw, ok := meta["actor"]; ok {
		if err := json.Unmarshal(raw, &actor); err != nil {
			return Event{}, fmt.Errorf("event %s at position %s: metadata actor: %w", rec.ID, rec.Position, err)
		}
	}
	var t time.Time
	if raw, ok := meta["time"]; ok {
		if err := json.Unmarshal(raw, &t); err != nil {
			return Event{}, fmt.Errorf("event %s at position %s: metadata time: %w", rec.ID, rec.Position, err)
		}
	}
	delete(meta, "actor")
	delete(meta, "time")
	rest, err := json.Marshal(meta)
	if err != nil {
		return Event{}, err
	}
	ev := Event{
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
	}
	leaf, err := ev.ComputeLeafHash()
	if err != nil {
		return Event{}, fmt.Errorf("event %s at position %s: %w", rec.ID, rec.Position, err)
	}
	ev.LeafHash = base64.StdEncoding.EncodeToString(leaf[:])
	return ev, nil
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
	obj := map[string]any{
		"event_id": e.EventID,
		"type":     e.Type,
		"stream":   e.Stream,
		"revision": e.Revision,
		"time":     e.Time,
		"actor":    e.Actor,
		"data":     e.Data,
		"metadata": e.Metadata,
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("canonical bytes: %w", err)
	}
	return Canonicalize(raw)
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

// Canonicalize re-serialises a JSON value in the canonical form described at CanonicalBytes.
func Canonicalize(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("canonicalize: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("canonicalize: trailing data after the JSON value")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("canonicalize: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
