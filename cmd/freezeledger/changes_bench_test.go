package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
	"github.com/freezeledger/freezeledger/httpapi"
)

// BenchmarkWritesWithFeedSubscribers measures customer freezes and unfreezes over loopback (8
// concurrent writers, each toggling its own customer) with nobody attached, and with 100 SSE
// subscribers plus 100 webhooks (10 principals × 10, to one loopback receiver) attached: every
// write yields an item that the platform's and dist-a's subscribers and webhooks receive. The
// harness's store runs without fsync (UnsafeNoSync), so the figure isolates the feed's CPU cost.
// Everything runs in one process: cpu-µs/write is the server's, the writers', the subscribers'
// and the receiver's (BenchmarkWritesWithFeedSubscribersServerProcess separates the server's).
func BenchmarkWritesWithFeedSubscribers(b *testing.B) {
	for _, c := range feedBenchCases {
		b.Run(c.String(), func(b *testing.B) {
			ts := startServerFull(b, b.TempDir(), standardPrincipals, nil, []string{"--log-level", "error", "--webhook-allow-insecure-loopback"})
			writesWithFeed(b, ts, c, func() time.Duration { return cpuTime() }, "cpu-µs/write")
		})
	}
}

// BenchmarkWritesWithFeedSubscribersServerProcess is BenchmarkWritesWithFeedSubscribers with the
// server as a child process (the real binary, its store with fsync), so that server-cpu-µs/write
// is the server's CPU alone; the writers, the SSE subscribers and the webhook receiver stay in the
// benchmark's process (they still share the machine's cores with it).
func BenchmarkWritesWithFeedSubscribersServerProcess(b *testing.B) {
	bin := buildBinary(b)
	for _, c := range feedBenchCases {
		b.Run(c.String(), func(b *testing.B) {
			dir := b.TempDir()
			ts := &testServer{t: b, dir: dir, tokens: map[string]string{}, client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
			for _, p := range standardPrincipals {
				tok, err := httpapi.CreatePrincipal(PrincipalsFile(dir), p.name, domain.Role(p.role), p.partner)
				if err != nil {
					b.Fatal(err)
				}
				ts.tokens[p.name] = tok
			}
			p := startProc(b, bin, dir, "--webhook-allow-insecure-loopback")
			ts.url = "http://" + p.addr
			defer ts.client.CloseIdleConnections()
			writesWithFeed(b, ts, c, func() time.Duration { return procCPU(b, p.cmd.Process.Pid) }, "server-cpu-µs/write")
		})
	}
}

type feedBenchCase struct{ sse, hooks int }

func (c feedBenchCase) String() string { return fmt.Sprintf("sse=%d/webhooks=%d", c.sse, c.hooks) }

var feedBenchCases = []feedBenchCase{{0, 0}, {100, 0}, {0, 100}, {100, 100}}

// writesWithFeed runs the writers against ts with c attached and reports writes/s and the CPU
// time cpu gives per write as unit.
func writesWithFeed(b *testing.B, ts *testServer, c feedBenchCase, cpu func() time.Duration, unit string) {
	ts.setupHierarchy()
	const writers = 8
	for i := 0; i < writers; i++ {
		ts.mustB(b, 201, "POST", "/v1/customers", "op-dist-a", fmt.Sprintf(`{"customer_id":"w-%d","name":"W","partner_id":"dist-a"}`, i))
	}
	var received atomic.Int64
	if c.hooks > 0 {
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			received.Add(1)
		}))
		defer rc.Close()
		owners := []string{"plat", "op-dist-a", "op-res-a1", "op-res-a2", "op-dist-b", "op-res-b1", "op-sp-c", "rd", "rd-a", "rd-res-a1"}
		for i := 0; i < c.hooks; i++ {
			ts.mustB(b, 201, "POST", "/v1/webhooks", owners[i%len(owners)], fmt.Sprintf(`{"url":%q}`, rc.URL))
		}
	}
	if c.sse > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		defer func() { cancel(); wg.Wait() }()
		viewers := []string{"plat", "rd", "rd-a", "op-dist-a", "aud", "op-res-a1", "aud-a", "op-dist-b", "rd-res-a1", "op-sp-c"}
		for i := 0; i < c.sse; i++ {
			req, _ := http.NewRequestWithContext(ctx, "GET", ts.url+"/v1/changes", nil)
			req.Header.Set("Authorization", "Bearer "+ts.tokens[viewers[i%len(viewers)]])
			req.Header.Set("Accept", "text/event-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer resp.Body.Close()
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
				}
			}()
		}
	}
	var seq atomic.Int64
	b.SetParallelism(writers / 2) // GOMAXPROCS is 2 here: 8 writers
	cpu0 := cpu()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := seq.Add(1) - 1
		id := fmt.Sprintf("w-%d", w%writers)
		frozen := true
		for pb.Next() {
			path, body := "/v1/customers/"+id+"/unfreeze", `{"reason":"bench","unfreeze_type":"ACCOUNT"}`
			if !frozen {
				path, body = "/v1/customers/"+id+"/freeze", `{"reason":"bench"}`
			}
			if st := ts.post(path, "op-dist-a", body); st != 200 {
				b.Errorf("%s: %d", path, st)
				return
			}
			frozen = !frozen
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
	// CPU per write is steadier than writes/s on a shared machine.
	b.ReportMetric(float64((cpu()-cpu0).Microseconds())/float64(b.N), unit)
}

