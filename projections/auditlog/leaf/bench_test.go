package leaf

import "testing"

// benchLine is a typical export line: a customer freeze with its metadata.
var benchLine = []byte(`{"index":3,"position":"4","actor":{"name":"ops-dist-north","partner_id":"dist-north","role":"partner"},"data":{"customer_id":"cust-dn-012","freeze_type":"ACCOUNT","origin":"manual","reason":"overdue invoice <#4711> & reminder sent"},"event_id":"14f80b24-4ff1-4d7f-8fb0-c9a4ad143b3d","metadata":{"command_hash":"49dce9dfa8be060ac3e3b5097da12d29","idempotency_key":"quickstart-1","request_id":"req-7f3a","schema_version":1},"revision":12,"stream":"channel-dist-north","time":"2026-10-27T14:00:08.000Z","type":"customer.frozen","leaf_hash":"gr/SRIl3L7gN3Nq6vF9mL4WH5ipa6+tjRxKcx8Az9po="}`)

// BenchmarkCanonicalize is the one-pass canonicaliser on an export line; compare with
// BenchmarkCanonicalizeReference, the definition (encoding/json decode with UseNumber, encode with
// SetEscapeHTML(false)), on the same line.
func BenchmarkCanonicalize(b *testing.B) {
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Canonicalize(benchLine); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonicalizeReference(b *testing.B) {
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := referenceCanonicalize(benchLine); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLineParser is what the verifier does per line: parse, canonicalise without index,
// position and leaf_hash, and hash, reusing its buffers.
func BenchmarkLineParser(b *testing.B) {
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	var p LineParser
	for b.Loop() {
		if _, _, err := p.Parse(benchLine); err != nil {
			b.Fatal(err)
		}
	}
}
