package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkUsageHTTP8Conns: the billing system's ingestion through the real server (durable: the
// store fsyncs), POST /v1/usage with batches of 1,000 records over 8 keep-alive connections; b.N
// batches. The records spread over 1,200 customers of three channels (one usage.recorded event per
// customer and batch). The target of issue 14 is 100,000 records/s; docs/BENCHMARKS.md has the
// figures next to the domain's (domain.BenchmarkRecordUsage8Clients).
func BenchmarkUsageHTTP8Conns(b *testing.B) {
	ts := startServerIn(b, b.TempDir(), withBilling(standardPrincipals), func(m *Main) { m.UnsafeNoSync = false })
	ts.setupHierarchy()
	const perChannel = 400
	var customers []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ch := range []struct{ who, partner string }{{"op-dist-a", "dist-a"}, {"op-dist-b", "dist-b"}, {"op-sp-c", "sp-c"}} {
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < perChannel; i += 4 {
					id := fmt.Sprintf("u-%s-%d", ch.partner, i)
					if code, body := post(ts, "POST", "/v1/customers", ts.tokens[ch.who], map[string]any{"customer_id": id, "name": "Customer " + id, "partner_id": ch.partner}); code != 201 {
						b.Errorf("associate %s: %d %s", id, code, body)
						return
					}
					mu.Lock()
					customers = append(customers, id)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	token := ts.tokens["bill"]
	var next, recorded atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for k := 0; k < 8; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1)) - 1
				if j >= b.N {
					return
				}
				now := time.Now().UTC().Format(time.RFC3339Nano)
				recs := make([]map[string]any, 1000)
				for i := range recs {
					recs[i] = map[string]any{"record_id": fmt.Sprintf("h-%d-%d", j, i), "customer_id": customers[(j*389+i)%len(customers)], "amount": "1.25", "time": now}
				}
				code, body := post(ts, "POST", "/v1/usage", token, map[string]any{"records": recs})
				if code != 200 {
					b.Errorf("usage: %d %s", code, body)
					return
				}
				recorded.Add(1000)
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(recorded.Load())/time.Since(start).Seconds(), "records/s")
}

// post sends one request with the server's client (safe from several goroutines).
func post(ts *testServer, method, path, token string, body any) (int, []byte) {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, ts.url+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := ts.client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}
