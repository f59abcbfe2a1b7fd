package embedded

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/eventstore"
)

// TestDecoderSlabsGrowWithTheRead: decoding one small record allocates a slab of its size class
// (firstSlabSize), not slabSize; a long read reaches slabSize slabs; every decoded Data and
// Metadata equals the stored bytes and does not share memory with a later record's.
func TestDecoderSlabsGrowWithTheRead(t *testing.T) {
	var prev [ChainSize]byte
	record := func(i int, size int) ([]byte, eventstore.EventData) {
		e := eventstore.EventData{ID: uuid.New(), Type: "t", Data: bytes.Repeat([]byte{byte('a' + i%26)}, size),
			Metadata: []byte(fmt.Sprintf(`{"i":%d}`, i))}
		v, c := encodeRecord(&prev, uint64(i+1), "s", uint64(i), 1, &e)
		prev = c
		return v, e
	}

	var one decoder
	v, _ := record(0, 300)
	if _, err := one.decode(v); err != nil {
		t.Fatal(err)
	}
	if cap(one.slab) != firstSlabSize {
		t.Errorf("one 300-byte record: slab of %d bytes, want %d", cap(one.slab), firstSlabSize)
	}

	var long decoder
	var got []eventstore.RecordedEvent
	var want []eventstore.EventData
	for i := range 2000 {
		v, e := record(i, 50+i%900)
		r, err := long.decode(v)
		if err != nil {
			t.Fatal(err)
		}
		got, want = append(got, r), append(want, e)
	}
	if cap(long.slab) != slabSize {
		t.Errorf("after 2,000 records: slab of %d bytes, want %d", cap(long.slab), slabSize)
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, want[i].Data) || !bytes.Equal(got[i].Metadata, want[i].Metadata) {
			t.Fatalf("record %d decoded as %q / %q", i, got[i].Data, got[i].Metadata)
		}
		if cap(got[i].Data) != len(got[i].Data) || cap(got[i].Metadata) != len(got[i].Metadata) {
			t.Fatalf("record %d: Data or Metadata has room to grow into the next record's bytes", i)
		}
	}
}
