package httpapi

import (
	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/internal/jsonwire"
)

// A fast path for POST /v1/usage's body (issue 14: 1,000 records per request, where checkKeys'
// json.Decoder.Token walk and encoding/json's reflection cost more than the domain's decisions).
// It takes only the body the billing feed sends, {"records":[{"record_id":…,"customer_id":…,
// "amount":…,"time":…},…]} with whitespace anywhere JSON allows it, every value a string of
// printable ASCII without escapes, each key exactly a field's name and given once, 1 to
// domain.MaxUsageBatch records; the decoding is the module's one scanner (internal/jsonwire).
// Anything else makes it report false, and postUsage decodes with decodeRequest (checkKeys, then
// encoding/json), which also words every refusal: the fast path changes speed, never results.
// TestDecodeUsageFastMatchesDecodeRequest and FuzzDecodeUsageFast hold it to that.

// usageRecordFields are usageRecordRequest's JSON names, in the order of the bits decodeUsageFast
// marks them with.
var usageRecordFields = [...]string{"record_id", "customer_id", "amount", "time"}

// decodeUsageFast decodes b as decodeRequest[usageRequest] would, with no error, or reports false.
// The strings it returns share one copy of b.
func decodeUsageFast(b []byte) (usageRequest, bool) {
	var req usageRequest
	var whole string // b as a string, made once: the records' strings are views of it
	str := func(val []byte) (string, bool) {
		if !plainPrintable(val) {
			return "", false
		}
		if whole == "" {
			whole = string(b)
		}
		off := cap(b) - cap(val) // val is a view into b
		return whole[off+1 : off+len(val)-1], true
	}
	seen := false
	err := jsonwire.Members(b, func(key, val []byte) error {
		if string(key) != "records" || seen || len(val) == 0 || val[0] != '[' {
			return jsonwire.ErrSyntax
		}
		seen = true
		recs := make([]usageRecordRequest, 0, min(countObjects(val), domain.MaxUsageBatch))
		err := jsonwire.Elements(val, func(el []byte) error {
			if len(recs) == domain.MaxUsageBatch {
				return jsonwire.ErrSyntax // too many: the slow path says so
			}
			var r usageRecordRequest
			var got uint8
			err := jsonwire.Members(el, func(key, val []byte) error {
				bit := -1
				for i, f := range usageRecordFields {
					if string(key) == f {
						bit = i
						break
					}
				}
				if bit < 0 || got&(1<<bit) != 0 {
					return jsonwire.ErrSyntax
				}
				got |= 1 << bit
				s, ok := str(val)
				if !ok {
					return jsonwire.ErrSyntax
				}
				switch bit {
				case 0:
					r.RecordID = s
				case 1:
					r.CustomerID = s
				case 2:
					r.Amount = s
				default:
					r.Time = s
				}
				return nil
			})
			if err != nil {
				return err
			}
			recs = append(recs, r)
			return nil
		})
		req.Records = recs
		return err
	})
	if err != nil || !seen || req.check() != nil {
		return usageRequest{}, false
	}
	return req, true
}

// plainPrintable reports whether the JSON string val (a whole value, quotes included) is plain (ASCII,
// no escapes: jsonwire.String) and free of DEL, the one control character a JSON string may hold
// raw and freeText refuses.
func plainPrintable(val []byte) bool {
	end, plain, err := jsonwire.String(val, 0)
	if err != nil || !plain || end != len(val) {
		return false
	}
	for _, c := range val {
		if c == 0x7f {
			return false
		}
	}
	return true
}

// countObjects is how many objects an array of flat objects opens: a capacity hint, not a count
// the decoding relies on (a '{' inside a string counts too).
func countObjects(arr []byte) int {
	n := 0
	for _, c := range arr {
		if c == '{' {
			n++
		}
	}
	return n
}
