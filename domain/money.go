package domain

// Money (rule 12): amounts in the deployment's one currency, exact, as integer minor units (cents)
// inside and decimal strings outside.

import (
	"encoding/json"
	"math"
	"math/bits"
	"strconv"
)

// Money is an amount in minor units (hundredths) of the deployment's currency. Amounts the ledger
// accepts are 0 to MaxAmount; sums saturate at math.MaxInt64 instead of overflowing (AddMoney).
//
// Its JSON form is a decimal string with exactly two fraction digits ("1000.00"); decoding takes at
// most two (ParseMoney).
type Money int64

// MaxAmount is the largest amount the ledger accepts: 10^12 currency units (rule 12).
const MaxAmount Money = 1_000_000_000_000 * 100

// ParseMoney parses a decimal amount: digits, optionally a point and one or two fraction digits; no
// sign, exponent, spaces or grouping; at most MaxAmount. Errors are *Error with code invalid, naming
// field and saying what is wrong.
func ParseMoney(field, s string) (Money, error) {
	bad := func(why string) (Money, error) {
		return 0, Errorf(CodeInvalid, "%s %q is not an amount: %s (a decimal string such as \"1000.00\", at least 0, at most 1000000000000, at most 2 fraction digits)", field, truncateString(s, 40), why)
	}
	if s == "" {
		return bad("it is empty")
	}
	intPart, frac := s, ""
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			intPart, frac = s[:i], s[i+1:]
			if frac == "" {
				return bad("no digit after the point")
			}
			break
		}
	}
	if intPart == "" {
		return bad("no digit before the point")
	}
	if len(frac) > 2 {
		return bad("more than 2 fraction digits")
	}
	var units uint64
	for i := 0; i < len(intPart); i++ {
		c := intPart[i]
		if c < '0' || c > '9' {
			return bad("only digits and one point are allowed")
		}
		if units > uint64(MaxAmount/100) { // no overflow below: units stays < 10^13 before the check fails
			return bad("over the maximum")
		}
		units = units*10 + uint64(c-'0')
	}
	if units > uint64(MaxAmount/100) {
		return bad("over the maximum")
	}
	cents := uint64(0)
	for i := 0; i < 2; i++ {
		cents *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return bad("only digits and one point are allowed")
			}
			cents += uint64(c - '0')
		}
	}
	m := Money(units*100 + cents)
	if m > MaxAmount {
		return bad("over the maximum")
	}
	return m, nil
}

// String writes m with exactly two fraction digits ("1000.00"; "-0.50" for a negative m).
func (m Money) String() string { return string(m.AppendText(nil)) }

// AppendText appends String's form to b.
func (m Money) AppendText(b []byte) []byte {
	u := uint64(m)
	if m < 0 {
		b = append(b, '-')
		u = uint64(-(m + 1)) + 1 // also for math.MinInt64
	}
	b = strconv.AppendUint(b, u/100, 10)
	c := u % 100
	return append(b, '.', byte('0'+c/10), byte('0'+c%10))
}

// Grouped writes m with thousands separators and two fraction digits ("1,020.00"), as denial
// reasons show it.
func (m Money) Grouped() string {
	s := m.String()
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	intPart, frac := s[:len(s)-3], s[len(s)-3:]
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := 0; i < len(intPart); i++ {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, intPart[i])
	}
	return string(append(out, frac...))
}

// MarshalJSON writes the decimal string.
func (m Money) MarshalJSON() ([]byte, error) {
	b := append(make([]byte, 0, 24), '"')
	return append(m.AppendText(b), '"'), nil
}

// UnmarshalJSON reads a decimal string as ParseMoney does.
func (m *Money) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Errorf(CodeInvalid, "an amount is a decimal string such as \"1000.00\"")
	}
	v, err := ParseMoney("amount", s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// AddMoney is a + b for amounts ≥ 0, saturating at math.MaxInt64 (a sum of accepted amounts never
// wraps around; at 10^12 units per record it would take over 92,000 records to get there).
func AddMoney(a, b Money) Money {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		if b > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
}

// reachedPercent reports whether spend is at least pct percent of amount (amount > 0), exactly:
// spend*100 >= amount*pct in 128 bits.
func reachedPercent(spend, amount Money, pct uint64) bool {
	if spend < 0 || amount <= 0 {
		return false
	}
	sh, sl := bits.Mul64(uint64(spend), 100)
	ah, al := bits.Mul64(uint64(amount), pct)
	return sh > ah || (sh == ah && sl >= al)
}

// UsagePercent is spend ÷ amount as a percentage with two fraction digits, rounded down
// ("81.20"); amount must be > 0.
func UsagePercent(spend, amount Money) string {
	if amount <= 0 || spend < 0 {
		return "0.00"
	}
	hi, lo := bits.Mul64(uint64(spend), 10000)
	if hi >= uint64(amount) { // the quotient would not fit in 64 bits
		return Money(math.MaxInt64).String()
	}
	q, _ := bits.Div64(hi, lo, uint64(amount))
	if q > math.MaxInt64 {
		q = math.MaxInt64
	}
	return Money(q).String() // hundredths of a percent, written like money
}
