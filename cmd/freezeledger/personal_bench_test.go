package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
)

// BenchmarkPersonal compares, in process through the whole handler chain, an association and a
// status read with personal data (sealed at the write, shown from memory at the read: rule 21)
// against the same without (docs/BENCHMARKS.md, "Personal data"). The status is read by an auditor,
// who sees the personal object.
func BenchmarkPersonal(b *testing.B) {
	ts := startServerForBench(b)
	srv := ts.m.Server()
	auth := "Bearer " + ts.tokens["op-dist-a"]
	personal := map[string]any{"mobile": "+4915112345678", "account_name": "ann.login", "email": "ann@example.com", "contact_name": "Ann Example"}
	n := 0
	associate := func(b *testing.B, withPersonal bool) {
		b.ReportAllocs()
		for b.Loop() {
			n++
			body := map[string]any{"customer_id": fmt.Sprintf("c-bench-%d", n), "name": "Bench customer", "partner_id": "dist-a"}
			if withPersonal {
				body["personal"] = personal
			}
			raw, _ := json.Marshal(body)
			req := httptest.NewRequest("POST", "/v1/customers", bytes.NewReader(raw))
			req.Header.Set("Authorization", auth)
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != 201 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("associate/plain", func(b *testing.B) { associate(b, false) })
	b.Run("associate/personal", func(b *testing.B) { associate(b, true) })
	ts.must(201, "POST", "/v1/customers", "op-dist-a", map[string]any{"customer_id": "c-bench-p", "name": "Bench customer", "partner_id": "dist-a", "personal": personal})
	ts.must(201, "POST", "/v1/customers", "op-dist-a", map[string]any{"customer_id": "c-bench-n", "name": "Bench customer", "partner_id": "dist-a"})
	status := func(b *testing.B, id string) {
		req := httptest.NewRequest("GET", "/v1/customers/"+id+"/status", nil)
		req.Header.Set("Authorization", "Bearer "+ts.tokens["aud"])
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("status/plain", func(b *testing.B) { status(b, "c-bench-n") })
	b.Run("status/personal", func(b *testing.B) { status(b, "c-bench-p") })
}
