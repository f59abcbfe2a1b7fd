package httpapi

import (
	"reflect"
	"testing"
)

var freezeBody = []byte(`{"reason":"overdue invoice 2026-11, second reminder sent","freeze_type":"ACCOUNT_AND_RESOURCE"}`)

// BenchmarkDecodeFreeze is the whole decoding of a freeze body (checkKeys, then encoding/json);
// BenchmarkCheckKeysFreeze is the pre-pass alone: its share is what the exact-names check costs.
func BenchmarkDecodeFreeze(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeRequest[freezeRequest](freezeBody); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckKeysFreeze(b *testing.B) {
	t := reflect.TypeFor[freezeRequest]()
	b.ReportAllocs()
	for b.Loop() {
		if err := checkKeys(freezeBody, t); err != nil {
			b.Fatal(err)
		}
	}
}
