package domain

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var fastTypes = []string{EventCustomerFrozen, EventCustomerUnfrozen, EventCustomerAssociated, EventCustomerResourcesRelease, EventPartnerFrozen, EventPartnerUnfrozen, EventUsageRecorded}

// checkSame fails if the fast path accepts input and decodes it differently from encoding/json.
func checkSame(t interface{ Fatalf(string, ...any) }, typ string, data, meta []byte) {
	var fm Metadata
	if fastMetadata(meta, &fm, map[string]string{}, false) {
		var sm Metadata
		if err := json.Unmarshal(meta, &sm); err != nil {
			t.Fatalf("fast path accepts metadata %q that encoding/json rejects: %v", meta, err)
		}
		if !reflect.DeepEqual(fm, sm) {
			t.Fatalf("metadata %q: fast %+v, encoding/json %+v", meta, fm, sm)
		}
		var lm Metadata
		if !fastMetadata(meta, &lm, nil, true) {
			t.Fatalf("lean decoding refuses metadata %q", meta)
		}
		sm.RequestID, sm.OnBehalfOf = "", ""
		if !reflect.DeepEqual(lm, sm) {
			t.Fatalf("metadata %q: lean %+v, encoding/json without request_id/on_behalf_of %+v", meta, lm, sm)
		}
	}
	dv, derr := DecodeData(typ, data)
	sv, serr := decodeDataJSON(typ, data)
	if (derr == nil) != (serr == nil) || !reflect.DeepEqual(dv, sv) {
		t.Fatalf("%s data %q: DecodeData %+v, %v; encoding/json %+v, %v", typ, data, dv, derr, sv, serr)
	}
	if fv, ok := fastData(typ, data, map[string]string{}); ok {
		sv, err := decodeDataJSON(typ, data)
		if err != nil {
			t.Fatalf("fast path accepts %s data %q that encoding/json rejects: %v", typ, data, err)
		}
		if !reflect.DeepEqual(fv, sv) {
			t.Fatalf("%s data %q: fast %+v, encoding/json %+v", typ, data, fv, sv)
		}
	}
}

func TestFastDecodeMatchesEncodingJSON(t *testing.T) {
	str := rapid.OneOf(rapid.SampledFrom([]string{"", "c-1", "overdue", "ACCOUNT", "a\"b", "é", "a\\b", "\u2028", "x\ny"}), rapid.String())
	tm := rapid.Custom(func(t *rapid.T) time.Time {
		return time.Unix(rapid.Int64Range(0, 4e9).Draw(t, "sec"), rapid.Int64Range(0, 999999999).Draw(t, "nsec")).UTC()
	})
	rapid.Check(t, func(rt *rapid.T) {
		typ := rapid.SampledFrom(fastTypes).Draw(rt, "type")
		var payload any
		switch typ {
		case EventCustomerFrozen:
			p := CustomerFrozen{CustomerID: str.Draw(rt, "id"), FreezeType: FreezeType(str.Draw(rt, "ft")), PreviousFreezeType: FreezeType(str.Draw(rt, "pft")), Origin: Origin(str.Draw(rt, "origin")), Reason: str.Draw(rt, "reason")}
			if rapid.Bool().Draw(rt, "deadline") {
				d := tm.Draw(rt, "deadline time")
				p.RetentionDeadline = &d
			}
			payload = p
		case EventCustomerUnfrozen:
			payload = CustomerUnfrozen{CustomerID: str.Draw(rt, "id"), UnfreezeType: FreezeType(str.Draw(rt, "ft")), Reason: str.Draw(rt, "reason")}
		case EventCustomerAssociated:
			payload = CustomerAssociated{CustomerID: str.Draw(rt, "id"), Name: str.Draw(rt, "name"), PartnerID: str.Draw(rt, "p"), DistributorID: str.Draw(rt, "d"), Tags: rapid.SliceOf(str).Draw(rt, "tags"), AccountManager: str.Draw(rt, "am")}
		case EventCustomerResourcesRelease:
			payload = CustomerResourcesReleased{CustomerID: str.Draw(rt, "id"), FrozenAt: tm.Draw(rt, "at"), Reason: str.Draw(rt, "reason")}
		case EventPartnerFrozen:
			payload = PartnerFrozen{PartnerID: str.Draw(rt, "id"), Reason: str.Draw(rt, "reason")}
		case EventUsageRecorded:
			u := UsageRecorded{CustomerID: str.Draw(rt, "id")}
			switch rapid.IntRange(0, 2).Draw(rt, "records") {
			case 0: // null
			case 1:
				u.Records = []UsageRecord{}
			default:
				for range rapid.IntRange(1, 4).Draw(rt, "n") {
					amount := rapid.OneOf(rapid.Int64Range(0, int64(MaxAmount)), rapid.SampledFrom([]int64{0, 5, 100, int64(MaxAmount)})).Draw(rt, "amount")
					u.Records = append(u.Records, UsageRecord{RecordID: str.Draw(rt, "record"), Amount: Money(amount), Time: tm.Draw(rt, "at")})
				}
			}
			payload = u
		default:
			payload = PartnerUnfrozen{PartnerID: str.Draw(rt, "id"), Reason: str.Draw(rt, "reason")}
		}
		data, _ := json.Marshal(payload)
		meta, _ := json.Marshal(Metadata{SchemaVersion: rapid.IntRange(-5, 1<<20).Draw(rt, "v"), Actor: Actor{Name: str.Draw(rt, "actor"), Role: Role(str.Draw(rt, "role")), PartnerID: str.Draw(rt, "ap")}, Time: tm.Draw(rt, "time"), RequestID: str.Draw(rt, "rid"), IdempotencyKey: str.Draw(rt, "key"), OnBehalfOf: str.Draw(rt, "obo"), CommandHash: str.Draw(rt, "hash")})
		checkSame(rt, typ, data, meta)
		// The service's own output must take the fast path (that is the point of it).
		{
			ascii := true
			for _, b := range append(append([]byte{}, data...), meta...) {
				if b == '\\' || b >= 0x80 {
					ascii = false
				}
			}
			if ascii {
				if _, ok := fastData(typ, data, nil); !ok {
					rt.Fatalf("fast path refuses plain %s data %s", typ, data)
				}
				var m Metadata
				if !fastMetadata(meta, &m, nil, false) {
					rt.Fatalf("fast path refuses plain metadata %s", meta)
				}
			}
		}
	})
}

