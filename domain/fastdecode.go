package domain

import (
	"encoding/json"
	"runtime"
	"sync"
	"time"

	"github.com/freezeledger/freezeledger/internal/jsonwire"
)

// A fast path for decoding the service's own events when a channel is loaded (100,000 events must
// replay in well under 200 ms; encoding/json takes several microseconds per object), and for
// DecodeData (the read models decode every usage.recorded with it, issue 14). It understands
// exactly the JSON the service writes: objects with the payload's own lower-case keys, strings
// without escapes, integers, RFC 3339 times, string arrays, amounts, arrays of usage records. Its tokens are read with the module's one
// JSON scanner (internal/jsonwire); what it accepts and decodes into is this file's. Anything else (an escape, an unknown or
// differently cased key, a float, whitespace it does not expect) makes it give up, and the caller
// falls back to encoding/json, so the result is always what encoding/json would give.
// TestFastDecodeMatchesEncodingJSON and FuzzFastDecode hold it to that.

type scanner struct {
	b      []byte
	i      int
	ok     bool
	intern map[string]string // repeated values (actors, types, reasons) share one string
}

func (s *scanner) fail() bool { s.ok = false; return false }

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) expect(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return s.fail()
}

// rawString returns the body of a plain string (ASCII without escapes; see jsonwire.String), the
// quotes consumed. Any other string goes the slow way: encoding/json decodes escapes and replaces
// invalid UTF-8.
func (s *scanner) rawString() []byte {
	end, plain, err := jsonwire.String(s.b, s.i)
	if err != nil || !plain {
		s.fail()
		return nil
	}
	body := s.b[s.i+1 : end-1]
	s.i = end
	return body
}

