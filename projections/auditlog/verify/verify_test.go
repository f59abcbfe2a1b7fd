package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// bundleFixture is a log of 40 events with a full bundle of it.
type bundleFixture struct {
	log    *testLog
	lines  [][]byte
	signed []byte
	proof  leaf.RangeProof
}

func newBundleFixture(t *testing.T) *bundleFixture {
	t.Helper()
	l := newTestLog(t, 40)
	return &bundleFixture{log: l, lines: l.lines, signed: l.signedAt(t, 40), proof: l.rangeProof(t, 0, 40, 40)}
}

func (f *bundleFixture) copyLines() [][]byte {
	out := make([][]byte, len(f.lines))
	for i, l := range f.lines {
		out[i] = bytes.Clone(l)
	}
	return out
}

// signedAt signs a checkpoint of the fixture's log at size.
func (f *bundleFixture) signedAt(t *testing.T, size uint64) []byte { return f.log.signedAt(t, size) }

// relineHash recomputes a line's leaf_hash after an edit, as a careful forger would.
func relineHash(t *testing.T, line []byte) []byte {
	t.Helper()
	canon, err := lineCanonical(bytes.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	h := leaf.HashLeaf(canon)
	i := bytes.Index(line, []byte(`"leaf_hash":"`)) + len(`"leaf_hash":"`)
	return append(append(bytes.Clone(line[:i]), base64.StdEncoding.EncodeToString(h[:])...), `"}`+"\n"...)
}

func verifyLines(lines [][]byte, in VerifyInput) (VerifyReport, error) {
	in.Export = bytes.NewReader(bytes.Join(lines, nil))
	return Verify(context.Background(), in)
}

func TestVerifyAcceptsUntamperedBundle(t *testing.T) {
	f := newBundleFixture(t)
	val := &rejectCustomer{id: "none"}
	rep, err := verifyLines(f.lines, VerifyInput{Checkpoint: f.signed, PublicKey: f.log.key, Range: &f.proof, Validator: val})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lines != 40 || !rep.RulesChecked || val.checked != 40 {
		t.Fatalf("report %+v, checked %d", rep, val.checked)
	}
	// Without the range proof, a whole-tree export verifies too.
	if _, err := verifyLines(f.lines, VerifyInput{Checkpoint: f.signed, PublicKey: f.log.key}); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyTamperMatrix: each kind of tampering is caught, with a message naming where.
func TestVerifyTamperMatrix(t *testing.T) {
	f := newBundleFixture(t)
	otherSigner := func() note.Signer {
		skey, _, _ := note.GenerateKey(rand.Reader, testOrigin)
		s, _ := note.NewSigner(skey)
		return s
	}()
	eventID := func(line []byte) string {
		var ev leaf.Event
		json.Unmarshal(line, &ev)
		return ev.EventID
	}
	cases := []struct {
		name   string
		tamper func(lines [][]byte, in *VerifyInput) [][]byte
		want   []string // substrings of the problems
	}{
		{"flipped byte", func(lines [][]byte, _ *VerifyInput) [][]byte {
			i := bytes.Index(lines[9], []byte("overdue"))
			lines[9][i] ^= 0x01
			return lines
		}, []string{"line 10 (event " + eventID(f.lines[9]) + ", index 9)", "the line was altered"}},
		{"flipped byte, leaf hash recomputed", func(lines [][]byte, _ *VerifyInput) [][]byte {
			i := bytes.Index(lines[9], []byte("overdue"))
			lines[9][i] ^= 0x01
			lines[9] = relineHash(t, lines[9])
			return lines
		}, []string{"do not hash to the checkpoint's root"}},
		{"deleted line", func(lines [][]byte, _ *VerifyInput) [][]byte {
			return append(lines[:9], lines[10:]...)
		}, []string{"line 10 (event " + eventID(f.lines[10]) + ", index 10): index 10 where 9 was expected: 1 line(s) are missing"}},
		{"two lines swapped", func(lines [][]byte, _ *VerifyInput) [][]byte {
			lines[4], lines[5] = lines[5], lines[4]
			return lines
		}, []string{"line 5 (event " + eventID(f.lines[5]) + ", index 5): index 5 where 4 was expected",
			"line 6 (event " + eventID(f.lines[4]) + ", index 4): index 4 where 6 was expected: the line is out of order or repeated"}},
		{"repeated line", func(lines [][]byte, _ *VerifyInput) [][]byte {
			return append(lines[:8], append([][]byte{lines[7]}, lines[8:]...)...)
		}, []string{"line 9 (event " + eventID(f.lines[7]) + ", index 7): index 7 where 8 was expected: the line is out of order or repeated"}},
		{"appended forged event", func(lines [][]byte, _ *VerifyInput) [][]byte {
			forged := bytes.Replace(lines[39], []byte(`"index":39,"position":"40"`), []byte(`"index":40,"position":"41"`), 1)
			forged = bytes.Replace(forged, []byte(eventID(lines[39])), []byte(uuid.NewString()), 1)
			return append(lines, relineHash(t, forged))
		}, []string{"line 41", "index 40): the line is beyond the checkpoint, which covers 40 events"}},
		{"checkpoint signed by another key", func(lines [][]byte, in *VerifyInput) [][]byte {
			cp, _ := leaf.ParseCheckpoint(f.signed[:bytes.Index(f.signed, []byte("\n\n"))+1])
			in.Checkpoint, _ = note.Sign(&note.Note{Text: string(cp.Marshal())}, otherSigner)
			return lines
		}, []string{"checkpoint signature: the checkpoint is not signed by key " + testOrigin}},
		{"rolled-back checkpoint", func(lines [][]byte, in *VerifyInput) [][]byte {
			in.Previous = in.Checkpoint
			in.Checkpoint = f.signedAt(t, 30)
			in.Range = nil
			return lines[:30]
		}, []string{"checkpoint rolled back: it covers 30 events but an earlier checkpoint covered 40"}},
		{"rewritten history against an earlier checkpoint", func(lines [][]byte, in *VerifyInput) [][]byte {
			// The earlier checkpoint certified a different root for 30 events.
			in.Previous = f.log.sign(t, leaf.Checkpoint{Origin: testOrigin, Size: 30, Hash: f.log.root(t, 29)})
			return lines
		}, []string{"the earlier checkpoint (tree size 30) does not match the export's first 30 events"}},
		{"event not permitted by the rules", func(lines [][]byte, in *VerifyInput) [][]byte {
			in.Validator = &rejectCustomer{id: "c-7"}
			return lines
		}, []string{"line 8 (event " + eventID(f.lines[7]) + ", index 7): not permitted at its position: rule 4"}},
		{"line missing at the end", func(lines [][]byte, in *VerifyInput) [][]byte {
			in.Range = nil
			return lines[:39]
		}, []string{"1 event(s) are missing at the end"}},
		{"garbage line", func(lines [][]byte, _ *VerifyInput) [][]byte {
			lines[2] = []byte("{not json\n")
			return lines
		}, []string{"line 3", "not an event"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := VerifyInput{Checkpoint: f.signed, PublicKey: f.log.key, Range: &f.proof}
			lines := c.tamper(f.copyLines(), &in)
			rep, err := verifyLines(lines, in)
			if !errors.Is(err, ErrVerification) {
				t.Fatalf("tampering not detected: %v", err)
			}
			var all []string
			for _, p := range rep.Problems {
				all = append(all, p.String())
			}
			text := strings.Join(all, "\n")
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("problems do not mention %q:\n%s", w, text)
				}
			}
		})
	}
}

