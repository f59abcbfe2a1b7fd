package domain_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// Usage ingestion (issue 14): the billing system posts batches of 1,000 records over 8 connections;
// the target is 100,000 records/s durable. The world: 20 distributors with 500 customers each.
const (
	usageClients   = 8
	usageBatch     = domain.MaxUsageBatch
	usageChannels  = 20
	usagePerChanel = 500
)

var billingActor = domain.Actor{Name: "billing", Role: domain.RoleBilling}

// usageShape makes client k's j-th batch: its records' customers.
type usageShape func(k, j int, customers [][]string) []string

// spread: 1,000 records of 1,000 customers drawn over every channel (one event per customer).
func spread(k, j int, customers [][]string) []string {
	out := make([]string, usageBatch)
	for i := range out {
		n := (k*7919 + j*104729 + i*31) // a fixed walk over all customers
		c := customers[n%usageChannels]
		out[i] = c[(n/usageChannels)%len(c)]
	}
	return out
}

// grouped: 1,000 records of 10 customers of one channel (100 records per event).
func grouped(k, j int, customers [][]string) []string {
	c := customers[(k+j*usageClients)%usageChannels]
	out := make([]string, usageBatch)
	for i := range out {
		out[i] = c[(j*10+i%10)%len(c)]
	}
	return out
}

func usageBatchOf(k, j int, shape usageShape, customers [][]string, now time.Time) []domain.UsageInput {
	ids := shape(k, j, customers)
	recs := make([]domain.UsageInput, len(ids))
	for i, id := range ids {
		recs[i] = domain.UsageInput{RecordID: fmt.Sprintf("r-%d-%d-%d", k, j, i), CustomerID: id, Amount: domain.Money(100 + i), Time: now}
	}
	return recs
}

// BenchmarkRecordUsage8Clients: b.N batches of 1,000 records through the command service on the
// fsync'd embedded store, from 8 clients; records/s, then the raw baseline of the same run: the same
// batches' events (one usage.recorded per customer, one append per channel, the channels of a batch
// in parallel as the service does) appended straight to a fresh store, and the ratio.
func BenchmarkRecordUsage8Clients(b *testing.B) {
	for _, c := range []struct {
		name  string
		shape usageShape
	}{{"spread-1000-customers", spread}, {"grouped-10-customers", grouped}} {
		b.Run(c.name, func(b *testing.B) {
			log, customers := benchWorld(b, usageChannels, usagePerChanel)
			svc := domain.NewService(log, domain.Options{})
			ctx := context.Background()
			var next atomic.Int64
			var recorded atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for k := 0; k < usageClients; k++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						j := int(next.Add(1)) - 1
						if j >= b.N {
							return
						}
						res, err := svc.RecordUsage(ctx, domain.RecordUsage{Meta: domain.Meta{Actor: billingActor, RequestID: "bench"}, Records: usageBatchOf(k, j, c.shape, customers, time.Now())})
						if err != nil {
							b.Error(err)
							return
						}
						for _, it := range res.Items {
							if it.Err != nil {
								b.Error(it.Err)
								return
							}
						}
						recorded.Add(int64(len(res.Items)))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			rate := float64(recorded.Load()) / elapsed.Seconds()
			b.ReportMetric(rate, "records/s")
			raw := rawUsageRate(b, c.shape, customers, time.Second)
			b.ReportMetric(raw, "raw-records/s")
			b.ReportMetric(rate/raw, "x-raw")
		})
	}
}

// rawUsageRate appends, for d, the events the service would write for batches of shape (8 clients,
// the channels of a batch in parallel), pre-encoded, to a fresh fsync'd store: records/s.
func rawUsageRate(b *testing.B, shape usageShape, customers [][]string, d time.Duration) float64 {
	b.Helper()
	s, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	channelOf := map[string]string{}
	for ch, cs := range customers {
		for _, id := range cs {
			channelOf[id] = domain.ChannelStream(fmt.Sprintf("dist-%d", ch))
		}
	}
	meta, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: billingActor, Time: time.Now().UTC(), RequestID: "bench", CommandHash: "0123456789abcdef0123456789abcdef"})
	// appendsOf groups a batch as decideUsage does: per channel, one event per customer.
	appendsOf := func(k, j int) map[string][]eventstore.EventData {
		recs := usageBatchOf(k, j, shape, customers, time.Now())
		type key struct{ ch, id string }
		groups := map[key]*domain.UsageRecorded{}
		var order []key
		for _, r := range recs {
			kk := key{channelOf[r.CustomerID], r.CustomerID}
			g := groups[kk]
			if g == nil {
				g = &domain.UsageRecorded{CustomerID: r.CustomerID}
				groups[kk] = g
				order = append(order, kk)
			}
			g.Records = append(g.Records, domain.UsageRecord{RecordID: r.RecordID, Amount: r.Amount, Time: r.Time.UTC()})
		}
		out := map[string][]eventstore.EventData{}
		for _, kk := range order {
			data, _ := json.Marshal(groups[kk])
			out[kk.ch] = append(out[kk.ch], eventstore.EventData{ID: uuid.New(), Type: domain.EventUsageRecorded, Data: data, Metadata: meta})
		}
		return out
	}
	// Encode ahead, as the service's decisions are not what this measures.
	const ahead = 64
	batches := make([]map[string][]eventstore.EventData, ahead)
	for j := range batches {
		batches[j] = appendsOf(j%usageClients, 1_000_000+j)
	}
	ctx := context.Background()
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for k := 0; k < usageClients; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := k; time.Since(start) < d; j += usageClients {
				var inner sync.WaitGroup
				for ch, evs := range batches[j%ahead] {
					inner.Add(1)
					go func() {
						defer inner.Done()
						fresh := make([]eventstore.EventData, len(evs))
						for i, e := range evs {
							e.ID = uuid.New() // the store takes a repeated event ID as a retry: no append
							fresh[i] = e
						}
						if _, err := s.Append(ctx, ch, eventstore.Any, fresh...); err != nil {
							b.Error(err)
						}
					}()
				}
				inner.Wait()
				n.Add(usageBatch)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}