func TestFastDecodeFallsBack(t *testing.T) {
	for _, c := range []struct{ typ, data string }{
		{EventCustomerUnfrozen, `{"customer_id":"c-1","CUSTOMER_ID":"c-2"}`},
		{EventCustomerUnfrozen, `{"customer_id":"c-1","customer_id":"c-2"}`},
		{EventCustomerUnfrozen, `{"customer_id":null}`},
		{EventCustomerUnfrozen, `{ "customer_id":"c-1"}`},
		{EventCustomerUnfrozen, `{"customer_id":"c-1"} `},
		{EventCustomerUnfrozen, `{"customer_id":"c-1","extra":1}`},
		{EventCustomerFrozen, `{"retention_deadline":"2026-13-01T00:00:00Z"}`},
		{EventCustomerFrozen, `{"retention_deadline":null}`},
		{EventCustomerAssociated, `{"tags":["a",]}`},
		{EventCustomerAssociated, `{"tags":null}`},
		{EventCustomerAssociated, `{"tags":[]}`},
		{EventUsageRecorded, `{"customer_id":"c-1","records":null}`},
		{EventUsageRecorded, `{"customer_id":"c-1","records":[]}`},
		{EventUsageRecorded, `{"records":[{}]}`},
		{EventUsageRecorded, `{"records":[{"amount":"1.005"}]}`},
		{EventUsageRecorded, `{"records":[{"amount":"1."}]}`},
		{EventUsageRecorded, `{"records":[{"amount":".5"}]}`},
		{EventUsageRecorded, `{"records":[{"amount":"007.5"}]}`},
		{EventUsageRecorded, `{"records":[{"amount":"1000000000000.01"}]}`},
		{EventUsageRecorded, `{"records":[{"amount":"1000000000000.00"}]}`},
		{EventUsageRecorded, `{"records":[{"amount":"99999999999999"}]}`},
		{EventUsageRecorded, `{"records":[{"amount":"-1.00"}]}`},
		{EventUsageRecorded, `{"records":[{"amount":12}]}`},
		{EventUsageRecorded, `{"records":[{"amount":null}]}`},
		{EventUsageRecorded, `{"records":[{"time":null}]}`},
		{EventUsageRecorded, `{"records":[{"record_id":"r","record_id":"s"}]}`},
		{EventUsageRecorded, `{"records":[{"Record_ID":"r"}]}`},
		{EventUsageRecorded, `{"records":[{"record_id":"r"},]}`},
		{EventUsageRecorded, `{"records":{}}`},
	} {
		checkSame(t, c.typ, []byte(c.data), []byte(`{"schema_version":01}`))
	}
}

