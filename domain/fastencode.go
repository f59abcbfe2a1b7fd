package domain

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/freezeledger/freezeledger/internal/jsonwire"
)

// A fast path for encoding what the hot path emits most (issue 14: a usage batch of 1,000 records
// over 1,000 customers emits 1,000 usage.recorded events, and json.Marshal of payload and metadata
// was the largest entry of the emission): usage.recorded payloads and every event's metadata are
// written by hand, byte for byte what json.Marshal writes (fields in struct order, omitempty as
// tagged, strings escaped HTML-safe by jsonwire.AppendString, times as Time.MarshalJSON writes
// them). Anything it does not handle (another payload type, a time json.Marshal refuses) makes it
// report false, and the caller falls back to encoding/json, so the bytes never differ.
// TestFastEncodeMatchesEncodingJSON and FuzzFastEncode hold it to that.

// appendData appends v's JSON as json.Marshal writes it, or reports false for a payload it does
// not handle (dst is then returned unchanged in length).
func appendData(dst []byte, v any) ([]byte, bool) {
	switch d := v.(type) {
	case *UsageRecorded:
		if d == nil {
			return dst, false
		}
		return appendUsageRecorded(dst, d)
	case UsageRecorded:
		return appendUsageRecorded(dst, &d)
	}
	return dst, false
}

func appendUsageRecorded(dst []byte, d *UsageRecorded) ([]byte, bool) {
	n := len(dst)
	dst = append(dst, `{"customer_id":`...)
	dst = jsonwire.AppendString(dst, d.CustomerID, jsonwire.HTMLSafe)
	dst = append(dst, `,"records":`...)
	if d.Records == nil {
		return append(dst, "null}"...), true
	}
	dst = append(dst, '[')
	for i := range d.Records {
		r := &d.Records[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"record_id":`...)
		dst = jsonwire.AppendString(dst, r.RecordID, jsonwire.HTMLSafe)
		dst = append(dst, `,"amount":"`...)
		dst = r.Amount.AppendText(dst)
		dst = append(dst, `","time":`...)
		var ok bool
		if dst, ok = appendTime(dst, r.Time); !ok {
			return dst[:n], false
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...), true
}

// appendTime appends t quoted as Time.MarshalJSON writes it, or reports false where MarshalJSON
// fails (a year outside 0 to 9999, an offset it cannot write).
func appendTime(dst []byte, t time.Time) ([]byte, bool) {
	out, err := t.AppendText(append(dst, '"')) // the strict RFC 3339 form MarshalJSON writes, and the same checks
	if err != nil {
		return dst, false // (AppendText returns nil then)
	}
	return append(out, '"'), true
}

// appendMetadata appends m's JSON as json.Marshal writes it, or reports false (a time MarshalJSON
// refuses).
func appendMetadata(dst []byte, m *Metadata) ([]byte, bool) {
	n := len(dst)
	dst = append(dst, `{"schema_version":`...)
	dst = strconv.AppendInt(dst, int64(m.SchemaVersion), 10)
	dst = append(dst, `,"actor":{"name":`...)
	dst = jsonwire.AppendString(dst, m.Actor.Name, jsonwire.HTMLSafe)
	dst = append(dst, `,"role":`...)
	dst = jsonwire.AppendString(dst, m.Actor.Role, jsonwire.HTMLSafe)
	dst = append(dst, `,"partner_id":`...)
	dst = jsonwire.AppendString(dst, m.Actor.PartnerID, jsonwire.HTMLSafe)
	dst = append(dst, `},"time":`...)
	var ok bool
	if dst, ok = appendTime(dst, m.Time); !ok {
		return dst[:n], false
	}
	member := func(key, v string) {
		if v != "" {
			dst = append(dst, key...)
			dst = jsonwire.AppendString(dst, v, jsonwire.HTMLSafe)
		}
	}
	member(`,"request_id":`, m.RequestID)
	member(`,"idempotency_key":`, m.IdempotencyKey)
	member(`,"on_behalf_of":`, m.OnBehalfOf)
	member(`,"command_hash":`, m.CommandHash)
	member(`,"verification":`, m.Verification)
	if m.ActorAdmin {
		dst = append(dst, `,"actor_admin":true`...)
	}
	member(`,"actor_customer_id":`, m.ActorCustomerID)
	return append(dst, '}'), true
}

// EncodeData encodes an event payload (a value DecodeData returns, or the value it points to) as
// json.Marshal does, byte for byte, faster for the payloads the fast path knows.
func EncodeData(v any) ([]byte, error) {
	if b, ok := appendData(nil, v); ok {
		return b, nil
	}
	return json.Marshal(v)
}