func (s *scanner) str() string {
	b := s.rawString()
	if !s.ok {
		return ""
	}
	if s.intern == nil {
		return string(b)
	}
	if v, ok := s.intern[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(s.intern) < 1<<14 {
		s.intern[v] = v
	}
	return v
}

// unique is str for values that rarely repeat (IDs, hashes): not interned.
func (s *scanner) unique() string {
	b := s.rawString()
	if !s.ok {
		return ""
	}
	return string(b)
}

// integer reads an integer of at most 15 digits (exact in an int64 and a float64): a number with a
// fraction or an exponent goes the slow way.
func (s *scanner) integer() int64 {
	end, err := jsonwire.Number(s.b, s.i)
	if err != nil {
		s.fail()
		return 0
	}
	digits := s.b[s.i:end]
	neg := digits[0] == '-'
	if neg {
		digits = digits[1:]
	}
	if len(digits) > 15 {
		s.fail()
		return 0
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			s.fail()
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	s.i = end
	if neg {
		n = -n
	}
	return n
}

// null reads the literal null.
func (s *scanner) null() {
	if s.peek() != 'n' {
		s.fail()
		return
	}
	end, err := jsonwire.Literal(s.b, s.i)
	if err != nil {
		s.fail()
		return
	}
	s.i = end
}

func (s *scanner) timeValue() time.Time {
	b := s.rawString()
	if !s.ok {
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalText(b); err != nil { // the parser encoding/json uses for time.Time
		s.fail()
	}
	return t
}

func (s *scanner) strings() []string {
	if s.peek() == 'n' {
		s.null()
		return nil
	}
	if !s.expect('[') {
		return nil
	}
	out := []string{}
	if s.peek() == ']' {
		s.i++
		return out
	}
	for s.ok {
		out = append(out, s.str())
		if s.peek() == ',' {
			s.i++
			continue
		}
		s.expect(']')
		break
	}
	return out
}

// object calls member for each key of an object; member consumes the value and returns false for
// an unknown key. Keys must be unique (encoding/json would keep the last of duplicates).
func (s *scanner) object(member func(key []byte) bool) {
	if !s.expect('{') {
		return
	}
	if s.peek() == '}' {
		s.i++
		return
	}
	var seen [12][]byte
	n := 0
	for s.ok {
		key := s.rawString()
		if !s.ok || !s.expect(':') {
			return
		}
		for _, k := range seen[:n] {
			if string(k) == string(key) {
				s.fail()
				return
			}
		}
		if n == len(seen) {
			s.fail()
			return
		}
		seen[n] = key
		n++
		if !member(key) {
			s.fail()
			return
		}
		if !s.ok {
			return
		}
		if s.peek() == ',' {
			s.i++
			continue
		}
		s.expect('}')
		return
	}
}

func (s *scanner) end() bool { return s.ok && s.i == len(s.b) }

func fastActor(s *scanner, a *Actor) {
	s.object(func(k []byte) bool {
		switch string(k) {
		case "name":
			a.Name = s.str()
		case "role":
			a.Role = Role(s.str())
		case "partner_id":
			a.PartnerID = s.str()
		default:
			return false
		}
		return true
	})
}

// fastMetadata decodes metadata the way json.Unmarshal would, or reports false. lean skips what
// applying an event does not need (request_id, on_behalf_of), leaving them empty.
func fastMetadata(b []byte, m *Metadata, intern map[string]string, lean bool) bool {
	s := &scanner{b: b, ok: true, intern: intern}
	s.object(func(k []byte) bool {
		switch string(k) {
		case "schema_version":
			m.SchemaVersion = int(s.integer())
		case "actor":
			fastActor(s, &m.Actor)
		case "time":
			m.Time = s.timeValue()
		case "request_id":
			if lean {
				s.rawString()
			} else {
				m.RequestID = s.unique()
			}
		case "idempotency_key":
			m.IdempotencyKey = s.unique()
		case "on_behalf_of":
			if lean {
				s.rawString()
			} else {
				m.OnBehalfOf = s.str()
			}
		case "command_hash":
			m.CommandHash = s.unique()
		default:
			return false
		}
		return true
	})
	return s.end()
}

// fastData decodes the payload of the event types a channel is mostly made of, or reports false.
func fastData(typ string, b []byte, intern map[string]string) (any, bool) {
	s := &scanner{b: b, ok: true, intern: intern}
	var v any
	switch typ {
	case EventCustomerFrozen:
		d := &CustomerFrozen{}
		s.object(func(k []byte) bool {
			switch string(k) {
			case "customer_id":
				d.CustomerID = s.unique()
			case "freeze_type":
				d.FreezeType = FreezeType(s.str())
			case "previous_freeze_type":
				d.PreviousFreezeType = FreezeType(s.str())
			case "origin":
				d.Origin = Origin(s.str())
			case "reason":
				d.Reason = s.str()
			case "retention_deadline":
				if s.peek() == 'n' {
					s.null()
					d.RetentionDeadline = nil
				} else {
					t := s.timeValue()
					d.RetentionDeadline = &t
				}
			default:
				return false
			}
			return true
		})
		v = d
	case EventCustomerUnfrozen:
		d := &CustomerUnfrozen{}
		s.object(func(k []byte) bool {
			switch string(k) {
			case "customer_id":
				d.CustomerID = s.unique()
			case "unfreeze_type":
				d.UnfreezeType = FreezeType(s.str())
			case "reason":
				d.Reason = s.str()
			default:
				return false
			}
			return true
		})
		v = d
	case EventCustomerAssociated:
		d := &CustomerAssociated{}
		s.object(func(k []byte) bool {
			switch string(k) {
			case "customer_id":
				d.CustomerID = s.unique()
			case "name":
				d.Name = s.str()
			case "partner_id":
				d.PartnerID = s.str()
			case "distributor_id":
				d.DistributorID = s.str()
			case "tags":
				d.Tags = s.strings()
			case "account_manager":
				d.AccountManager = s.str()
			default:
				return false
			}
			return true
		})
		v = d
	case EventCustomerResourcesRelease:
		d := &CustomerResourcesReleased{}
		s.object(func(k []byte) bool {
			switch string(k) {
			case "customer_id":
				d.CustomerID = s.unique()
			case "frozen_at":
				d.FrozenAt = s.timeValue()
			case "reason":
				d.Reason = s.str()
			default:
				return false
			}
			return true
		})
		v = d
	case EventPartnerFrozen, EventPartnerUnfrozen:
		var id, reason string
		s.object(func(k []byte) bool {
			switch string(k) {
			case "partner_id":
				id = s.str()
			case "reason":
				reason = s.str()
			default:
				return false
			}
			return true
		})
		if typ == EventPartnerFrozen {
			v = &PartnerFrozen{PartnerID: id, Reason: reason}
		} else {
			v = &PartnerUnfrozen{PartnerID: id, Reason: reason}
		}
	case EventUsageRecorded:
		d := &UsageRecorded{}
		s.object(func(k []byte) bool {
			switch string(k) {
			case "customer_id":
				d.CustomerID = s.unique()
			case "records":
				d.Records = fastRecords(s)
			default:
				return false
			}
			return true
		})
		v = d
	default:
		return nil, false
	}
	if !s.end() {
		return nil, false
	}
	return v, true
}

// fastRecords reads usage.recorded's records: null, or an array of objects.
func fastRecords(s *scanner) []UsageRecord {
	if s.peek() == 'n' {
		s.null()
		return nil
	}
	if !s.expect('[') {
		return nil
	}
	out := []UsageRecord{}
	if s.peek() == ']' {
		s.i++
		return out
	}
	for s.ok {
		var r UsageRecord
		s.object(func(k []byte) bool {
			switch string(k) {
			case "record_id":
				r.RecordID = s.unique()
			case "amount":
				r.Amount = s.money()
			case "time":
				r.Time = s.timeValue()
			default:
				return false
			}
			return true
		})
		out = append(out, r)
		if s.peek() == ',' {
			s.i++
			continue
		}
		s.expect(']')
		break
	}
	return out
}

// money reads an amount as Money.UnmarshalJSON does, for a plain string of the form ParseMoney
// takes ("1000", "1000.5", "1000.50", at most MaxAmount); anything else goes the slow way.
func (s *scanner) money() Money {
	b := s.rawString()
	if !s.ok {
		return 0
	}
	intPart, frac := b, []byte(nil)
	for i, c := range b {
		if c == '.' {
			intPart, frac = b[:i], b[i+1:]
			if len(frac) == 0 || len(frac) > 2 {
				s.fail()
				return 0
			}
			break
		}
	}
	if len(intPart) == 0 || len(intPart) > 13 { // 13 digits: no overflow before the check below
		s.fail()
		return 0
	}
	var units int64
	for _, c := range intPart {
		if c < '0' || c > '9' {
			s.fail()
			return 0
		}
		units = units*10 + int64(c-'0')
	}
	cents := int64(0)
	for i := 0; i < 2; i++ {
		cents *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				s.fail()
				return 0
			}
			cents += int64(c - '0')
		}
	}
	m := Money(units*100 + cents)
	if m > MaxAmount {
		s.fail()
		return 0
	}
	return m
}

// decodeEvent decodes a stored event's payload and the metadata apply needs (request_id and
// on_behalf_of may be left empty): the fast path, else encoding/json. intern may be nil.
func decodeEvent(se *StoredEvent, intern map[string]string) (any, Metadata, error) {
	var m Metadata
	if len(se.Metadata) > 0 && !fastMetadata(se.Metadata, &m, intern, true) {
		m = Metadata{}
		if err := json.Unmarshal(se.Metadata, &m); err != nil {
			return nil, m, err
		}
	}
	if v, ok := fastData(se.Type, se.Data, intern); ok {
		return v, m, nil
	}
	v, err := decodeDataJSON(se.Type, se.Data)
	return v, m, err
}

type decoded struct {
	data any
	meta Metadata
	err  error
}

// decodeAll decodes events on all CPUs.
func decodeAll(evs []StoredEvent) []decoded {
	out := make([]decoded, len(evs))
	workers := runtime.GOMAXPROCS(0)
	if len(evs) < 2048 || workers < 2 {
		intern := map[string]string{}
		for i := range evs {
			out[i].data, out[i].meta, out[i].err = decodeEvent(&evs[i], intern)
		}
		return out
	}
	var wg sync.WaitGroup
	chunk := (len(evs) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(evs))
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			intern := map[string]string{}
			for i := lo; i < hi; i++ {
				out[i].data, out[i].meta, out[i].err = decodeEvent(&evs[i], intern)
			}
		}()
	}
	wg.Wait()
	return out
}
