package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"

	"pgregory.net/rapid"

	"github.com/freezeledger/freezeledger/projections"
)

func genString(t *rapid.T, label string) string {
	return rapid.OneOf(
		rapid.StringMatching(`[a-zA-Z0-9 _.-]{0,20}`),
		rapid.String(),
		rapid.Map(rapid.SliceOf(rapid.Byte()), func(b []byte) string { return string(b) }), // invalid UTF-8 too
		rapid.SampledFrom([]string{"", "<script>&", "a\u2028b\u2029", "\x00\x1f\x7f\"\\", "é中文🙂"}),
	).Draw(t, label)
}

func genPtr(t *rapid.T, label string) *string {
	if rapid.Bool().Draw(t, label+"-nil") {
		return nil
	}
	s := genString(t, label)
	return &s
}

// TestAppendStatusMatchesMarshal: the hand-written encoder writes exactly json.Marshal's bytes.
func TestAppendStatusMatchesMarshal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := projections.CustomerStatus{
			CustomerID: genString(t, "id"), Name: genString(t, "name"), PartnerID: genString(t, "p"),
			DistributorID: genString(t, "d"), ManagedBy: genString(t, "m"), State: genString(t, "st"),
			FreezeType: genPtr(t, "ft"), Origin: genPtr(t, "o"), Reason: genPtr(t, "r"), FrozenBy: genPtr(t, "fb"),
			FrozenAt: genPtr(t, "fa"), EffectiveState: genString(t, "es"), EffectiveFreezeType: genPtr(t, "eft"),
			EffectiveOrigin: genPtr(t, "eo"), ResourcesReleased: rapid.Bool().Draw(t, "rr"),
			RetentionDeadline: genPtr(t, "rd"), AccountManager: genString(t, "am"), AssociatedAt: genString(t, "aa"),
			Position: genString(t, "pos"),
			Currency: genString(t, "cur"), MTDSpend: genString(t, "mtd"), Resources: rapid.IntRange(0, 1<<20).Draw(t, "res"),
			EarliestExpiry: genPtr(t, "ee"),
		}
		if rapid.Bool().Draw(t, "budget") {
			s.Budget = &projections.BudgetInfo{Type: genString(t, "bt"), Amount: genString(t, "ba"), OnExhaustion: genString(t, "bo"),
				SetAt: genString(t, "bsa"), SetBy: genString(t, "bsb"), Period: genPtr(t, "bp"), CountedSpend: genString(t, "bc"),
				UsagePercent: genString(t, "bu"), Exhausted: rapid.Bool().Draw(t, "bx")}
			if !rapid.Bool().Draw(t, "thr-nil") {
				s.Budget.ThresholdsReached = rapid.SliceOfN(rapid.SampledFrom([]int{75, 90, 100}), 0, 3).Draw(t, "thr")
			}
		}
		if !rapid.Bool().Draw(t, "tags-nil") {
			s.Tags = rapid.SliceOfN(rapid.Custom(func(t *rapid.T) string { return genString(t, "tag") }), 0, 4).Draw(t, "tags")
		}
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendStatus(nil, &s); !bytes.Equal(got, want) {
			t.Fatalf("appendStatus:\n got %s\nwant %s", got, want)
		}
		// The write answer's framing, as respondCustomer writes it.
		pos := genString(t, "position")
		want, _ = json.Marshal(customerResponse{Customer: s, Position: pos})
		got := appendJSONString(append(appendStatus([]byte(`{"customer":`), &s), `,"position":`...), pos)
		if got = append(got, '}'); !bytes.Equal(got, want) {
			t.Fatalf("customer response:\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkStatusJSON(b *testing.B) {
	s := func(v string) *string { return &v }
	st := projections.CustomerStatus{CustomerID: "cust-rn2-001", Name: "Umbrella Inc 1", PartnerID: "res-north-2", DistributorID: "dist-north",
		ManagedBy: "dist-north", State: "FROZEN", FreezeType: s("ACCOUNT"), Origin: s("association"), Reason: s("frozen by default on association (rule 1)"),
		FrozenBy: s("ops-dist-north"), FrozenAt: s("2026-10-29T06:00:03.000Z"), EffectiveState: "FROZEN", EffectiveFreezeType: s("ACCOUNT"),
		EffectiveOrigin: s("association"), Tags: []string{"silver"}, AccountManager: "maria", AssociatedAt: "2026-10-29T06:00:03.000Z", Position: "319"}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(st)
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = appendStatus(buf[:0], &st)
		}
	})
}
