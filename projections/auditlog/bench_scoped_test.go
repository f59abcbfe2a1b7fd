package auditlog

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
	"github.com/freezeledger/freezeledger/projections/auditlog/verify"
)

// The scoped-bundle benchmarks' log: FREEZELEDGER_BENCH_SCOPED_EVENTS events (default 1,000,000;
// the figure is 3,000,000), one in 30 in the scope's stream (100,000 of 3M), the others
// spread over 200 other channels.
var (
	scopedOnce  sync.Once
	scopedStore *embedded.Store
	scopedTree  *Tree
	scopedDir   string
	scopedErr   error
	scopedTotal = 1_000_000
)

const scopedStream = "channel-dist-scope"

func scopedFixture(b *testing.B) (*Tree, int) {
	b.Helper()
	scopedOnce.Do(func() {
		if v, err := strconv.Atoi(os.Getenv("FREEZELEDGER_BENCH_SCOPED_EVENTS")); err == nil && v > 0 {
			scopedTotal = v
		}
		if scopedDir, scopedErr = os.MkdirTemp("", "auditlog-bench-scoped"); scopedErr != nil {
			return
		}
		if scopedStore, scopedErr = embedded.Open(filepath.Join(scopedDir, "store"), embedded.Options{UnsafeNoSync: true}); scopedErr != nil {
			return
		}
		ctx := context.Background()
		for i := 0; i < scopedTotal; i++ {
			meta, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: domain.Actor{Name: "ops-dist-1", Role: domain.RolePartner, PartnerID: "dist-1"},
				Time: baseTime.Add(time.Duration(i) * time.Millisecond), RequestID: uuid.NewString()})
			data, _ := json.Marshal(domain.CustomerFrozen{CustomerID: fmt.Sprintf("cust-%07d", i), FreezeType: domain.FreezeAccount,
				Origin: domain.OriginManual, Reason: "overdue invoice #" + fmt.Sprint(i)})
			stream := fmt.Sprintf("channel-dist-%d", i%200)
			if i%30 == 0 {
				stream = scopedStream
			}
			if _, scopedErr = scopedStore.Append(ctx, stream, eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: domain.EventCustomerFrozen, Data: data, Metadata: meta}); scopedErr != nil {
				return
			}
		}
		if scopedTree, scopedErr = OpenTree(filepath.Join(scopedDir, "audit"), scopedStore, Options{}); scopedErr != nil {
			return
		}
		scopedErr = scopedTree.CatchUp(ctx)
	})
	if scopedErr != nil {
		b.Fatal(scopedErr)
	}
	return scopedTree, (scopedTotal + 29) / 30
}

func closeScopedFixture() {
	if scopedStore != nil {
		scopedTree.Close()
		scopedStore.Close()
		os.RemoveAll(scopedDir)
	}
}

// BenchmarkScopedBundle writes the scoped bundle of one stream (every event shown).
func BenchmarkScopedBundle(b *testing.B) {
	tr, n := scopedFixture(b)
	dir := b.TempDir()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		res, err := tr.WriteScopedBundle(context.Background(), dir, ScopeRequest{Scope: "dist-scope", Stream: scopedStream})
		if err != nil || res.Lines != n {
			b.Fatal(res, err)
		}
	}
	reportRate(b, n*b.N, start, cpu0)
}

// BenchmarkScopedVerify verifies that bundle (signatures, leaf hashes, revisions, gap proof, root).
func BenchmarkScopedVerify(b *testing.B) {
	tr, n := scopedFixture(b)
	dir := b.TempDir()
	if _, err := tr.WriteScopedBundle(context.Background(), dir, ScopeRequest{Scope: "dist-scope", Stream: scopedStream}); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "gaps.bin"))
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		in, closer, err := verify.ReadBundle(dir)
		if err != nil {
			b.Fatal(err)
		}
		in.PublicKey = tr.PublicKey()
		rep, err := verify.Verify(context.Background(), in)
		closer.Close()
		if err != nil || rep.Lines != n {
			b.Fatal(rep.Problems, err)
		}
	}
	reportRate(b, n*b.N, start, cpu0)
	b.ReportMetric(float64(fi.Size())/float64(n), "gap-bytes/event")
}
