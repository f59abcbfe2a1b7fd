package auditlog

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
	"github.com/freezeledger/freezeledger/projections/auditlog/verify"
)

// witnessUnderTest is a witness the scenarios run against: the in-test specWitness, or torchwood's
// litewitness (litewitness_test.go).
type witnessUnderTest interface {
	witness(t testing.TB, label string) Witness // the log's configuration for it
	addLog(origin, vkey string)                 // make the log known to it, at size 0
	start()                                     // listen (again, with its state)
	stop()                                      // refuse connections
	cosignKey() string                          // its cosignature verifier key
}

func (w *specWitness) cosignKey() string { return w.key }

// fastRetry makes the scenarios' retries quick.
var fastRetry = WitnessOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}

// runWitnesses runs ws until the returned stop is called or the test ends.
func runWitnesses(t testing.TB, ws *Witnesses) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ws.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Witnesses.Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func newWitnesses(t testing.TB, tr *Tree, opts WitnessOptions, ws ...Witness) *Witnesses {
	t.Helper()
	w, err := NewWitnesses(tr, ws, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// waitCosigned waits for a served checkpoint of at least size leaves with n cosignatures.
func waitCosigned(t testing.TB, ws *Witnesses, size uint64, n int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	signed, err := ws.WaitCosigned(ctx, size, n)
	if err != nil {
		t.Fatalf("no checkpoint of size %d with %d cosignature(s): %v; status %+v; serving:\n%s", size, n, err, ws.Status(), ws.Checkpoint())
	}
	return signed
}

// waitStatus waits until cond holds for the witnesses' status.
func waitStatus(t testing.TB, ws *Witnesses, what string, cond func([]WitnessStatus) bool) []WitnessStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		ws.mu.Lock()
		changed := ws.changed
		ws.mu.Unlock()
		if st := ws.Status(); cond(st) {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: never; status %+v", what, ws.Status())
		case <-changed:
		}
	}
}

// verifyExport verifies the tree's whole export up to the checkpoint's size against signed, with
// the witness keys and threshold.
func verifyExport(t testing.TB, tr *Tree, signed []byte, keys []string, threshold int) (verify.VerifyReport, error) {
	t.Helper()
	cp, err := leaf.OpenCheckpoint(signed, tr.PublicKey())
	if err != nil {
		t.Fatalf("the log's key alone does not open the served checkpoint: %v\n%s", err, signed)
	}
	var export bytes.Buffer
	if _, err := tr.Export(context.Background(), &export, ExportRequest{Format: FormatJSONL, Limit: cp.Size}); err != nil {
		t.Fatal(err)
	}
	return verify.Verify(context.Background(), verify.VerifyInput{Export: &export, Checkpoint: signed, PublicKey: tr.PublicKey(),
		WitnessKeys: keys, WitnessThreshold: threshold})
}

// scenarioCosigns: every new checkpoint is cosigned, the second with a consistency proof from the
// first; the served note verifies with the log key alone and with the witness's key.
func scenarioCosigns(t *testing.T, w witnessUnderTest) {
	s := newMemStore()
	appendEvents(t, s, 20)
	tr := runTree(t, t.TempDir(), s, Options{})
	w.addLog(tr.Origin(), tr.PublicKey())
	w.start()
	ws := newWitnesses(t, tr, fastRetry, w.witness(t, "w1"))
	runWitnesses(t, ws)
	signed := waitCosigned(t, ws, 20, 1)
	if _, err := verifyExport(t, tr, signed, []string{w.cosignKey()}, 1); err != nil {
		t.Fatalf("cosigned checkpoint: %v\n%s", err, signed)
	}
	appendEvents(t, s, 13)
	signed = waitCosigned(t, ws, 33, 1)
	rep, err := verifyExport(t, tr, signed, []string{w.cosignKey()}, 1)
	if err != nil || rep.Checkpoint.Size != 33 {
		t.Fatalf("after growth: %v, size %d", err, rep.Checkpoint.Size)
	}
	if st := ws.Status()[0]; !st.Good || st.CosignedSize != 33 || st.Refusals != 0 {
		t.Errorf("status %+v", st)
	}
}

