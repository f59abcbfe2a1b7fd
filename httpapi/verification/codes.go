package verification

import (
	"crypto/subtle"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The code parameters of rule 19 (RFC 6238's defaults, what authenticator apps use).
const (
	Period = 30 * time.Second // the time step
	Digits = 6
	Skew   = 1 // steps of clock drift accepted either way
)

var codeOpts = totp.ValidateOpts{Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Step is the RFC 6238 time step of t (T = floor(unix / 30)).
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// Code is the code of a base32 secret at step.
func Code(secret string, step int64) (string, error) {
	return totp.GenerateCodeCustom(secret, time.Unix(step*int64(Period/time.Second), 0), codeOpts)
}

// matchStep returns the step within Skew of now's whose code is code, preferring the current step,
// or false. Every candidate is compared in constant time.
func matchStep(secret, code string, now time.Time) (int64, bool, error) {
	if len(code) != Digits {
		return 0, false, nil
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return 0, false, nil
		}
	}
	cur := Step(now)
	found, ok := int64(0), false
	for _, d := range [...]int64{0, -1, 1} {
		want, err := Code(secret, cur+d)
		if err != nil {
			return 0, false, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			found, ok = cur+d, true
		}
	}
	return found, ok, nil
}
