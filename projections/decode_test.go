package projections

import "testing"

// BenchmarkDecodeEvent extracts the read models' fields from a typical customer association (data
// and metadata, as the domain writes them), reusing one decoded as the applier does.
func BenchmarkDecodeEvent(b *testing.B) {
	data := []byte(`{"customer_id":"cust-rn2-001","name":"Umbrella Inc 1","partner_id":"res-north-2","distributor_id":"dist-north","tags":["silver","eu"],"account_manager":"maria"}`)
	meta := []byte(`{"schema_version":1,"actor":{"name":"ops-dist-north","role":"partner","partner_id":"dist-north"},"time":"2026-10-29T06:00:03.123Z","request_id":"req-7f3a","command_hash":"49dce9dfa8be060ac3e3b5097da12d29"}`)
	var d decoded
	b.SetBytes(int64(len(data) + len(meta)))
	b.ReportAllocs()
	for b.Loop() {
		if err := decodeEvent(&d, data, meta); err != nil {
			b.Fatal(err)
		}
	}
}
