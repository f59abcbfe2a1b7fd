package domain_test

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
)

// tailLog is an EventLog that keeps the events appended before drop is set and afterwards only
// counts revisions, so that a long run's heap shows the Service's memory, not the log's. Reads see
// only the kept events (a soak of unique keys never reads again).
type tailLog struct {
	domain.EventLog
	mu   sync.Mutex
	drop bool
	revs map[string]int64
}

func (l *tailLog) Append(ctx context.Context, stream string, expected int64, evs []domain.NewEvent) (domain.Appended, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.drop {
		return l.EventLog.Append(ctx, stream, expected, evs)
	}
	rev := l.revs[stream] + int64(len(evs))
	l.revs[stream] = rev
	return domain.Appended{Revision: uint64(rev), Position: strconv.FormatInt(rev, 10)}, nil
}

// BenchmarkIdempotencyKeySoak: keyed writes with unique keys, one every simulated second, for six
// simulated hours, with a TTL of one hour (ttl=1h) and with keys kept for ever (ttl=never, the old
// behaviour); the live heap after GC is reported after the second hour and the sixth (B-h2, B-h6),
// their difference and the keys remembered at the end. With the TTL the heap is flat after the
// first hour (the maps and the queue reach their size); without, it grows with every key.
func BenchmarkIdempotencyKeySoak(b *testing.B) {
	for _, ttl := range []time.Duration{time.Hour, -1} {
		name := "ttl=1h"
		if ttl < 0 {
			name = "ttl=never"
		}
		b.Run(name, func(b *testing.B) { idemSoak(b, ttl) })
	}
}

func idemSoak(b *testing.B, ttl time.Duration) {
	for b.Loop() {
		f := newFixture(&testing.T{})
		f.must(world...)
		log := &tailLog{EventLog: f.log, revs: map[string]int64{}}
		svc := domain.NewService(log, domain.Options{Clock: f.clock, IdempotencyTTL: ttl})
		ctx := context.Background()
		if _, _, _, err := svc.Customer(ctx, "c-d"); err != nil { // load the channel while the log is whole
			b.Fatal(err)
		}
		for _, ev := range f.log.All() {
			if ev.Stream == domain.ChannelStream("dist-1") {
				log.revs[ev.Stream] = int64(ev.Revision)
			}
		}
		log.drop = true
		heap := func() float64 {
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			return float64(ms.HeapAlloc)
		}
		var first float64
		for hour := 1; hour <= 6; hour++ {
			for s := 0; s < 3600; s++ {
				f.clock.Advance(time.Second)
				m := domain.Meta{Actor: op("dist-1"), RequestID: "soak", IdempotencyKey: uuid.NewString()}
				var err error
				if s%2 == 0 {
					_, err = svc.UnfreezeCustomer(ctx, domain.UnfreezeCustomer{Meta: m, CustomerID: "c-d", Reason: "paid", UnfreezeType: acct})
				} else {
					_, err = svc.FreezeCustomer(ctx, domain.FreezeCustomer{Meta: m, CustomerID: "c-d", Reason: "overdue", FreezeType: acct})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			h := heap()
			keys, _ := domain.RememberedKeysForTest(svc, domain.ChannelStream("dist-1"))
			b.Logf("after %d h: heap %.0f B, %d keys remembered", hour, h, keys)
			if hour == 2 {
				first = h
				b.ReportMetric(h, "B-h2")
			}
			if hour == 6 {
				b.ReportMetric(h, "B-h6")
				b.ReportMetric(h-first, "B-growth")
				b.ReportMetric(float64(keys), "keys-h6")
			}
		}
		runtime.KeepAlive(svc)
	}
}
