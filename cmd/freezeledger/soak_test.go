package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"testing"
	"time"
)

var (
	soakFor  = flag.Duration("soak", 20*time.Second, "TestSoak: how long the steady load runs (CI: 20s; e.g. -soak=60s or -soak=10m)")
	soakRate = flag.Int("soak.rate", 400, "TestSoak: requests per second in total (paced, 8 clients)")
	soakHeap = flag.String("soak.heapprofile", "", "TestSoak: write a heap profile (in use, after GC) here at the end of the load, server still up")
)

// memSnapshot is the process's heap and goroutines at a quiet moment, after GC.
type memSnapshot struct {
	heapInuse  uint64
	heapAlloc  uint64
	goroutines int
}

func quietSnapshot() memSnapshot {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnapshot{heapInuse: ms.HeapInuse, heapAlloc: ms.HeapAlloc, goroutines: runtime.NumGoroutine()}
}

// TestSoak runs a steady, paced mixed load (status, operations, search and history reads; freezes and
// unfreezes with idempotency keys) against the real server for -soak (20 s in CI; the documented
// long forms are -soak=60s and -soak=10m). The load runs in two halves; between them and at the end,
// with no request in flight, after GC: the goroutine count must be back where it was, and the heap
// must not grow by more than what the events appended in the second half hold (the read models keep
// every transition for time travel) plus a fixed slack. Every request must succeed. Figures are
// logged for docs/BENCHMARKS.md.
func TestSoak(t *testing.T) {
	if *soakHeap != "" {
		defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
		runtime.MemProfileRate = 4096 // fine-grained: the profile is for finding what grows per event
	}
	ts := startServerIn(t, t.TempDir(), standardPrincipals, func(m *Main) { m.UnsafeNoSync = false })
	ts.setupHierarchy()
	c := newAPIClient(ts.url, ts.tokens)
	defer c.close()
	const workers = 8
	const perWorker = 25
	type cust struct {
		id, who string
		frozen  bool
	}
	owned := make([][]*cust, workers)
	for w := 0; w < workers; w++ {
		partner, who := "dist-a", "op-dist-a"
		if w%2 == 1 {
			partner, who = "dist-b", "op-dist-b"
		}
		for i := 0; i < perWorker; i++ {
			id := fmt.Sprintf("soak-%d-%d", w, i)
			c.must(t, 201, "POST", "/v1/customers", who, map[string]any{"customer_id": id, "name": "Soak " + id, "partner_id": partner, "tags": []string{"soak"}})
			owned[w] = append(owned[w], &cust{id: id, who: who, frozen: true})
		}
	}

	type stats struct {
		reqs, writes int
		lat          []time.Duration
		errs         []string
	}
	interval := time.Duration(float64(time.Second) * workers / float64(*soakRate))
	half := *soakFor / 2
	seed := uint64(time.Now().UnixNano())
	var seq int
	var seqMu sync.Mutex
	nextKey := func() string {
		seqMu.Lock()
		defer seqMu.Unlock()
		seq++
		return fmt.Sprintf("soak-%d", seq)
	}
	runPhase := func(d time.Duration) stats {
		var mu sync.Mutex
		var st stats
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(w)+uint64(time.Now().UnixNano())))
				tick := time.NewTicker(interval)
				defer tick.Stop()
				for time.Now().Before(deadline) {
					<-tick.C
					cu := owned[w][rng.IntN(len(owned[w]))]
					var method, path, who string
					var body any
					want := 200
					switch r := rng.IntN(20); {
					case r < 8:
						method, path, who = "GET", "/v1/customers/"+cu.id+"/status", "rd"
					case r < 11:
						method, path, who = "GET", "/v1/customers/"+cu.id+"/operations?billing_mode=pay_per_use", "rd"
					case r < 13:
						method, path, who = "GET", "/v1/customers?tag=soak&frozen=true&limit=50", "aud"
					case r < 15:
						method, path, who = "GET", "/v1/customers/"+cu.id+"/history?limit=20", "aud"
					default:
						method, who = "POST", cu.who
						if cu.frozen {
							path, body = "/v1/customers/"+cu.id+"/unfreeze", map[string]any{"reason": "soak", "unfreeze_type": "ACCOUNT"}
						} else {
							path, body = "/v1/customers/"+cu.id+"/freeze", map[string]any{"reason": "soak", "freeze_type": "ACCOUNT"}
						}
					}
					t0 := time.Now()
					var a answer
					var err error
					if method == "POST" {
						a, err = c.do(context.Background(), method, path, who, body, "Idempotency-Key", nextKey())
					} else {
						a, err = c.do(context.Background(), method, path, who, body)
					}
					d := time.Since(t0)
					mu.Lock()
					st.reqs++
					st.lat = append(st.lat, d)
					switch {
					case err != nil:
						st.errs = append(st.errs, fmt.Sprintf("%s %s: %v", method, path, err))
					case a.status != want:
						st.errs = append(st.errs, fmt.Sprintf("%s %s: %d %.200s", method, path, a.status, a.body))
					case method == "POST":
						cu.frozen = !cu.frozen
						st.writes++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return st
	}
	settle := func() memSnapshot {
		c.close()
		ts.client.CloseIdleConnections()
		// Let the server's connection goroutines see the closed connections.
		deadline := time.Now().Add(5 * time.Second)
		s := quietSnapshot()
		for time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond) // bounded: connection goroutines exit asynchronously
			if n := quietSnapshot(); n.goroutines >= s.goroutines {
				return n
			}
			s = quietSnapshot()
		}
		return s
	}

	warm := runPhase(min(2*time.Second, half))
	s0 := settle()
	e0 := ts.head().Commit
	first := runPhase(half)
	s1 := settle()
	e1 := ts.head().Commit
	second := runPhase(*soakFor - half)
	s2 := settle()
	e2 := ts.head().Commit
	if *soakHeap != "" {
		f, err := os.Create(*soakHeap)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}

	all := append(append(warm.errs, first.errs...), second.errs...)
	if len(all) > 0 {
		t.Fatalf("%d requests failed, e.g. %v", len(all), all[:min(5, len(all))])
	}
	lat := append(first.lat, second.lat...)
	slices.Sort(lat)
	reqs := first.reqs + second.reqs
	events := e2 - e0
	t.Logf("soak: %s at a paced %d req/s (8 clients): %d requests (%d writes), %.0f req/s achieved, p50 %s p99 %s max %s, %d events appended, 0 errors",
		*soakFor, *soakRate, reqs, first.writes+second.writes, float64(reqs)/soakFor.Seconds(),
		lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond), events)
	t.Logf("soak: after GC: heap in use %.1f MiB -> %.1f MiB -> %.1f MiB (halves; %d and %d events), goroutines %d -> %d -> %d",
		float64(s0.heapInuse)/(1<<20), float64(s1.heapInuse)/(1<<20), float64(s2.heapInuse)/(1<<20), e1-e0, e2-e1,
		s0.goroutines, s1.goroutines, s2.goroutines)

	if s2.goroutines > s0.goroutines+4 || s1.goroutines > s0.goroutines+4 {
		t.Errorf("goroutines grew under steady load: %d -> %d -> %d", s0.goroutines, s1.goroutines, s2.goroutines)
	}
	// The heap may grow by what the second half's events hold in the read models (2 KiB each is
	// generous) plus 16 MiB of slack for allocator noise; a leak per request grows beyond that.
	allowed := s1.heapAlloc + (e2-e1)*2048 + 16<<20
	if s2.heapAlloc > allowed {
		t.Errorf("heap grew under steady load: %.1f MiB -> %.1f MiB, more than the %d new events explain (allowed %.1f MiB)",
			float64(s1.heapAlloc)/(1<<20), float64(s2.heapAlloc)/(1<<20), e2-e1, float64(allowed)/(1<<20))
	}
}
