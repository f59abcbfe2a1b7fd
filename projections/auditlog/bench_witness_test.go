package auditlog

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// BenchmarkWitnessRound: what a witness round adds to checkpoint latency on loopback. Each
// iteration appends one event to a durable embedded store (fsync on), waits for the signed
// checkpoint covering it, then for the served checkpoint carrying the witness's cosignature of that
// size. round-* is the time from the first to the second (the witness round: the consistency proof,
// the add-checkpoint request, the witness's checks and cosignature, ours of its answer);
// cosigned-* is from the append's acknowledgement to the cosigned checkpoint. Against the
// in-test spec witness (in process) and torchwood's litewitness (another process, SQLite, key in an
// ssh-agent; skipped where it cannot be built, see litewitness_test.go).
func BenchmarkWitnessRound(b *testing.B) {
	b.Run("spec-witness", func(b *testing.B) { benchWitnessRound(b, newSpecWitness(b, "witness.test/spec")) })
	b.Run("litewitness", func(b *testing.B) { benchWitnessRound(b, newLiteWitness(b, "witness.test/lite")) })
}

func benchWitnessRound(b *testing.B, w witnessUnderTest) {
	dir := b.TempDir()
	s, err := embedded.Open(filepath.Join(dir, "store"), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tr, err := OpenTree(filepath.Join(dir, "audit"), s, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	defer func() { cancel(); <-done }()
	w.addLog(tr.Origin(), tr.PublicKey())
	w.start()
	ws, err := NewWitnesses(tr, []Witness{w.witness(b, "w")}, WitnessOptions{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	wdone := make(chan error, 1)
	go func() { wdone <- ws.Run(ctx) }()
	defer func() { cancel(); <-wdone }()

	appendOne := func() {
		if _, err := s.Append(ctx, "channel-x", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: domain.EventPartnerFrozen,
			Data: []byte(`{"partner_id":"p","reason":"r"}`), Metadata: []byte(`{"schema_version":1,"actor":{"name":"a","role":"platform","partner_id":""},"time":"2026-11-26T10:00:00Z"}`)}); err != nil {
			b.Fatal(err)
		}
	}
	wait := func(size uint64) (checkpointed, cosigned time.Time) {
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		defer wcancel()
		if _, _, err := tr.WaitCheckpoint(wctx, size); err != nil {
			b.Fatal(err)
		}
		checkpointed = time.Now()
		if _, err := ws.WaitCosigned(wctx, size, 1); err != nil {
			b.Fatalf("no cosignature of size %d: %v; %+v", size, err, ws.Status())
		}
		return checkpointed, time.Now()
	}
	appendOne() // the witness's first checkpoint (old 0; a process still starting fails a request or two)
	wait(1)
	before := ws.Status()[0]
	rounds := make([]time.Duration, 0, b.N)
	totals := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		appendOne()
		t0 := time.Now()
		cp, cs := wait(uint64(i + 2))
		rounds = append(rounds, cs.Sub(cp))
		totals = append(totals, cs.Sub(t0))
	}
	b.StopTimer()
	if st := ws.Status()[0]; st.Refusals+st.Failures != before.Refusals+before.Failures {
		b.Errorf("the witness refused or failed during the rounds: %+v", st)
	}
	report := func(durs []time.Duration, name string) {
		slices.Sort(durs)
		b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, name+"-median-ms")
		b.ReportMetric(float64(durs[len(durs)*99/100].Microseconds())/1000, name+"-p99-ms")
		b.ReportMetric(float64(durs[len(durs)-1].Microseconds())/1000, name+"-max-ms")
	}
	report(rounds, "round")
	report(totals, "cosigned")
}
