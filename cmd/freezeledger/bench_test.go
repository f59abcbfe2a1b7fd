package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkStatusHandler measures GET /v1/customers/{id}/status through the whole handler chain
// (routing, authentication, tenancy, read model, JSON, metrics, logging at warn), in process, next to
// a trivial JSON handler: the server's own cost per request without the network.
func BenchmarkStatusHandler(b *testing.B) {
	ts := startServerForBench(b)
	srv := ts.m.Server()
	req := httptest.NewRequest("GET", "/v1/customers/c-a1/status", nil)
	req.Header.Set("Authorization", "Bearer "+ts.tokens["rd-a"])
	b.Run("status", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
	type status struct {
		CustomerID     string `json:"customer_id"`
		State          string `json:"state"`
		EffectiveState string `json:"effective_state"`
	}
	trivial := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(status{"c-1", "ACTIVE", "ACTIVE"})
	})
	b.Run("trivial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			trivial.ServeHTTP(rec, req)
		}
	})
}

// BenchmarkStatusLoopback drives GET /v1/customers/{id}/status over loopback keep-alive connections
// (8 concurrent clients in this process): the whole path, network included.
func BenchmarkStatusLoopback(b *testing.B) {
	ts := startServerForBench(b)
	url := ts.url + "/v1/customers/c-a1/status"
	auth := "Bearer " + ts.tokens["rd-a"]
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", auth)
			resp, err := ts.client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
