package domain

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// checkEncodeSame fails if the fast path encodes v or m otherwise than json.Marshal, accepts what
// json.Marshal refuses, or refuses what it encodes (the fast path must not give up on its own types).
func checkEncodeSame(t interface{ Fatalf(string, ...any) }, v any, m Metadata) {
	want, werr := json.Marshal(v)
	got, ok := appendData([]byte("prefix"), v)
	switch {
	case ok && werr != nil:
		t.Fatalf("fast path encodes %+v as %s; json.Marshal refuses it: %v", v, got, werr)
	case ok && !bytes.Equal(got, append([]byte("prefix"), want...)):
		t.Fatalf("%+v: fast %s, json.Marshal %s", v, got, want)
	case !ok && werr == nil:
		t.Fatalf("fast path refuses %+v, which json.Marshal encodes as %s", v, want)
	case !ok && string(got) != "prefix":
		t.Fatalf("fast path refuses %+v but leaves %q behind", v, got)
	}
	if b, err := EncodeData(v); (err == nil) != (werr == nil) || !bytes.Equal(b, want) {
		t.Fatalf("EncodeData(%+v) = %s, %v; json.Marshal %s, %v", v, b, err, want, werr)
	}
	want, werr = json.Marshal(m)
	got, ok = appendMetadata(nil, &m)
	switch {
	case ok && werr != nil:
		t.Fatalf("fast path encodes metadata %+v as %s; json.Marshal refuses it: %v", m, got, werr)
	case ok && !bytes.Equal(got, want):
		t.Fatalf("metadata %+v: fast %s, json.Marshal %s", m, got, want)
	case !ok && werr == nil:
		t.Fatalf("fast path refuses metadata %+v, which json.Marshal encodes as %s", m, want)
	}
}

var encodeStrings = []string{"", "c-1", "cust-dn-012", "a\"b", "a\\b", "<&>", "é", "\u2028", "\u2029", "x\ny\t\x01", "\xff", "a\xc3", "\U0001F600"}

func TestFastEncodeMatchesEncodingJSON(t *testing.T) {
	str := rapid.OneOf(rapid.SampledFrom(encodeStrings), rapid.String(), rapid.Custom(func(t *rapid.T) string {
		return string(rapid.SliceOf(rapid.Byte()).Draw(t, "bytes"))
	}))
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+30*60), time.FixedZone("", -8*3600), time.FixedZone("", 24*3600+60), time.FixedZone("", 3600+7)}
	tm := rapid.Custom(func(t *rapid.T) time.Time {
		sec := rapid.OneOf(rapid.Int64Range(0, 4e9), rapid.Int64Range(-7e10, 3e11)).Draw(t, "sec")
		return time.Unix(sec, rapid.Int64Range(0, 999999999).Draw(t, "nsec")).In(rapid.SampledFrom(zones).Draw(t, "zone"))
	})
	money := rapid.OneOf(rapid.Int64Range(0, int64(MaxAmount)), rapid.SampledFrom([]int64{0, 1, 99, 100, -1, -50, math.MinInt64, math.MaxInt64}))
	rapid.Check(t, func(rt *rapid.T) {
		var u UsageRecorded
		u.CustomerID = str.Draw(rt, "customer")
		switch rapid.IntRange(0, 2).Draw(rt, "records") {
		case 0: // nil
		case 1:
			u.Records = []UsageRecord{}
		default:
			for range rapid.IntRange(1, 5).Draw(rt, "n") {
				u.Records = append(u.Records, UsageRecord{RecordID: str.Draw(rt, "record"), Amount: Money(money.Draw(rt, "amount")), Time: tm.Draw(rt, "time")})
			}
		}
		m := Metadata{SchemaVersion: rapid.IntRange(-5, 1<<20).Draw(rt, "v"), Actor: Actor{Name: str.Draw(rt, "actor"), Role: Role(str.Draw(rt, "role")), PartnerID: str.Draw(rt, "ap")},
			Time: tm.Draw(rt, "meta time"), RequestID: str.Draw(rt, "rid"), IdempotencyKey: str.Draw(rt, "key"), OnBehalfOf: str.Draw(rt, "obo"), CommandHash: str.Draw(rt, "hash"),
			Verification: str.Draw(rt, "verification"), ActorAdmin: rapid.Bool().Draw(rt, "admin"), ActorCustomerID: str.Draw(rt, "acid")}
		if rapid.Bool().Draw(rt, "pointer") {
			checkEncodeSame(rt, &u, m)
		} else {
			checkEncodeSame(rt, u, m)
		}
	})
}

// TestFastEncodeLeavesOthersToEncodingJSON: payloads the fast path does not know are refused, so
// that emit marshals them with encoding/json.
func TestFastEncodeLeavesOthersToEncodingJSON(t *testing.T) {
	for _, v := range []any{&CustomerFrozen{CustomerID: "c-1"}, (*UsageRecorded)(nil), nil, BudgetReset{}} {
		if b, ok := appendData(nil, v); ok {
			t.Fatalf("fast path encodes %#v as %s", v, b)
		}
	}
}

func FuzzFastEncode(f *testing.F) {
	f.Add("cust-dn-012", "r-1", int64(1234), int64(1796112000), int64(123456789), 0, "billing", "billing", "", "req-1", "", "<&>")
	f.Add("a\"b\\\u2028", "\xff", int64(-1), int64(-62167219201), int64(0), 3, "ops", "partner", "dist-north", "", "k", "")
	f.Add("c", "r", int64(math.MaxInt64), int64(253402300800), int64(999999999), 4, "", "", "\x00", "\u2029", "", "")
	f.Fuzz(func(t *testing.T, customer, record string, amount, sec, nsec int64, zone int, name, role, partner, rid, key, hash string) {
		zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+30*60), time.FixedZone("", -8*3600), time.FixedZone("", 24*3600+60), time.FixedZone("", 3600+7)}
		at := time.Unix(sec, nsec).In(zones[(zone%len(zones)+len(zones))%len(zones)])
		u := &UsageRecorded{CustomerID: customer, Records: []UsageRecord{{RecordID: record, Amount: Money(amount), Time: at}, {RecordID: customer, Amount: Money(amount / 3), Time: at.UTC()}}}
		m := Metadata{SchemaVersion: int(nsec), Actor: Actor{Name: name, Role: Role(role), PartnerID: partner}, Time: at, RequestID: rid, IdempotencyKey: key, CommandHash: hash, OnBehalfOf: record, ActorAdmin: amount%2 == 0}
		checkEncodeSame(t, u, m)
	})
}

// TestRecordContentIsTheDigest: recordContent, written without allocating, is the digest of the
// record's customer, amount and time it always was.
func TestRecordContentIsTheDigest(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		id := rapid.OneOf(rapid.StringMatching(`[a-z0-9-]{1,64}`), rapid.String()).Draw(rt, "customer")
		r := UsageRecord{RecordID: "r", Amount: Money(rapid.Int64().Draw(rt, "amount")),
			Time: time.Unix(rapid.Int64Range(-7e10, 3e11).Draw(rt, "sec"), rapid.Int64Range(0, 999999999).Draw(rt, "nsec")).In(time.FixedZone("", rapid.IntRange(-50000, 50000).Draw(rt, "offset")))}
		if got, want := recordContent(id, r), digest(id, r.Amount.String(), r.Time.UTC().Format(time.RFC3339Nano)); got != want {
			rt.Fatalf("recordContent(%q, %+v) = %x, the digest is %x", id, r, got, want)
		}
	})
}
