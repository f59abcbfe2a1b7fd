package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
	"github.com/freezeledger/freezeledger/projections/auditlog/verify"
)

// benchEvents is the size of the benchmarks' log.
const benchEvents = 100_000

var (
	benchOnce  sync.Once
	benchStore *embedded.Store
	benchTree  *Tree
	benchDir   string
	benchErr   error
)

// benchFixture is an embedded store (no fsync: setup only) of benchEvents realistic events and a
// caught-up tree over it, shared by the benchmarks.
func benchFixture(b *testing.B) (*embedded.Store, *Tree) {
	b.Helper()
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "auditlog-bench")
		if benchErr != nil {
			return
		}
		if benchStore, benchErr = embedded.Open(filepath.Join(benchDir, "store"), embedded.Options{UnsafeNoSync: true}); benchErr != nil {
			return
		}
		ctx := context.Background()
		batch := make([]eventstore.EventData, 0, 100)
		for i := 0; i < benchEvents; i++ {
			meta, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: domain.Actor{Name: "ops-dist-1", Role: domain.RolePartner, PartnerID: "dist-1"},
				Time: baseTime.Add(time.Duration(i) * time.Millisecond), RequestID: uuid.NewString(), IdempotencyKey: uuid.NewString()})
			data, _ := json.Marshal(domain.CustomerFrozen{CustomerID: fmt.Sprintf("cust-%06d", i), FreezeType: domain.FreezeAccount,
				Origin: domain.OriginManual, Reason: "overdue invoice #" + fmt.Sprint(i)})
			batch = append(batch, eventstore.EventData{ID: uuid.New(), Type: domain.EventCustomerFrozen, Data: data, Metadata: meta})
			if len(batch) == cap(batch) {
				if _, benchErr = benchStore.Append(ctx, fmt.Sprintf("channel-dist-%d", i%50), eventstore.Any, batch...); benchErr != nil {
					return
				}
				batch = batch[:0]
			}
		}
		if benchTree, benchErr = OpenTree(filepath.Join(benchDir, "audit"), benchStore, Options{}); benchErr != nil {
			return
		}
		benchErr = benchTree.CatchUp(ctx)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchStore, benchTree
}

// cpuTime is the process's user+system CPU time: on a shared machine, events per CPU-second is
// steadier than events per wall-clock second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRate reports events/s and events/cpu-s since start and cpu0.
func reportRate(b *testing.B, events int, start time.Time, cpu0 time.Duration) {
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(events)/(cpuTime()-cpu0).Seconds(), "events/cpu-s")
}

// BenchmarkReadAllBaseline: the store's raw paged read of the whole log, the floor under an export.
func BenchmarkReadAllBaseline(b *testing.B) {
	s, _ := benchFixture(b)
	ctx := context.Background()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		after, n := eventstore.Start, 0
		for {
			recs, err := s.ReadAll(ctx, after, int(exportPage))
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			n += len(recs)
			after = recs[len(recs)-1].Position
		}
		if n != benchEvents {
			b.Fatalf("read %d", n)
		}
	}
	reportRate(b, benchEvents*b.N, start, cpu0)
}

// BenchmarkExportJSONL exports the whole log to a file.
func BenchmarkExportJSONL(b *testing.B) { benchExport(b, FormatJSONL) }

// BenchmarkExportCSV exports the whole log to a file.
func BenchmarkExportCSV(b *testing.B) { benchExport(b, FormatCSV) }

func benchExport(b *testing.B, format Format) {
	_, tr := benchFixture(b)
	path := filepath.Join(b.TempDir(), "export")
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		res, err := tr.Export(context.Background(), f, ExportRequest{Format: format})
		if err != nil || res.Events() != benchEvents {
			b.Fatal(res, err)
		}
		f.Close()
	}
	reportRate(b, benchEvents*b.N, start, cpu0)
}

// BenchmarkVerify verifies a whole-log export (leaf hashes, root, signature) from memory, without
// the domain rules (whose replay is the domain's cost).
func BenchmarkVerify(b *testing.B) {
	_, tr := benchFixture(b)
	var buf bytes.Buffer
	if _, err := tr.Export(context.Background(), &buf, ExportRequest{}); err != nil {
		b.Fatal(err)
	}
	_, signed := tr.Checkpoint()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		rep, err := verify.Verify(context.Background(), verify.VerifyInput{Export: bytes.NewReader(buf.Bytes()), Checkpoint: signed, PublicKey: tr.PublicKey()})
		if err != nil || rep.Lines != benchEvents {
			b.Fatal(err)
		}
	}
	reportRate(b, benchEvents*b.N, start, cpu0)
}

// BenchmarkInclusionProof serves inclusion proofs for random leaves of the whole tree; it reports
// the median.
func BenchmarkInclusionProof(b *testing.B) {
	_, tr := benchFixture(b)
	size := tr.Size()
	rng := rand.New(rand.NewPCG(1, 2))
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := tr.InclusionProof(rng.Uint64N(size), size); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(t0))
	}
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "median-ns")
}

// BenchmarkCheckpointLatency: from an append's acknowledgement to a signed checkpoint covering it,
// with the tree running and fsync on (a durable store, the default 100 ms checkpoint interval). It
// reports the median and the maximum.
func BenchmarkCheckpointLatency(b *testing.B) {
	dir := b.TempDir()
	s, err := embedded.Open(filepath.Join(dir, "store"), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tr, err := OpenTree(filepath.Join(dir, "audit"), s, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	defer func() { cancel(); <-done }()
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Append(ctx, "channel-x", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: domain.EventPartnerFrozen,
			Data: []byte(`{"partner_id":"p","reason":"r"}`), Metadata: []byte(`{"schema_version":1,"actor":{"name":"a","role":"platform","partner_id":""},"time":"2026-11-26T10:00:00Z"}`)}); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		if _, _, err := tr.WaitCheckpoint(wctx, uint64(i+1)); err != nil {
			b.Fatal(err)
		}
		wcancel()
		durs = append(durs, time.Since(t0))
	}
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(durs[len(durs)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkIngest indexes the whole log into a fresh tree (a rebuild from zero).
func BenchmarkIngest(b *testing.B) {
	s, _ := benchFixture(b)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		tr, err := OpenTree(b.TempDir(), s, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := tr.CatchUp(context.Background()); err != nil || tr.Size() != benchEvents {
			b.Fatal(err)
		}
		tr.Close()
	}
	reportRate(b, benchEvents*b.N, start, cpu0)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchStore != nil {
		benchTree.Close()
		benchStore.Close()
		os.RemoveAll(benchDir)
	}
	closeScopedFixture()
	removeLitewitnessBin()
	// Every Run, export worker and rule replayer a test started must have stopped.
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
		code = 1
	}
	os.Exit(code)
}
