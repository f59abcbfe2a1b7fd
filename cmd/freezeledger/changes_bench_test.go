package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkWritesWithFeedSubscribers measures customer freezes and unfreezes over loopback (8
// concurrent writers, each toggling its own customer) with nobody attached, and with 100 SSE
// subscribers plus 100 webhooks (10 principals × 10, to one loopback receiver) attached: every
// write yields an item that the platform's and dist-a's subscribers and webhooks receive. The
// harness's store runs without fsync (UnsafeNoSync), so the figure isolates the feed's CPU cost.
func BenchmarkWritesWithFeedSubscribers(b *testing.B) {
	for _, c := range []struct{ sse, hooks int }{{0, 0}, {100, 0}, {0, 100}, {100, 100}} {
		b.Run(fmt.Sprintf("sse=%d/webhooks=%d", c.sse, c.hooks), func(b *testing.B) {
			ts := startServerFull(b, b.TempDir(), standardPrincipals, nil, []string{"--log-level", "error", "--webhook-allow-insecure-loopback"})
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
			cpu0 := cpuTime()
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
			// CPU per write (the whole process: server, writers, subscribers' readers and the
			// receiver) is steadier than writes/s on a shared machine.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/write")
		})
	}
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
