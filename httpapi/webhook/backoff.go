package webhook

import (
	"math/rand/v2"
	"time"
)

// Retry schedule (shared/API.md): exponential backoff from about 1 s, doubling, at most 5 minutes
// apart, with jitter so that many webhooks failing together do not retry in step.
const (
	FirstRetry = time.Second
	MaxRetry   = 5 * time.Minute
	// DisableAfter is how long a webhook may fail without a success before it is disabled.
	DisableAfter = 24 * time.Hour
)

// retryDelay is the wait before retry number attempt (0 for the first retry): FirstRetry·2^attempt,
// capped at MaxRetry, then scaled by a random factor in [0.75, 1.0] ("equal jitter" kept near the
// nominal delay, so that the cap of 5 minutes holds).
func retryDelay(attempt int, r *rand.Rand) time.Duration {
	d := MaxRetry
	if attempt < 20 {
		d = min(FirstRetry<<attempt, MaxRetry)
	}
	f := 0.75 + 0.25*r.Float64()
	return time.Duration(float64(d) * f)
}