// scenarioDownThenUp: with the witness down, checkpoints are signed and served as before (without
// cosignature); once it is up, the cosignature comes.
func scenarioDownThenUp(t *testing.T, w witnessUnderTest) {
	s := newMemStore()
	appendEvents(t, s, 20)
	tr := runTree(t, t.TempDir(), s, Options{})
	w.addLog(tr.Origin(), tr.PublicKey())
	ws := newWitnesses(t, tr, fastRetry, w.witness(t, "w1"))
	runWitnesses(t, ws)
	src := &EventSource{Tree: tr, Store: s, Witnesses: ws}
	waitSize(t, tr, 20)
	waitStatus(t, ws, "failures counted", func(st []WitnessStatus) bool { return st[0].Failures >= 2 && !st[0].Good })
	appendEvents(t, s, 5)
	waitSize(t, tr, 25) // the log goes on
	served, err := src.Checkpoint(context.Background())
	if err != nil || countLines(served) != 1 || checkpointSize(served) != 25 {
		t.Fatalf("served while the witness is down (%v): want the latest checkpoint, uncosigned:\n%s", err, served)
	}
	if _, err := verifyExport(t, tr, served, []string{w.cosignKey()}, 1); err == nil || !strings.Contains(err.Error(), "no cosignature of this witness") {
		t.Fatalf("verify without the cosignature: %v", err)
	}
	w.start()
	signed := waitCosigned(t, ws, 25, 1)
	if _, err := verifyExport(t, tr, signed, []string{w.cosignKey()}, 1); err != nil {
		t.Fatalf("after the witness came up: %v", err)
	}
	if served, _ := src.Checkpoint(context.Background()); !bytes.Equal(served, signed) {
		t.Errorf("EventSource serves\n%s\nnot the cosigned\n%s", served, signed)
	}
}

// scenarioRefusesFork: a second log with the same key and origin but another history (a split
// view) is refused by a witness that cosigned the first: the refusal is counted and logged, its
// checkpoints are served without the cosignature, and verification with the witness key fails.
func scenarioRefusesFork(t *testing.T, w witnessUnderTest) {
	sa := newMemStore()
	appendEvents(t, sa, 10)
	dirA := t.TempDir()
	a := runTree(t, dirA, sa, Options{})
	w.addLog(a.Origin(), a.PublicKey())
	w.start()
	wa := newWitnesses(t, a, fastRetry, w.witness(t, "w1"))
	stopA := runWitnesses(t, wa)
	waitCosigned(t, wa, 10, 1)
	stopA()

	sb := newMemStore()
	appendEvents(t, sb, 15) // other event IDs: another tree
	b := runTree(t, t.TempDir(), sb, Options{KeyFile: filepath.Join(dirA, signingKeyFile)})
	if b.PublicKey() != a.PublicKey() {
		t.Fatal("the fork does not share the key")
	}
	wb := newWitnesses(t, b, fastRetry, w.witness(t, "w1"))
	runWitnesses(t, wb)
	st := waitStatus(t, wb, "the fork refused", func(st []WitnessStatus) bool { return st[0].Refusals >= 1 })[0]
	if st.Good || st.Cosignatures != 0 || !strings.Contains(st.LastError, "422") {
		t.Errorf("status after the refusal %+v", st)
	}
	served := wb.Checkpoint()
	if countLines(served) != 1 {
		t.Errorf("the fork's checkpoint is served with a cosignature:\n%s", served)
	}
	if _, err := verifyExport(t, b, served, []string{w.cosignKey()}, 1); err == nil || !strings.Contains(err.Error(), "witness") {
		t.Errorf("the fork verified with the witness required: %v", err)
	}
}

