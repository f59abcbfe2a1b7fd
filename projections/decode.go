package projections

import (
	"errors"
	"time"

	"github.com/freezeledger/freezeledger/internal/jsonwire"
)

// This file decodes the few fields the read models need from an event's data and metadata JSON.
// encoding/json costs about a microsecond per small object, two per event, which alone would cap a
// rebuild near the 500,000 events/s target; the scanner below walks an object's top-level members
// without reflection (internal/jsonwire, the module's one JSON scanner) and returns byte views into
// the input; strings with escapes are decoded as encoding/json decodes them, and odd time forms go
// to time.Parse, so the fast path changes speed, never results.

var errMalformed = errors.New("malformed JSON object")

// eachMember calls fn with the raw key (without quotes, escapes as written) and the raw value of each
// member of the JSON object b, in order (jsonwire.Members). fn returns jsonwire.ErrStop to stop
// early (the rest of b is then not checked); it returns no other error.
func eachMember(b []byte, fn func(key, val []byte) error) error {
	if jsonwire.Members(b, fn) != nil {
		return errMalformed
	}
	return nil
}

// strBytes returns the content of the JSON string raw (with quotes) as bytes, decoded as
// encoding/json decodes it (a view into raw unless it has escapes or invalid UTF-8). null is the
// empty string. raw is a value eachMember or strArray yielded, so its syntax is already checked.
func strBytes(raw []byte) ([]byte, error) {
	if len(raw) == 4 && string(raw) == "null" {
		return nil, nil
	}
	if len(raw) < 2 || raw[0] != '"' {
		return nil, errMalformed
	}
	return jsonwire.Unescape(raw[1 : len(raw)-1]), nil
}

// strArray decodes a JSON array of strings, calling fn with each element's bytes.
func strArray(raw []byte, fn func([]byte)) error {
	if len(raw) == 4 && string(raw) == "null" {
		return nil
	}
	err := jsonwire.Elements(raw, func(v []byte) error {
		s, err := strBytes(v)
		if err != nil {
			return err
		}
		fn(s)
		return nil
	})
	if err != nil {
		return errMalformed
	}
	return nil
}

// parseTime parses an RFC 3339 time as Go's JSON encoding writes it, returning Unix nanoseconds.
// The common form "2006-01-02T15:04:05[.fff…]Z" is parsed by hand; any other goes to time.Parse.
func parseTime(raw []byte) (int64, error) {
	s, err := strBytes(raw)
	if err != nil {
		return 0, err
	}
	if len(s) == 0 {
		return 0, nil
	}
	if t, ok := parseUTC(s); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return 0, err
	}
	return t.UnixNano(), nil
}

func parseUTC(s []byte) (int64, bool) {
	if len(s) < 20 || s[len(s)-1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(s[0:4])
	mo, ok2 := num(s[5:7])
	d, ok3 := num(s[8:10])
	h, ok4 := num(s[11:13])
	mi, ok5 := num(s[14:16])
	se, ok6 := num(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59 {
		return 0, false
	}
	ns := 0
	frac := s[19 : len(s)-1]
	if len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return 0, false
		}
		f, ok := num(frac[1:])
		if !ok {
			return 0, false
		}
		for k := len(frac) - 1; k < 9; k++ {
			f *= 10
		}
		ns = f
	}
	t := time.Date(y, time.Month(mo), d, h, mi, se, ns, time.UTC)
	if t.Day() != d { // e.g. February 30th normalised away: not a valid time
		return 0, false
	}
	return t.UnixNano(), true
}

// decoded is what the read models take from one event: byte views into its data and metadata.
type decoded struct {
	partnerID, customerID, name, ptype, parentID, distributorID, accountManager []byte
	freezeType, origin, reason, kind, id, channel                               []byte
	tags, perms                                                                 [][]byte
	personal                                                                    []byte // raw JSON of customer.associated's personal (rule 21)
	deadline                                                                    int64  // retention deadline, Unix ns, 0 if none

	actorName, actorPartner []byte
	time                    int64 // metadata time, Unix ns; 0 if absent
}

func (d *decoded) reset() {
	tags, perms := d.tags[:0], d.perms[:0]
	*d = decoded{tags: tags, perms: perms}
}

// decodeEvent fills d from an event's data and metadata. Unknown members are ignored.
func decodeEvent(d *decoded, data, meta []byte) error {
	d.reset()
	var err error
	set := func(dst *[]byte, v []byte) {
		if err != nil {
			return
		}
		*dst, err = strBytes(v)
	}
	perr := eachMember(data, func(k, v []byte) error {
		switch string(k) {
		case "partner_id":
			set(&d.partnerID, v)
		case "customer_id":
			set(&d.customerID, v)
		case "name":
			set(&d.name, v)
		case "type":
			set(&d.ptype, v)
		case "parent_id":
			set(&d.parentID, v)
		case "distributor_id":
			set(&d.distributorID, v)
		case "account_manager":
			set(&d.accountManager, v)
		case "freeze_type":
			set(&d.freezeType, v)
		case "origin":
			set(&d.origin, v)
		case "reason":
			set(&d.reason, v)
		case "kind":
			set(&d.kind, v)
		case "id":
			set(&d.id, v)
		case "channel":
			set(&d.channel, v)
		case "tags":
			if err == nil {
				err = strArray(v, func(s []byte) { d.tags = append(d.tags, s) })
			}
		case "permissions":
			if err == nil {
				err = strArray(v, func(s []byte) { d.perms = append(d.perms, s) })
			}
		case "personal":
			d.personal = v
		case "retention_deadline":
			if err == nil && string(v) != "null" {
				d.deadline, err = parseTime(v)
			}
		}
		return nil
	})
	if perr != nil {
		return perr
	}
	if err != nil {
		return err
	}
	if len(meta) == 0 {
		return nil
	}
	seen := 0
	perr = eachMember(meta, func(k, v []byte) error {
		switch string(k) {
		case "actor":
			seen++
			if err == nil {
				err = eachMember(v, func(k, v []byte) error {
					switch string(k) {
					case "name":
						set(&d.actorName, v)
					case "partner_id":
						set(&d.actorPartner, v)
					}
					return err
				})
			}
		case "time":
			seen++
			if err == nil {
				d.time, err = parseTime(v)
			}
		}
		if seen >= 2 || err != nil {
			return jsonwire.ErrStop
		}
		return nil
	})
	if perr != nil {
		return perr
	}
	return err
}
