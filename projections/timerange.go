package projections

import (
	"math"
	"time"
)

// Event times are held as Unix nanoseconds (int64), which reach only from 1677-09-21 to
// 2262-04-11; time.Time.UnixNano wraps around outside them. Query times (as_of, associated_after,
// associated_before) may be any RFC 3339 time, so they are converted with unixNanos.
var (
	minNanosTime = time.Unix(0, math.MinInt64)
	maxNanosTime = time.Unix(0, math.MaxInt64)
)

// unixNanos is t in Unix nanoseconds, saturated at the ends of int64: a time before 1677 compares
// before every event, one after 2262 after every event (no event can be at either extreme).
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(minNanosTime):
		return math.MinInt64
	case t.After(maxNanosTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}