func FuzzFastDecode(f *testing.F) {
	f.Add(0, []byte(`{"customer_id":"c-1","freeze_type":"ACCOUNT","origin":"manual","reason":"r","retention_deadline":"2026-11-16T08:00:00Z"}`),
		[]byte(`{"schema_version":1,"actor":{"name":"ops","role":"partner","partner_id":"d-1"},"time":"2026-11-01T08:00:00.123Z","request_id":"r","idempotency_key":"k","command_hash":"h"}`))
	f.Add(2, []byte(`{"customer_id":"c-1","name":"N","partner_id":"r-1","distributor_id":"d-1","tags":["gold","x"]}`), []byte(`{"schema_version":1}`))
	f.Add(6, []byte(`{"customer_id":"cust-dn-012","records":[{"record_id":"r-0-0-1","amount":"12.30","time":"2026-11-30T23:59:59.999Z"},{"record_id":"r-2","amount":"0.00","time":"2026-11-01T00:00:00Z"}]}`),
		[]byte(`{"schema_version":1,"actor":{"name":"billing","role":"billing","partner_id":""},"time":"2026-12-01T08:00:00.123456789Z","request_id":"bench"}`))
	f.Add(6, []byte(`{"customer_id":"c","records":[{"amount":"1000000000000.00"},{"amount":"9"}]}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, i int, data, meta []byte) {
		typ := fastTypes[(i%len(fastTypes)+len(fastTypes))%len(fastTypes)]
		checkSame(t, typ, data, meta)
	})
}

// TestFastMoneyMatchesParseMoney: an amount the fast path reads is ParseMoney's, it gives up on
// whatever ParseMoney refuses, and it reads every amount as Money writes it.
func TestFastMoneyMatchesParseMoney(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		a := rapid.OneOf(rapid.StringMatching(`[0-9]{0,15}(\.[0-9]{0,3})?`), rapid.StringMatching(`[-+ 0-9.e]{0,6}`),
			rapid.Custom(func(t *rapid.T) string { return Money(rapid.Int64Range(-1, int64(MaxAmount)+1).Draw(t, "m")).String() })).Draw(rt, "amount")
		s := &scanner{b: []byte(`"` + a + `"`), ok: true}
		got := s.money()
		want, err := ParseMoney("amount", a)
		if s.ok && (err != nil || got != want) {
			rt.Fatalf("amount %q: fast %v, ParseMoney %v, %v", a, got, want, err)
		}
		if !s.ok && err == nil && want.String() == a {
			rt.Fatalf("fast path refuses amount %q as Money writes it", a)
		}
	})
}

func TestValidIDMatchesPattern(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := rapid.OneOf(rapid.StringMatching(`[A-Za-z0-9_.\-]{0,66}`), rapid.String()).Draw(rt, "id")
		if ValidID(s) != IDPattern.MatchString(s) {
			rt.Fatalf("ValidID(%q) = %v, pattern says %v", s, ValidID(s), IDPattern.MatchString(s))
		}
	})
}

// BenchmarkFastDecode decodes a typical customer freeze (data and metadata, as the service writes
// them) on the fast path, with an intern table as a channel load uses.
func BenchmarkFastDecode(b *testing.B) {
	se := StoredEvent{Type: EventCustomerFrozen,
		Data:     []byte(`{"customer_id":"cust-dn-012","freeze_type":"ACCOUNT","origin":"manual","reason":"overdue invoice"}`),
		Metadata: []byte(`{"schema_version":1,"actor":{"name":"ops-dist-north","role":"partner","partner_id":"dist-north"},"time":"2026-10-27T14:00:08.123456789Z","request_id":"req-7f3a","idempotency_key":"quickstart-1","command_hash":"49dce9dfa8be060ac3e3b5097da12d29"}`)}
	intern := map[string]string{}
	b.SetBytes(int64(len(se.Data) + len(se.Metadata)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := decodeEvent(&se, intern); err != nil {
			b.Fatal(err)
		}
	}
}
