package embedded_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// benchEvent is about the size of a freezeledger event: ~300 bytes of JSON data, ~150 of metadata.
func benchEvent() eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.New(),
		Type:     "customer.frozen",
		Data:     []byte(`{"v":1,"customerId":"cust-000123","partnerId":"reseller-0042","reason":"fraud","ticket":"SEC-12345","note":"frozen after a chargeback spike on the account; contact security before unfreezing","frozenAt":"2026-11-26T14:00:00Z","authority":{"kind":"delegation","id":"del-0007"},"pad":"xxxxxxxxxxxxxxxxxxxxxxxx"}`),
		Metadata: []byte(`{"actor":{"kind":"user","id":"alice@reseller-0042"},"commandId":"6f1c1c1e-8a0d-4c39-9d6b-1f0f3a8b2c4d","correlationId":"c-1"}`),
	}
}

// rawFsyncRate measures, in dir, how many times per second the disk takes a 4 KiB append to a file
// followed by fsync: the physical limit of one durable write at a time.
func rawFsyncRate(tb testing.TB, dir string, n int) float64 {
	tb.Helper()
	f, err := os.Create(filepath.Join(dir, "fsync-baseline"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := f.Write(buf); err != nil {
			tb.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			tb.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkRawFsync is the baseline: one 4 KiB append + fsync per op.
func BenchmarkRawFsync(b *testing.B) {
	dir := b.TempDir()
	b.ResetTimer()
	rate := rawFsyncRate(b, dir, b.N)
	b.ReportMetric(rate, "fsyncs/s")
}

// BenchmarkAppendOneWriter: one writer, one event per durable append. Each iteration also does one
// raw 4 KiB append + fsync to a file in the same directory, timed apart, so that the ratio
// x-raw-fsync (store events/s ÷ raw fsyncs/s) compares the two under the same disk load.
func BenchmarkAppendOneWriter(b *testing.B) {
	dir := b.TempDir()
	s, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	raw, err := os.Create(filepath.Join(dir, "fsync-baseline"))
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	buf := make([]byte, 4096)
	ctx := context.Background()
	evs := make([]eventstore.EventData, b.N)
	for i := range evs {
		evs[i] = benchEvent()
	}
	var rawTime, appendTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := raw.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := raw.Sync(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := s.Append(ctx, "bench-one", eventstore.Any, evs[i]); err != nil {
			b.Fatal(err)
		}
		appendTime += time.Since(t1)
		rawTime += t1.Sub(t0)
	}
	b.StopTimer()
	rate, rawRate := float64(b.N)/appendTime.Seconds(), float64(b.N)/rawTime.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(rawRate, "raw-fsyncs/s")
	b.ReportMetric(rate/rawRate, "x-raw-fsync")
}

// BenchmarkAppend256Writers: 256 goroutines, each durable append carrying one event; b.N appends in
// all. Reports events/s, the p99 append latency, and the raw fsync rate measured just before.
func BenchmarkAppend256Writers(b *testing.B) {
	const writers = 256
	dir := b.TempDir()
	raw := rawFsyncRate(b, dir, 300)
	s, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	evs := make([]eventstore.EventData, b.N)
	for i := range evs {
		evs[i] = benchEvent()
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("bench-%d", w)
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if _, err := s.Append(ctx, stream, eventstore.Any, evs[i]); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(raw, "raw-fsyncs/s")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if readAllOnce.dir != "" {
		os.RemoveAll(readAllOnce.dir)
	}
	os.Exit(code)
}

const readAllEvents = 200_000

// readAllFixture writes, once per process, a store of readAllEvents events for the read benchmarks.
func readAllFixture() {
	const total = readAllEvents
	readAllOnce.Do(func() {
		readAllOnce.dir, readAllOnce.err = os.MkdirTemp("", "readall-bench")
		if readAllOnce.err != nil {
			return
		}
		s, err := embedded.Open(readAllOnce.dir, embedded.Options{UnsafeNoSync: true})
		if err != nil {
			readAllOnce.err = err
			return
		}
		defer s.Close()
		for i := 0; i < total; i += 1000 {
			evs := make([]eventstore.EventData, 1000)
			for j := range evs {
				evs[j] = benchEvent()
			}
			if _, err := s.Append(context.Background(), fmt.Sprintf("read-%d", i%97), eventstore.Any, evs...); err != nil {
				readAllOnce.err = err
				return
			}
		}
		readAllOnce.n = total
	})
}

var readAllOnce struct {
	sync.Once
	dir string
	n   int
	err error
}

// readAllDir is the directory of the read benchmarks' store (readAllFixture), written on first use.
func readAllDir(b *testing.B) string {
	b.Helper()
	readAllFixture()
	if readAllOnce.err != nil {
		b.Fatal(readAllOnce.err)
	}
	return readAllOnce.dir
}

// readAllStore opens the read benchmarks' store, closed when the benchmark ends.
func readAllStore(b *testing.B) *embedded.Store {
	b.Helper()
	s, err := embedded.Open(readAllDir(b), embedded.Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkReadAll reads a warm store of 200,000 events in global order, in pages of 4096 (as a
// projection catching up would); one op is one event.
func BenchmarkReadAll(b *testing.B) {
	const total = readAllEvents
	s := readAllStore(b)
	ctx := context.Background()
	if all, err := s.ReadAll(ctx, eventstore.Start, 0); err != nil || len(all) != total { // warm the page cache
		b.Fatalf("read %d events of %d: %v", len(all), total, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	pos := eventstore.Start
	for read := 0; read < b.N; {
		page, err := s.ReadAll(ctx, pos, min(4096, b.N-read))
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			pos = eventstore.Start
			continue
		}
		read += len(page)
		pos = page[len(page)-1].Position
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkOpen opens the 200,000-event store of BenchmarkReadAll: Open checks the tail and
// rebuilds the in-memory stream index with one sequential scan. One op is one event scanned.
func BenchmarkOpen(b *testing.B) {
	benchOpen(b, embedded.Options{UnsafeNoSync: true})
}

// BenchmarkOpenVerify opens the same store with VerifyOnOpen: the index scan also checks stream
// names and, on GOMAXPROCS workers, every chain link. One op is one event scanned.
func BenchmarkOpenVerify(b *testing.B) {
	benchOpen(b, embedded.Options{UnsafeNoSync: true, VerifyOnOpen: true})
}

// benchOpen opens the store of BenchmarkReadAll with opts until b.N events have been scanned and
// reports the events scanned per second.
func benchOpen(b *testing.B, opts embedded.Options) {
	b.Helper()
	dir := readAllDir(b)
	b.ResetTimer()
	start := time.Now()
	scanned := 0
	for scanned < b.N {
		s, err := embedded.Open(dir, opts)
		if err != nil {
			b.Fatal(err)
		}
		h, _ := s.Head(context.Background())
		s.Close()
		scanned += int(h.Commit)
	}
	b.ReportMetric(float64(scanned)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkVerify runs the standalone Verify over the same store (a second full pass after Open,
// as serve did before VerifyOnOpen and as freezeledger verify does). One op is one event checked.
func BenchmarkVerify(b *testing.B) {
	s := readAllStore(b)
	h, _ := s.Head(context.Background())
	b.ResetTimer()
	start := time.Now()
	checked := 0
	for checked < b.N {
		if err := s.Verify(context.Background()); err != nil {
			b.Fatal(err)
		}
		checked += int(h.Commit)
	}
	b.ReportMetric(float64(checked)/time.Since(start).Seconds(), "events/s")
}
