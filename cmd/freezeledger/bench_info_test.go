package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// BenchmarkStatusHandlerInfo is BenchmarkStatusHandler's status read at the default log level
// (info: one access line per request), the log going to a file as `serve 2>file` would, from
// GOMAXPROCS goroutines at once: the per-request line's cost under concurrency.
func BenchmarkStatusHandlerInfo(b *testing.B) {
	logf, err := os.Create(filepath.Join(b.TempDir(), "serve.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	ts := startServerFull(b, b.TempDir(), standardPrincipals, func(m *Main) { m.Stderr = logf }, []string{"--log-level", "info"})
	ts.setupHierarchy()
	srv := ts.m.Server()
	var once sync.Once
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/v1/customers/c-a1/status", nil)
		req.Header.Set("Authorization", "Bearer "+ts.tokens["rd-a"])
		for pb.Next() {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != 200 {
				once.Do(func() { b.Errorf("status %d: %s", rec.Code, rec.Body) })
			}
		}
	})
}
