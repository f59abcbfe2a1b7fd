package projections

import (
	"context"
	"testing"
	"time"
)

// TestCheckpointScheduleGrowsWithTheLog: past 10 × CheckpointEvery events a checkpoint waits for a
// tenth of the log to be new; below that, CheckpointEvery new events are enough.
func TestCheckpointScheduleGrowsWithTheLog(t *testing.T) {
	l := newLedger(t)
	randomLog(l, 11, 60)
	m, err := Open(l.store, t.TempDir(), Options{CheckpointEvery: 1, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	tenth := int64(m.Events()) / 10
	if tenth < 2 {
		t.Fatalf("%d events: too few for the test", m.Events())
	}
	due := func(every int, n int64) bool {
		m.opts.CheckpointEvery = every
		m.sinceCkpt.Store(n)
		m.maybeCheckpoint()
		return m.sinceCkpt.Load() == 0 // a checkpoint resets it
	}
	if due(1, tenth-1) {
		t.Errorf("checkpoint after %d new events of %d, CheckpointEvery 1: want one per tenth of the log", tenth-1, m.Events())
	}
	if !due(1, tenth) {
		t.Errorf("no checkpoint after %d new events of %d (a tenth)", tenth, m.Events())
	}
	if every := int(tenth) + 1; !due(every, int64(every)) { // fewer than 10 × CheckpointEvery events
		t.Errorf("no checkpoint after CheckpointEvery (%d) new events of %d", every, m.Events())
	}
}