func TestVerifyEarlierCheckpoint(t *testing.T) {
	f := newBundleFixture(t)
	prev := f.signedAt(t, 30)
	key := f.log.key
	// From the export's own leaves.
	if _, err := verifyLines(f.lines, VerifyInput{Checkpoint: f.signed, PublicKey: key, Previous: prev}); err != nil {
		t.Fatal(err)
	}
	// A partial export needs the consistency proof.
	rp := f.log.rangeProof(t, 32, 40, 40)
	_, err := verifyLines(f.lines[32:], VerifyInput{Checkpoint: f.signed, PublicKey: key, Range: &rp, Previous: prev})
	if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), "give the consistency proof") {
		t.Fatalf("missing consistency proof: %v", err)
	}
	cons := f.log.consistencyProof(t, 30, 40)
	if _, err := verifyLines(f.lines[32:], VerifyInput{Checkpoint: f.signed, PublicKey: key, Range: &rp, Previous: prev, Consistency: cons}); err != nil {
		t.Fatal(err)
	}
	cons[0][0] ^= 1
	if _, err := verifyLines(f.lines[32:], VerifyInput{Checkpoint: f.signed, PublicKey: key, Range: &rp, Previous: prev, Consistency: cons}); !errors.Is(err, ErrVerification) {
		t.Fatalf("bad consistency proof accepted: %v", err)
	}
}

