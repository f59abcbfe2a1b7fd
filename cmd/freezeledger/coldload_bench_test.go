package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// BenchmarkChannelColdLoad: the first command's load of a big channel, from its snapshot and from
// the log alone, on a data directory made by `demo --customers N` and served once (so that its
// shutdown left the snapshot): FREEZELEDGER_COLDLOAD_DIR names it, FREEZELEDGER_COLDLOAD_CHANNEL the
// channel stream (default channel-dist-bulk-1). Each iteration is a fresh Service; reported: the
// live heap per event of the channel's revision. Skipped without FREEZELEDGER_COLDLOAD_DIR.
func BenchmarkChannelColdLoad(b *testing.B) {
	dir := os.Getenv("FREEZELEDGER_COLDLOAD_DIR")
	if dir == "" {
		b.Skip("FREEZELEDGER_COLDLOAD_DIR is not set")
	}
	stream := os.Getenv("FREEZELEDGER_COLDLOAD_CHANNEL")
	if stream == "" {
		stream = domain.ChannelStream("dist-bulk-1")
	}
	st, err := embedded.Open(StoreDir(dir), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, from := range []string{"snapshot", "log"} {
		b.Run("from="+from, func(b *testing.B) {
			o := domain.Options{SnapshotError: func(_ string, err error) { b.Fatal(err) }}
			if from == "snapshot" {
				o.Snapshots = eventstore.NewFileSnapshots(filepath.Join(dir, "snapshots"))
			}
			var heap float64
			var rev int64
			for b.Loop() {
				var ms0, ms1 runtime.MemStats
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&ms0)
				b.StartTimer()
				svc := domain.NewService(eventstore.DomainLog(st), o)
				if err := svc.QueryChannel(context.Background(), stream, func(c *domain.Channel) { rev = c.Revision() }); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&ms1)
				heap = float64(ms1.HeapAlloc) - float64(ms0.HeapAlloc)
				runtime.KeepAlive(svc)
				b.StartTimer()
			}
			b.ReportMetric(heap/float64(rev+1), "heapB/event")
		})
	}
}
