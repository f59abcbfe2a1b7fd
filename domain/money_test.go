package domain_test

import (
	"encoding/json"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
)

func TestParseMoney(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"0", "0.00"}, {"1", "1.00"}, {"1.5", "1.50"}, {"1.05", "1.05"}, {"001.10", "1.10"},
		{"1000000000000", "1000000000000.00"}, {"1000000000000.00", "1000000000000.00"}, {"999999999999.99", "999999999999.99"},
	} {
		m, err := domain.ParseMoney("amount", c.in)
		if err != nil || m.String() != c.out {
			t.Errorf("ParseMoney(%q) = %s, %v; want %s", c.in, m, err, c.out)
		}
	}
	for _, in := range []string{"", "-1", "+1", "1.234", "1.", ".5", "1e3", "NaN", "Infinity", "1,000", " 1", "1 ", "0x10",
		"1000000000000.01", "10000000000000", "99999999999999999999999999", "１"} {
		_, err := domain.ParseMoney("amount", in)
		if domain.ErrorCode(err) != domain.CodeInvalid || !strings.Contains(err.Error(), "amount") {
			t.Errorf("ParseMoney(%q) = %v, want an invalid error naming the field", in, err)
		}
	}
	if got := domain.Money(102000).Grouped(); got != "1,020.00" {
		t.Errorf("Grouped = %s", got)
	}
	if got := domain.MaxAmount.Grouped(); got != "1,000,000,000,000.00" {
		t.Errorf("Grouped = %s", got)
	}
	if got := domain.AddMoney(math.MaxInt64-1, domain.MaxAmount); got != math.MaxInt64 {
		t.Errorf("AddMoney saturates: %d", got)
	}
	if got := domain.UsagePercent(8120, 10000); got != "81.20" {
		t.Errorf("UsagePercent = %s", got)
	}
	if got := domain.UsagePercent(math.MaxInt64, 1); got == "" || strings.HasPrefix(got, "-") {
		t.Errorf("UsagePercent of a huge spend = %s", got)
	}
	var m domain.Money
	if err := json.Unmarshal([]byte(`12.5`), &m); err == nil {
		t.Error("a JSON number is accepted as an amount")
	}
	if b, _ := json.Marshal(domain.Money(5)); string(b) != `"0.05"` {
		t.Errorf("Marshal = %s", b)
	}
}

// FuzzParseMoney holds ParseMoney to its definition, in exact rational arithmetic: a string of
// digits with at most one point and 1 or 2 digits after it, from 0 to 10^12; its value is exact,
// and String writes it back with two fraction digits.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"0", "1.5", "1000000000000", "1000000000000.01", "1.234", "-1", "", ".", "1e3", "00.00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := domain.ParseMoney("amount", s)
		intPart, frac, hasPoint := strings.Cut(s, ".")
		digits := func(x string) bool {
			for _, c := range x {
				if c < '0' || c > '9' {
					return false
				}
			}
			return true
		}
		valid := intPart != "" && digits(intPart) && (!hasPoint || (frac != "" && len(frac) <= 2 && digits(frac)))
		var r *big.Rat
		if valid {
			r, _ = new(big.Rat).SetString(s)
			valid = r != nil && r.Cmp(big.NewRat(1_000_000_000_000, 1)) <= 0
		}
		if !valid {
			if err == nil {
				t.Fatalf("ParseMoney(%q) = %s, want an error", s, m)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseMoney(%q): %v", s, err)
		}
		if want := new(big.Rat).Mul(r, big.NewRat(100, 1)); !want.IsInt() || want.Num().Int64() != int64(m) {
			t.Fatalf("ParseMoney(%q) = %d minor units, want %s", s, m, want)
		}
		back, err := domain.ParseMoney("amount", m.String())
		if err != nil || back != m {
			t.Fatalf("round trip of %q: %s, %v", s, m, err)
		}
	})
}
