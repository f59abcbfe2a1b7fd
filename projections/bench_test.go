package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// Benchmarks run only with -bench. Their log size is FREEZELEDGER_BENCH_CUSTOMERS customers
// (default 100,000; the figures in docs/BENCHMARKS.md use 1,000,000), built once per process in a
// temporary embedded store:
//
//	go test -run '^$' -bench . -benchtime 1x ./projections/                               # 100k customers
//	FREEZELEDGER_BENCH_CUSTOMERS=1000000 go test -run '^$' -bench . -benchtime 1x -timeout 30m ./projections/
//
// Each customer has an id.reserved, a customer.associated and a customer.frozen (association)
// event, as the domain writes them; every 5th is unfrozen and every 50th frozen with
// ACCOUNT_AND_RESOURCE; 10 distributors with 10 resellers each and 10 solution providers share them.

var (
	benchMu   sync.Mutex
	benchLogs = map[int]*benchLog{}
	benchDirs []string
)

type benchLog struct {
	store     *embedded.Store
	ids       []string
	events    int
	ckptDir   string
	ckptBytes int64
	ckptWrite time.Duration
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, l := range benchLogs {
		l.store.Close()
	}
	for _, d := range benchDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func benchCustomers() int {
	if n, err := strconv.Atoi(os.Getenv("FREEZELEDGER_BENCH_CUSTOMERS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

func getBenchLog(b *testing.B) *benchLog {
	b.Helper()
	n := benchCustomers()
	benchMu.Lock()
	defer benchMu.Unlock()
	if l, ok := benchLogs[n]; ok {
		return l
	}
	// FREEZELEDGER_BENCH_DIR keeps the generated log between runs (it is not deleted).
	var dir string
	if keep := os.Getenv("FREEZELEDGER_BENCH_DIR"); keep != "" {
		dir = filepath.Join(keep, strconv.Itoa(n))
	} else {
		var err error
		if dir, err = os.MkdirTemp("", "projections-bench-"); err != nil {
			b.Fatal(err)
		}
		benchDirs = append(benchDirs, dir)
	}
	st, err := embedded.Open(filepath.Join(dir, "store"), embedded.Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	ckptDir, err := os.MkdirTemp("", "projections-bench-ckpt-")
	if err != nil {
		b.Fatal(err)
	}
	benchDirs = append(benchDirs, ckptDir)
	l := &benchLog{store: st, ckptDir: ckptDir}
	ctx := context.Background()
	complete := filepath.Join(dir, "complete")
	if _, err := os.Stat(complete); err == nil {
		head, err := st.Head(ctx)
		if err != nil {
			b.Fatal(err)
		}
		l.events = int(head.Commit)
		for i := 0; i < n; i++ {
			l.ids = append(l.ids, fmt.Sprintf("cust-%07d", i))
		}
		benchLogs[n] = l
		return l
	}
	now := t0
	mk := func(typ string, actor domain.Actor, data any) eventstore.EventData {
		now = now.Add(time.Millisecond)
		d, _ := json.Marshal(data)
		md, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: actor, Time: now, RequestID: "req-" + strconv.Itoa(l.events)})
		l.events++
		return eventstore.EventData{ID: uuid.New(), Type: typ, Data: d, Metadata: md}
	}
	app := func(stream string, evs []eventstore.EventData) {
		if _, err := st.Append(ctx, stream, eventstore.Any, evs...); err != nil {
			b.Fatal(err)
		}
	}
	type channel struct {
		root     string
		partners []string // partners[0] is the root
	}
	var chans []channel
	for d := 0; d < 10; d++ {
		root := fmt.Sprintf("dist-%d", d)
		evs := []eventstore.EventData{mk(domain.EventPartnerRegistered, platform, domain.PartnerRegistered{PartnerID: root, Name: root, Type: domain.PartnerDistributor})}
		ch := channel{root: root, partners: []string{root}}
		for r := 0; r < 10; r++ {
			id := fmt.Sprintf("res-%d-%d", d, r)
			evs = append(evs, mk(domain.EventPartnerRegistered, opsOf(root), domain.PartnerRegistered{PartnerID: id, Name: id, Type: domain.PartnerReseller, ParentID: root}))
			ch.partners = append(ch.partners, id)
		}
		app(domain.ChannelStream(root), evs)
		chans = append(chans, ch)
	}
	for s := 0; s < 10; s++ {
		root := fmt.Sprintf("sp-%d", s)
		app(domain.ChannelStream(root), []eventstore.EventData{mk(domain.EventPartnerRegistered, platform, domain.PartnerRegistered{PartnerID: root, Name: root, Type: domain.PartnerSolutionProvider})})
		chans = append(chans, channel{root: root, partners: []string{root}})
	}
	const chunk = 500
	tags := [][]string{nil, {"gold"}, {"gold", "eu"}, {"silver"}}
	for start := 0; start < n; start += chunk * len(chans) {
		for ci, ch := range chans {
			var res, evs []eventstore.EventData
			for k := 0; k < chunk; k++ {
				i := start + ci*chunk + k
				if i >= n {
					break
				}
				id := fmt.Sprintf("cust-%07d", i)
				l.ids = append(l.ids, id)
				p := ch.partners[i%len(ch.partners)]
				dist := ""
				if p != ch.root && ch.root[:4] == "dist" {
					dist = ch.root
				}
				actor := opsOf(p)
				res = append(res, mk(domain.EventIDReserved, actor, domain.IDReserved{Kind: "customer", ID: id, Channel: domain.ChannelStream(ch.root)}))
				evs = append(evs, mk(domain.EventCustomerAssociated, actor, domain.CustomerAssociated{CustomerID: id, Name: "Customer " + id, PartnerID: p, DistributorID: dist, Tags: tags[i%len(tags)], AccountManager: []string{"", "li", "wang"}[i%3]}),
					mk(domain.EventCustomerFrozen, actor, domain.CustomerFrozen{CustomerID: id, FreezeType: domain.FreezeAccount, Origin: domain.OriginAssociation, Reason: "new customer"}))
				if i%5 == 0 {
					evs = append(evs, mk(domain.EventCustomerUnfrozen, opsOf(ch.root), domain.CustomerUnfrozen{CustomerID: id, UnfreezeType: domain.FreezeAccount, Reason: "contract signed"}))
				}
				if i%50 == 0 {
					dl := now.Add(DefaultRetention)
					evs = append(evs, mk(domain.EventCustomerFrozen, opsOf(ch.root), domain.CustomerFrozen{CustomerID: id, FreezeType: domain.FreezeAccountAndResource, Origin: domain.OriginManual, Reason: "overdue invoice " + strconv.Itoa(i%7), RetentionDeadline: &dl}))
				}
			}
			if len(res) == 0 {
				continue
			}
			app(fmt.Sprintf("reservation-customer-bench-%d-%d", start, ci), res)
			app(domain.ChannelStream(ch.root), evs)
		}
	}
	// A frozen reseller and a frozen distributor, so lookups exercise the cascade.
	app(domain.ChannelStream("dist-1"), []eventstore.EventData{
		mk(domain.EventPartnerFrozen, opsOf("dist-1"), domain.PartnerFrozen{PartnerID: "res-1-3", Reason: "reseller overdue"}),
	})
	app(domain.ChannelStream("dist-2"), []eventstore.EventData{mk(domain.EventPartnerFrozen, platform, domain.PartnerFrozen{PartnerID: "dist-2", Reason: "contract breach"})})
	if err := os.WriteFile(complete, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	benchLogs[n] = l
	return l
}

func rebuildModels(b *testing.B, l *benchLog, dir string) *ReadModels {
	b.Helper()
	m, err := Open(l.store, dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Rebuild(context.Background()); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkReadAllBaseline is the store's raw read rate: ReadAll pages of 4096 events, nothing
// applied. BenchmarkRebuild's events/s divided by this one's is the read models' share.
func BenchmarkReadAllBaseline(b *testing.B) {
	l := getBenchLog(b)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		after, n := eventstore.Start, 0
		for {
			evs, err := l.store.ReadAll(context.Background(), after, 4096)
			if err != nil {
				b.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			n += len(evs)
			after = evs[len(evs)-1].Position
		}
		if n != l.events {
			b.Fatalf("read %d events, want %d", n, l.events)
		}
	}
	b.ReportMetric(float64(l.events*b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkRebuild rebuilds the read models from the embedded store (Rebuild, no checkpoint dir).
func BenchmarkRebuild(b *testing.B) {
	l := getBenchLog(b)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		m := rebuildModels(b, l, "")
		if m.Events() != uint64(l.events) {
			b.Fatalf("%d events applied, want %d", m.Events(), l.events)
		}
	}
	b.ReportMetric(float64(l.events*b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(l.events), "events")
}

// BenchmarkHeapPerCustomer measures the live heap the read models hold, after a GC, per customer.
// FREEZELEDGER_BENCH_HEAPPROFILE=FILE writes the in-use heap profile while they are live.
func BenchmarkHeapPerCustomer(b *testing.B) {
	l := getBenchLog(b)
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := rebuildModels(b, l, "")
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(l.ids)), "heap-B/customer")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(l.events), "heap-B/event")
		b.ReportMetric(float64(len(l.ids)), "customers")
		if p := os.Getenv("FREEZELEDGER_BENCH_HEAPPROFILE"); p != "" { // the in-use heap while m is live
			f, err := os.Create(p)
			if err == nil {
				err = errors.Join(pprof.WriteHeapProfile(f), f.Close())
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		runtime.KeepAlive(m)
	}
}

// BenchmarkRestartFromCheckpoint: Open over a checkpoint of the whole log, until Ready (applied ==
// store head). The checkpoint is written once, before the timer starts.
func BenchmarkRestartFromCheckpoint(b *testing.B) {
	l := getBenchLog(b)
	if l.ckptBytes == 0 {
		m := rebuildModels(b, l, "")
		m.dir = l.ckptDir
		m.sinceCkpt.Add(1)
		t := time.Now()
		if err := m.Checkpoint(); err != nil {
			b.Fatal(err)
		}
		l.ckptWrite = time.Since(t)
		fi, err := os.Stat(filepath.Join(l.ckptDir, CheckpointFile))
		if err != nil {
			b.Fatal(err)
		}
		l.ckptBytes = fi.Size()
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		m, err := Open(l.store, l.ckptDir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Ready(context.Background()); err != nil {
			b.Fatalf("not ready after loading the checkpoint: %v", err)
		}
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/restart")
	b.ReportMetric(float64(l.ckptBytes)/float64(len(l.ids)), "ckpt-B/customer")
	b.ReportMetric(l.ckptWrite.Seconds(), "ckpt-write-s")
}

var (
	benchModelsMu sync.Mutex
	benchModels   = map[int]*ReadModels{}
)

func modelsForLookups(b *testing.B) (*ReadModels, []string) {
	l := getBenchLog(b)
	benchModelsMu.Lock()
	defer benchModelsMu.Unlock()
	m, ok := benchModels[len(l.ids)]
	if !ok {
		m = rebuildModels(b, l, "")
		benchModels[len(l.ids)] = m
	}
	return m, l.ids
}

// lookupBench runs fn over random customers, reporting ns/op (the mean) and the median of timed
// samples (each sample times a run of 16 lookups, to keep the clock's cost out of the figure).
func lookupBench(b *testing.B, fn func(id string) error) {
	m, ids := modelsForLookups(b)
	_ = m
	r := rand.New(rand.NewPCG(1, 2))
	order := make([]string, 1<<16)
	for i := range order {
		order[i] = ids[r.IntN(len(ids))]
	}
	const run = 16
	samples := make([]float64, 0, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += run {
		t := time.Now()
		for k := 0; k < run; k++ {
			if err := fn(order[(i+k)&(len(order)-1)]); err != nil {
				b.Fatal(err)
			}
		}
		if len(samples) < cap(samples) {
			samples = append(samples, float64(time.Since(t).Nanoseconds())/run)
		}
	}
	b.StopTimer()
	slices.Sort(samples)
	if len(samples) > 0 {
		b.ReportMetric(samples[len(samples)/2], "median-ns")
	}
}

func BenchmarkStatus(b *testing.B) {
	m, _ := modelsForLookups(b)
	lookupBench(b, func(id string) error { _, err := m.Status(id, AsOf{}); return err })
}

func BenchmarkCheckOperation(b *testing.B) {
	m, _ := modelsForLookups(b)
	ops := []string{OpView, OpRename, OpOperate, OpUnsubscribe}
	i := 0
	lookupBench(b, func(id string) error {
		i++
		_, err := m.CheckOperation(id, ops[i&3], OperationsQuery{})
		return err
	})
}

func BenchmarkStatusAsOfTime(b *testing.B) {
	m, _ := modelsForLookups(b)
	at := t0.Add(time.Duration(m.st.pos.len()/2) * time.Millisecond)
	lookupBench(b, func(id string) error {
		_, err := m.Status(id, AsOf{Time: &at})
		if err != nil && domain.ErrorCode(err) == domain.CodeNotFound {
			return nil
		}
		return err
	})
}

// BenchmarkMapLookupBaseline is a bare map[string]uint32 lookup of the same customer IDs in the
// same harness: the floor that Status and CheckOperation are compared with.
func BenchmarkMapLookupBaseline(b *testing.B) {
	_, ids := modelsForLookups(b)
	idx := make(map[string]uint32, len(ids))
	for i, id := range ids {
		idx[id] = uint32(i)
	}
	var sink uint32
	lookupBench(b, func(id string) error {
		sink += idx[id]
		return nil
	})
	_ = sink
}

// BenchmarkIDLookup is the read models' customer ID index alone (no lock, no status).
func BenchmarkIDLookup(b *testing.B) {
	m, _ := modelsForLookups(b)
	lookupBench(b, func(id string) error {
		if _, ok := m.st.lookup(id); !ok {
			return fmt.Errorf("%s not found", id)
		}
		return nil
	})
}

// BenchmarkView is a customer's view (lookup, own state, cascade) under the read lock, no output.
func BenchmarkView(b *testing.B) {
	m, _ := modelsForLookups(b)
	lookupBench(b, func(id string) error {
		m.mu.RLock()
		_, err := m.viewLocked(id, AsOf{})
		m.mu.RUnlock()
		return err
	})
}