func TestVerifyPartialBundle(t *testing.T) {
	l := newTestLog(t, 50)
	dir := t.TempDir()
	pj, _ := json.Marshal(l.rangeProof(t, 11, 30, 50))
	for name, data := range map[string][]byte{leaf.BundleEvents: bytes.Join(l.lines[11:30], nil), leaf.BundleCheckpoint: l.signedAt(t, 50),
		leaf.BundleProof: pj, leaf.BundlePublicKey: []byte(l.key + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in, closer, err := ReadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	in.PublicKey = l.key
	in.Validator = &rejectCustomer{id: "c-20"} // skipped: the rules need the history from leaf 0
	rep, err := Verify(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if rep.First != 11 || rep.End != 30 || rep.RulesChecked {
		t.Fatalf("report %+v", rep)
	}
}

// One moved or missing line is reported once, not for every line after it.
func TestVerifyReportsEachDisorderOnce(t *testing.T) {
	f := newBundleFixture(t)
	for name, lines := range map[string][][]byte{
		"swap":   append(append(append([][]byte{}, f.lines[:4]...), f.lines[5], f.lines[4]), f.lines[6:]...),
		"delete": append(append([][]byte{}, f.lines[:4]...), f.lines[5:]...),
	} {
		rep, err := verifyLines(lines, VerifyInput{Checkpoint: f.signed, PublicKey: f.log.key, Range: &f.proof})
		if err == nil {
			t.Fatalf("%s accepted", name)
		}
		for _, p := range rep.Problems {
			if p.Line > 6 {
				t.Errorf("%s: a later line is reported: %s", name, p)
			}
		}
	}
}

// Exports longer than a batch are parsed in parallel: lines keep their numbers and order, across
// batch boundaries.
func TestVerifyAcrossBatches(t *testing.T) {
	n := 2*verifyBatch + 100
	l := newTestLog(t, n)
	signed := l.signedAt(t, uint64(n))
	lines := l.lines
	export := l.export()
	rep, err := verifyLines(lines, VerifyInput{Checkpoint: signed, PublicKey: l.key, Validator: &rejectCustomer{id: fmt.Sprintf("c-%d", verifyBatch+3)}})
	if !errors.Is(err, ErrVerification) || len(rep.Problems) != 1 || rep.Problems[0].Line != verifyBatch+4 || rep.Lines != n {
		t.Fatalf("rule violation at line %d: %+v, %v", verifyBatch+4, rep.Problems, err)
	}
	// Swap the last line of the first batch with the first of the second.
	tampered := append([][]byte{}, lines...)
	tampered[verifyBatch-1], tampered[verifyBatch] = tampered[verifyBatch], tampered[verifyBatch-1]
	rep, _ = verifyLines(tampered, VerifyInput{Checkpoint: signed, PublicKey: l.key})
	if len(rep.Problems) != 3 || rep.Problems[0].Line != verifyBatch || rep.Problems[1].Line != verifyBatch+1 {
		t.Fatalf("swap across batches: %v", rep.Problems)
	}
	// A cancelled verification stops.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Verify(ctx, VerifyInput{Export: bytes.NewReader(export), Checkpoint: signed, PublicKey: l.key}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