// procCPU is process pid's user and system CPU time so far (from /proc, in clock ticks of 10 ms).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which is in parentheses): state is field 3; utime and stime
	// are fields 14 and 15.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// mustB is a request for benchmarks (no OpenAPI validation).
func (ts *testServer) mustB(b *testing.B, want int, method, path, who, body string) {
	b.Helper()
	if st := ts.do(method, path, who, body); st != want {
		b.Fatalf("%s %s: %d, want %d", method, path, st, want)
	}
}

func (ts *testServer) post(path, who, body string) int { return ts.do("POST", path, who, body) }

func (ts *testServer) do(method, path, who, body string) int {
	req, _ := http.NewRequest(method, ts.url+path, stringsReader(body))
	req.Header.Set("Authorization", "Bearer "+ts.tokens[who])
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.client.Do(req)
	if err != nil {
		return -1
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func stringsReader(s string) io.Reader {
	if s == "" {
		return nil
	}
	return strings.NewReader(s)
}

// BenchmarkSSEFanout: a distributor with 100,000 customers (FREEZELEDGER_BENCH_CUSTOMERS) is
// frozen, then unfrozen (one op each): the time from sending the command to the last of its
// 100,000 items read by an SSE subscriber over loopback; and the process's live heap (after a GC)
// before the first op and half-way through each fan-out, which shows whether a fan-out holds
// memory in proportion to its size. The first op includes the domain's first load of the channel
// (200,000 events) into its aggregate, which then stays in memory.
func BenchmarkSSEFanout(b *testing.B) {
	n := benchCustomersCmd()
	dir := b.TempDir()
	writeBigChannel(b, dir, n)
	ts := startServerFull(b, dir, []testPrincipal{{"plat", "platform", ""}}, nil, []string{"--log-level", "error"})
	head := ts.headB(b)
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	if err := ts.m.led.reads.WaitFor(wctx, head); err != nil { // the read models' first catch-up
		b.Fatal(err)
	}
	wcancel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.url+"/v1/changes?after="+head.String(), nil)
	req.Header.Set("Authorization", "Bearer "+ts.tokens["plat"])
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var live uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		path := "/v1/partners/dist-1/freeze"
		if i%2 == 1 {
			path = "/v1/partners/dist-1/unfreeze"
		}
		ts.mustB(b, 200, "POST", path, "plat", `{"reason":"bench"}`)
		for got := 0; got < n; {
			if !sc.Scan() {
				b.Fatalf("stream ended after %d items: %v", got, sc.Err())
			}
			if len(sc.Bytes()) > 6 && string(sc.Bytes()[:6]) == "data: " {
				got++
				if got == n/2 { // half-way: what is live in the whole process, after a GC
					b.StopTimer()
					runtime.GC()
					runtime.ReadMemStats(&ms)
					live = max(live, ms.HeapAlloc)
					b.StartTimer()
				}
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(base)/(1<<20), "live-before-MiB")
	b.ReportMetric(float64(live)/(1<<20), "live-midway-MiB")
}

func benchCustomersCmd() int {
	if n, err := strconv.Atoi(os.Getenv("FREEZELEDGER_BENCH_CUSTOMERS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// writeBigChannel writes, straight into dir's embedded store, distributor dist-1 (registered by the
// platform, with its reservation) and n customers associated with it, each frozen by association:
// the log the API would have written, without n HTTP round trips.
func writeBigChannel(b *testing.B, dir string, n int) {
	b.Helper()
	st, err := embedded.Open(StoreDir(dir), embedded.Options{UnsafeNoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	plat := domain.Actor{Name: "plat", Role: domain.RolePlatform}
	type ev struct {
		Type string
		Data any
	}
	app := func(stream string, evs ...ev) {
		var data []eventstore.EventData
		for _, e := range evs {
			d, _ := json.Marshal(e.Data)
			md, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: plat, Time: time.Now().UTC()})
			data = append(data, eventstore.EventData{ID: uuid.New(), Type: e.Type, Data: d, Metadata: md})
		}
		if _, err := st.Append(ctx, stream, eventstore.Any, data...); err != nil {
			b.Fatal(err)
		}
	}
	ch := domain.ChannelStream("dist-1")
	app(domain.PartnerReservationStreamPrefix+"dist-1", ev{Type: domain.EventIDReserved, Data: domain.IDReserved{Kind: "partner", ID: "dist-1", Channel: ch}})
	app(ch, ev{Type: domain.EventPartnerRegistered, Data: domain.PartnerRegistered{PartnerID: "dist-1", Name: "D", Type: domain.PartnerDistributor}})
	for i := 0; i < n; i += 500 {
		var evs []ev
		for j := i; j < min(n, i+500); j++ {
			id := fmt.Sprintf("c-%07d", j)
			evs = append(evs, ev{Type: domain.EventCustomerAssociated, Data: domain.CustomerAssociated{CustomerID: id, Name: "Customer " + id, PartnerID: "dist-1"}},
				ev{Type: domain.EventCustomerFrozen, Data: domain.CustomerFrozen{CustomerID: id, FreezeType: domain.FreezeAccount, Origin: domain.OriginAssociation, Reason: "new customer"}})
		}
		app(ch, evs...)
	}
}

func (ts *testServer) headB(b *testing.B) eventstore.Position {
	ts.m.mu.Lock()
	l := ts.m.led
	ts.m.mu.Unlock()
	p, err := l.store.Head(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return p
}
