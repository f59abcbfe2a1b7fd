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
	"github.com/freezeledger/freezeledger/domain/domaintest"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

const benchClients = 64

// benchWorld opens an fsync'd embedded store holding `channels` distributors with `perChannel`
// direct customers each (c-<channel>-<i>), set up through the service on an unsynced store first.
func benchWorld(b *testing.B, channels, perChannel int) (storeLog, [][]string) {
	b.Helper()
	dir := b.TempDir()
	s, err := embedded.Open(dir, embedded.Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	svc := domain.NewService(newStoreLog(s), domain.Options{})
	ctx := context.Background()
	customers := make([][]string, channels)
	var wg sync.WaitGroup
	sem := make(chan struct{}, benchClients)
	for c := 0; c < channels; c++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			d := fmt.Sprintf("dist-%d", c)
			if _, err := reg(platform, d, domain.PartnerDistributor, "")(ctx, svc); err != nil {
				b.Error(err)
				return
			}
			for i := 0; i < perChannel; i++ {
				id := fmt.Sprintf("c-%d-%d", c, i)
				if _, err := assoc(op(d), id, d)(ctx, svc); err != nil {
					b.Error(err)
					return
				}
				customers[c] = append(customers[c], id)
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	s, err = embedded.Open(dir, embedded.Options{}) // durable from here on
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return newStoreLog(s), customers
}

// runClients runs b.N freeze/unfreeze commands from benchClients clients; client k works on the
// customers assigned to it (so that its commands do not conflict with each other) and alternates
// freeze ACCOUNT_AND_RESOURCE and unfreeze for each.
func runClients(b *testing.B, svc *domain.Service, assign [][]target) {
	b.Helper()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for k := 0; k < benchClients; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := assign[k]
			frozenANR := make([]bool, len(mine))
			for j := 0; ; j++ {
				if next.Add(1) > int64(b.N) {
					return
				}
				i := j % len(mine)
				tg := mine[i]
				var err error
				if frozenANR[i] {
					_, err = svc.UnfreezeCustomer(ctx, domain.UnfreezeCustomer{Meta: domain.Meta{Actor: tg.actor, RequestID: "bench"}, CustomerID: tg.id, Reason: "paid", UnfreezeType: anr})
					// back to ACTIVE: next time freeze ACCOUNT_AND_RESOURCE again
				} else {
					_, err = svc.FreezeCustomer(ctx, domain.FreezeCustomer{Meta: domain.Meta{Actor: tg.actor, RequestID: "bench"}, CustomerID: tg.id, Reason: "overdue", FreezeType: anr})
				}
				if err != nil {
					b.Error(err)
					return
				}
				frozenANR[i] = !frozenANR[i]
			}
		}()
	}
	wg.Wait()
	rate := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(rate, "cmds/s")
	reportVsRaw(b, rate)
}

type target struct {
	actor domain.Actor
	id    string
}

