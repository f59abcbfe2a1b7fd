package webhook

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestRetryDelayDoublesWithJitterUpToFiveMinutes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for attempt := 0; attempt < 40; attempt++ {
		nominal := MaxRetry
		if attempt < 20 {
			nominal = min(FirstRetry<<attempt, MaxRetry)
		}
		seen := map[time.Duration]bool{}
		for i := 0; i < 50; i++ {
			d := retryDelay(attempt, r)
			if d < nominal*3/4 || d > nominal || d > MaxRetry {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", attempt, d, nominal*3/4, nominal)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("attempt %d: only %d distinct delays: no jitter", attempt, len(seen))
		}
	}
	if d := retryDelay(0, r); d > time.Second || d < 750*time.Millisecond {
		t.Fatalf("first retry after %s, want about 1 s", d)
	}
}
