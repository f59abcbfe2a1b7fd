package httpapi

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// FuzzParseUsageRecord holds the billing feed's record parser (amount and time of POST /v1/usage)
// to its definition: it never panics; a refusal is invalid and names records[0].amount or
// records[0].time; an accepted amount is domain.ParseMoney's, an accepted time is time.Parse's
// RFC 3339 reading of the string, in UTC, within 0000 to 9999 (clamped there), and writes back
// (RFC 3339) to the same instant. Seeds: testdata/httpapi/usage_records (amount TAB time per line).
func FuzzParseUsageRecord(f *testing.F) {
	for _, file := range seeds(f, "usage_records") {
		for _, line := range bytes.Split(file, []byte("\n")) {
			if amount, tm, ok := strings.Cut(string(line), "\t"); ok {
				f.Add(amount, tm)
			}
		}
	}
	f.Fuzz(func(t *testing.T, amount, tm string) {
		in, err := parseUsageRecord(0, usageRecordRequest{RecordID: "r-1", CustomerID: "c-1", Amount: amount, Time: tm})
		m, merr := domain.ParseMoney("amount", amount)
		if err != nil {
			if domain.ErrorCode(err) != domain.CodeInvalid {
				t.Fatalf("refusal %v is not invalid", err)
			}
			field := "records[0].time"
			if merr != nil {
				field = "records[0].amount"
			}
			if !strings.Contains(err.Error(), field) {
				t.Fatalf("refusal %q of (%q, %q) does not name %s", err, amount, tm, field)
			}
			if merr == nil {
				if _, perr := time.Parse(time.RFC3339Nano, tm); perr == nil {
					t.Fatalf("time %q refused although RFC 3339: %v", tm, err)
				}
			}
			return
		}
		if merr != nil || in.Amount != m {
			t.Fatalf("amount %q accepted as %s; ParseMoney says %s, %v", amount, in.Amount, m, merr)
		}
		want, perr := time.Parse(time.RFC3339Nano, tm)
		if perr != nil {
			t.Fatalf("time %q accepted as %s, time.Parse refuses it: %v", tm, in.Time, perr)
		}
		first, last := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
		switch {
		case want.Before(first):
			want = first
		case want.After(last):
			want = last
		}
		if !in.Time.Equal(want) || in.Time.Location() != time.UTC {
			t.Fatalf("time %q parsed as %s, want %s", tm, in.Time, want.UTC())
		}
		back, err := time.Parse(time.RFC3339Nano, in.Time.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(in.Time) {
			t.Fatalf("time %q does not write back: %s, %v", tm, in.Time.Format(time.RFC3339Nano), err)
		}
	})
}