// The customers start frozen ACCOUNT (association); unfreeze them once so the clients' cycle
// (freeze ACCOUNT_AND_RESOURCE, unfreeze) starts from ACTIVE.
func activate(b *testing.B, svc *domain.Service, assign [][]target) {
	b.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, mine := range assign {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, tg := range mine {
				if _, err := svc.UnfreezeCustomer(ctx, domain.UnfreezeCustomer{Meta: domain.Meta{Actor: tg.actor}, CustomerID: tg.id, Reason: "start", UnfreezeType: acct}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// freezeUnfreeze is the throughput benchmark on l: the customers spread over the clients,
// activated, then runClients.
func freezeUnfreeze(b *testing.B, l domain.EventLog, customers [][]string) {
	b.Helper()
	svc := domain.NewService(l, domain.Options{})
	assign := spreadAssign(customers)
	activate(b, svc, assign)
	runClients(b, svc, assign)
}

// BenchmarkFreezeUnfreeze1000Channels: 64 clients freezing and unfreezing customers spread over
// 1,000 channels, through the command service on the fsync'd embedded store.
func BenchmarkFreezeUnfreeze1000Channels(b *testing.B) {
	l, customers := benchWorld(b, 1000, 4)
	freezeUnfreeze(b, l, customers)
}

// memWorld is benchWorld on the in-memory log: the domain's own cost, without a store.
func memWorld(b *testing.B, channels, perChannel int) (*domaintest.MemoryLog, [][]string) {
	b.Helper()
	l := domaintest.NewMemoryLog()
	svc := domain.NewService(l, domain.Options{})
	ctx := context.Background()
	customers := make([][]string, channels)
	for c := 0; c < channels; c++ {
		d := fmt.Sprintf("dist-%d", c)
		if _, err := reg(platform, d, domain.PartnerDistributor, "")(ctx, svc); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < perChannel; i++ {
			id := fmt.Sprintf("c-%d-%d", c, i)
			if _, err := assoc(op(d), id, d)(ctx, svc); err != nil {
				b.Fatal(err)
			}
			customers[c] = append(customers[c], id)
		}
	}
	return l, customers
}

func spreadAssign(customers [][]string) [][]target {
	assign := make([][]target, benchClients)
	n := 0
	for i := 0; ; i++ {
		added := false
		for c := range customers {
			if i < len(customers[c]) {
				assign[n%benchClients] = append(assign[n%benchClients], target{op(fmt.Sprintf("dist-%d", c)), customers[c][i]})
				n++
				added = true
			}
		}
		if !added {
			return assign
		}
	}
}

// BenchmarkDomainOnly1000Channels and BenchmarkDomainOnlyOneChannel are the two throughput
// benchmarks on the in-memory log: the ceiling the command service itself sets.
func BenchmarkDomainOnly1000Channels(b *testing.B) {
	l, customers := memWorld(b, 1000, 4)
	freezeUnfreeze(b, l, customers)
}

func BenchmarkDomainOnlyOneChannel(b *testing.B) {
	l, customers := memWorld(b, 1, 640)
	freezeUnfreeze(b, l, customers)
}

// BenchmarkFreezeUnfreezeOneChannel: 64 clients, all in one channel, with the append pipeline
// (the default on the embedded store) and without it (each group waits for the previous append).
func BenchmarkFreezeUnfreezeOneChannel(b *testing.B) {
	const per = 640
	for _, pipelined := range []bool{true, false} {
		b.Run(fmt.Sprintf("pipeline=%v", pipelined), func(b *testing.B) {
			l, customers := benchWorld(b, 1, per)
			var log domain.EventLog = l
			if !pipelined {
				log = unpipelined{l}
			}
			freezeUnfreeze(b, log, customers)
		})
	}
}

// unpipelined is the store's log without its domain.PipelinedLog.
type unpipelined struct{ storeLog }

// rawAppends has benchClients clients append one small event each to their own stream of s,
// straight to the store (no domain), each asking more() before every append; it returns how many
// appends succeeded.
func rawAppends(b *testing.B, s eventstore.Store, more func() bool) int64 {
	b.Helper()
	data := []byte(`{"customer_id":"c-1","freeze_type":"ACCOUNT_AND_RESOURCE","origin":"manual","reason":"overdue"}`)
	meta := []byte(`{"schema_version":1,"actor":{"name":"ops-dist-1","role":"partner","partner_id":"dist-1"},"time":"2026-11-01T08:00:00Z","request_id":"bench"}`)
	ctx := context.Background()
	var n atomic.Int64
	var wg sync.WaitGroup
	for k := 0; k < benchClients; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("raw-%d", k)
			for more() {
				if _, err := s.Append(ctx, stream, eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "customer.frozen", Data: data, Metadata: meta}); err != nil {
					b.Error(err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return n.Load()
}

// rawAppendRate is the baseline measured in the same run: 64 clients appending one small event each
// to their own stream of a fresh fsync'd embedded store, for d, straight to the store (no domain).
func rawAppendRate(b *testing.B, d time.Duration) float64 {
	b.Helper()
	s, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	n := rawAppends(b, s, func() bool { return time.Since(start) < d })
	return float64(n) / time.Since(start).Seconds()
}

// reportVsRaw measures the raw append baseline right after a throughput benchmark's run and reports
// it and the ratio (only ratios are comparable on a shared machine).
func reportVsRaw(b *testing.B, cmdsPerSec float64) {
	b.Helper()
	if b.N < 1000 {
		return
	}
	b.StopTimer()
	raw := rawAppendRate(b, time.Second)
	b.ReportMetric(raw, "raw-appends/s")
	b.ReportMetric(cmdsPerSec/raw, "x-raw")
}

// BenchmarkRawAppend64Clients is the baseline: 64 clients appending one small event each to their
// own stream, straight to the fsync'd embedded store (no domain).
func BenchmarkRawAppend64Clients(b *testing.B) {
	s, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	rawAppends(b, s, func() bool { return next.Add(1) <= int64(b.N) })
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
}

// bigChannel writes a channel of n events straight to the store: one distributor, 1,000 customers
// (association and its freeze), then unfreeze/freeze pairs, all as the service writes them.
func bigChannel(b *testing.B, n int) storeLog {
	b.Helper()
	s, err := embedded.Open(b.TempDir(), embedded.Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	l := newStoreLog(s)
	ctx := context.Background()
	stream := domain.ChannelStream("dist-big")
	at := t0
	mk := func(typ string, data any, a domain.Actor, key string) domain.NewEvent {
		d, _ := json.Marshal(data)
		m, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: a, Time: at, RequestID: uuid.NewString(), IdempotencyKey: key, CommandHash: "0123456789abcdef0123456789abcdef"})
		at = at.Add(time.Millisecond)
		return domain.NewEvent{ID: uuid.New(), Type: typ, Data: d, Metadata: m}
	}
	dist := op("dist-big")
	evs := []domain.NewEvent{mk(domain.EventPartnerRegistered, domain.PartnerRegistered{PartnerID: "dist-big", Name: "Big", Type: domain.PartnerDistributor}, platform, "")}
	const customers = 1000
	for i := 0; i < customers; i++ {
		id := fmt.Sprintf("c-%d", i)
		evs = append(evs,
			mk(domain.EventCustomerAssociated, domain.CustomerAssociated{CustomerID: id, Name: "Customer " + id, PartnerID: "dist-big", Tags: []string{"gold"}}, dist, ""),
			mk(domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: id, FreezeType: acct, Origin: domain.OriginAssociation, Reason: domain.AssociationReason}, dist, ""))
	}
	for i := 0; len(evs) < n; i++ {
		id := fmt.Sprintf("c-%d", i%customers)
		key := ""
		if i%4 == 0 {
			key = uuid.NewString() // a quarter of the commands carry an idempotency key
		}
		evs = append(evs, mk(domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: id, UnfreezeType: acct, Reason: "paid"}, dist, key))
		if len(evs) < n {
			evs = append(evs, mk(domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: id, FreezeType: acct, Origin: domain.OriginManual, Reason: "overdue invoice"}, dist, key))
		}
	}
	expected := domain.ExpectNoStream
	for i := 0; i < len(evs); i += 1000 {
		app, err := l.Append(ctx, stream, expected, evs[i:min(i+1000, len(evs))])
		if err != nil {
			b.Fatal(err)
		}
		expected = int64(app.Revision)
	}
	return l
}

// BenchmarkLoadChannel100k: a service that has not seen the channel loads 100,000 events (read from
// the store and replayed) to answer one query. Each iteration also times, untimed for b, a plain
// read of the same stream (the baseline, interleaved so that both see the same machine load).
func BenchmarkLoadChannel100k(b *testing.B) {
	l := bigChannel(b, 100_000)
	ctx := context.Background()
	var plain time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		start := time.Now()
		if evs, err := l.Read(ctx, domain.ChannelStream("dist-big"), 0); err != nil || len(evs) != 100_000 {
			b.Fatal(len(evs), err)
		}
		plain += time.Since(start)
		b.StartTimer()
		svc := domain.NewService(l, domain.Options{})
		var n int
		if err := svc.QueryChannel(ctx, domain.ChannelStream("dist-big"), func(c *domain.Channel) { n = int(c.Revision()) + 1 }); err != nil {
			b.Fatal(err)
		}
		if n != 100_000 {
			b.Fatalf("loaded %d events", n)
		}
	}
	b.StopTimer()
	load := float64(b.Elapsed().Milliseconds()) / float64(b.N)
	read := float64(plain.Milliseconds()) / float64(b.N)
	b.ReportMetric(load, "ms/load")
	b.ReportMetric(read, "ms/plain-read")
	b.ReportMetric(load/read, "x-read")
}

// BenchmarkReadChannel100k is the load's baseline: only reading the 100,000 events from the store.
func BenchmarkReadChannel100k(b *testing.B) {
	l := bigChannel(b, 100_000)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		evs, err := l.Read(ctx, domain.ChannelStream("dist-big"), 0)
		if err != nil || len(evs) != 100_000 {
			b.Fatal(len(evs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/read")
}