// scenarioRestart: a new Witnesses (a restarted server) does not know the size the witness has: it
// learns it from the 409 answer and gets the same checkpoint cosigned again.
func scenarioRestart(t *testing.T, w witnessUnderTest) {
	s := newMemStore()
	appendEvents(t, s, 12)
	tr := runTree(t, t.TempDir(), s, Options{})
	w.addLog(tr.Origin(), tr.PublicKey())
	w.start()
	first := newWitnesses(t, tr, fastRetry, w.witness(t, "w1"))
	stop := runWitnesses(t, first)
	waitCosigned(t, first, 12, 1)
	stop()
	again := newWitnesses(t, tr, fastRetry, w.witness(t, "w1"))
	runWitnesses(t, again)
	signed := waitCosigned(t, again, 12, 1)
	if _, err := verifyExport(t, tr, signed, []string{w.cosignKey()}, 1); err != nil {
		t.Fatal(err)
	}
	if st := again.Status()[0]; st.Refusals != 0 || st.Failures != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestWitnessCosignsEachCheckpoint(t *testing.T) {
	scenarioCosigns(t, newSpecWitness(t, "witness.test/spec"))
}

func TestWitnessDownThenUp(t *testing.T) {
	scenarioDownThenUp(t, newSpecWitness(t, "witness.test/spec"))
}

func TestWitnessRefusesFork(t *testing.T) {
	w := newSpecWitness(t, "witness.test/spec")
	scenarioRefusesFork(t, w)
	if _, refusals := w.counts(); refusals == 0 {
		t.Error("the witness never refused a consistency proof")
	}
}

func TestWitnessLearnsItsSizeAfterRestart(t *testing.T) {
	w := newSpecWitness(t, "witness.test/spec")
	scenarioRestart(t, w)
	if conflicts, _ := w.counts(); conflicts == 0 {
		t.Error("the restarted client was never told the witness's size (409)")
	}
}

// Two witnesses, one that does not know the log (404): the served checkpoint carries the other's
// cosignature; a threshold of 1 is met, of 2 not, naming the missing witness; a wrong key fails.
func TestWitnessThresholdOverHTTPAnswers(t *testing.T) {
	s := newMemStore()
	appendEvents(t, s, 16)
	tr := runTree(t, t.TempDir(), s, Options{})
	good, stranger := newSpecWitness(t, "witness.test/good"), newSpecWitness(t, "witness.test/stranger")
	good.addLog(tr.Origin(), tr.PublicKey())
	good.start()
	stranger.start()
	ws := newWitnesses(t, tr, fastRetry, good.witness(t, "good"), stranger.witness(t, "stranger"))
	runWitnesses(t, ws)
	st := waitStatus(t, ws, "the stranger refuses", func(st []WitnessStatus) bool { return st[1].Refusals >= 1 })
	if !strings.Contains(st[1].LastError, "404") {
		t.Errorf("stranger's status %+v", st[1])
	}
	signed := waitCosigned(t, ws, 16, 1)
	keys := []string{good.key, stranger.key}
	if _, err := verifyExport(t, tr, signed, keys, 1); err != nil {
		t.Errorf("threshold 1: %v", err)
	}
	rep, err := verifyExport(t, tr, signed, keys, 2)
	if !errors.Is(err, verify.ErrVerification) || !strings.Contains(problems(rep), "witness witness.test/stranger") ||
		strings.Contains(problems(rep), "witness witness.test/good") {
		t.Errorf("threshold 2: %v\n%s", err, problems(rep))
	}
	impostor := newSpecWitness(t, "witness.test/good")
	if rep, err := verifyExport(t, tr, signed, []string{impostor.key}, 1); err == nil || !strings.Contains(problems(rep), "a wrong key") {
		t.Errorf("wrong key: %v\n%s", err, problems(rep))
	}
}

func problems(rep verify.VerifyReport) string {
	var out []string
	for _, p := range rep.Problems {
		out = append(out, p.String())
	}
	return strings.Join(out, "\n")
}

// A bundle over HTTP carries its checkpoint's cosignatures, and verifies with the witness required.
func TestWitnessBundleCarriesCosignatures(t *testing.T) {
	s := newMemStore()
	appendEvents(t, s, 30)
	tr := runTree(t, t.TempDir(), s, Options{})
	w := newSpecWitness(t, "witness.test/spec")
	w.addLog(tr.Origin(), tr.PublicKey())
	w.start()
	ws := newWitnesses(t, tr, fastRetry, w.witness(t, "w1"))
	runWitnesses(t, ws)
	waitCosigned(t, ws, 30, 1)
	src := &EventSource{Tree: tr, Store: s, Witnesses: ws}
	var tarball bytes.Buffer
	if err := src.WriteBundle(context.Background(), &tarball, BundleRequest{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := leaf.ExtractBundleTar(&tarball, dir); err != nil {
		t.Fatal(err)
	}
	in, closer, err := verify.ReadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	in.PublicKey, in.WitnessKeys, in.WitnessThreshold = tr.PublicKey(), []string{w.key}, 1
	if rep, err := verify.Verify(context.Background(), in); err != nil || len(rep.Witnesses.Valid) != 1 {
		t.Fatalf("%v\n%s", err, problems(rep))
	}
}

func TestParseWitness(t *testing.T) {
	w := newSpecWitness(t, "witness.test/spec")
	got, err := ParseWitness("w1=http://127.0.0.1:7380/a?x=1=" + w.key)
	if err != nil || got.Name != "w1" || got.URL != "http://127.0.0.1:7380/a?x=1" || got.Key.String() != w.key {
		t.Fatalf("%+v, %v", got, err)
	}
	for _, bad := range []string{"", "w1", "w1=http://x", "=http://x=" + w.key, "w1=ftp://x=" + w.key, "w1=http://x=" + strings.Replace(w.key, "+", "-", 1)} {
		if _, err := ParseWitness(bad); err == nil {
			t.Errorf("ParseWitness(%q) accepted it", bad)
		}
	}
}
