package leaf

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
)

// TimeFormat is the format of every timestamp the API shows: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Actor is who appended an event, as the stored metadata's "actor" object holds it (the JSON shape
// of the domain's actor: name, role, partner_id).
type Actor struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	PartnerID string `json:"partner_id"`
}

// Event is an event as the API and exports show it (docs/HTTP-API.md, "Event shape").
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
	Actor    Actor           `json:"actor"`
	Data     json.RawMessage `json:"data"`
	Metadata json.RawMessage `json:"metadata"`
	LeafHash string          `json:"leaf_hash"`
}

// CanonicalBytes are the bytes of the event's Merkle leaf, as the package documentation defines
// them: the event's JSON object without "index", "position" and "leaf_hash", canonicalised
// (Canonicalize). The leaf hash is SHA-256(0x00 || CanonicalBytes), as RFC 6962 hashes leaves.
func (e Event) CanonicalBytes() ([]byte, error) {
	return e.appendCanonicalWith(nil, false, &canonicalizer{})
}

// appendCanonicalWith appends CanonicalBytes to dst. It writes the members in their sorted order
// directly rather than building and re-parsing a JSON object; the tests check it against that.
// metaCanonical says e.Metadata is already in canonical form (as decode writes it).
func (e *Event) appendCanonicalWith(dst []byte, metaCanonical bool, c *canonicalizer) ([]byte, error) {
	var err error
	dst = append(dst, `{"actor":{"name":`...)
	dst = appendString(dst, e.Actor.Name)
	dst = append(dst, `,"partner_id":`...)
	dst = appendString(dst, e.Actor.PartnerID)
	dst = append(dst, `,"role":`...)
	dst = appendString(dst, e.Actor.Role)
	dst = append(dst, `},"data":`...)
	if dst, err = c.appendRaw(dst, e.Data); err != nil {
		return nil, fmt.Errorf("canonical bytes: data: %w", err)
	}
	dst = append(dst, `,"event_id":`...)
	dst = appendString(dst, e.EventID)
	dst = append(dst, `,"metadata":`...)
	if metaCanonical && len(e.Metadata) > 0 {
		dst = append(dst, e.Metadata...)
	} else if dst, err = c.appendRaw(dst, e.Metadata); err != nil {
		return nil, fmt.Errorf("canonical bytes: metadata: %w", err)
	}
	dst = append(dst, `,"revision":`...)
	dst = strconv.AppendUint(dst, e.Revision, 10)
	dst = append(dst, `,"stream":`...)
	dst = appendString(dst, e.Stream)
	dst = append(dst, `,"time":`...)
	dst = appendString(dst, e.Time)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, e.Type)
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
