package auditlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
	"github.com/freezeledger/freezeledger/projections/auditlog/verify"
)

// verifyBundleDir runs the offline verifier on a bundle directory, with an earlier checkpoint if
// previous is set.
func verifyBundleDir(t *testing.T, dir, key string, previous []byte, consistency ...[]byte) (verify.VerifyReport, error) {
	t.Helper()
	in, closer, err := verify.ReadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	in.PublicKey, in.Previous, in.Consistency = key, previous, consistency
	return verify.Verify(context.Background(), in)
}

// copyBundle copies a bundle directory, so that each tamper case starts from the genuine one.
func copyBundle(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func bundleLines(t *testing.T, dir string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, leaf.BundleEvents))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b, []byte("\n"))[:bytes.Count(b, []byte("\n"))]
}

func writeLines(t *testing.T, dir string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, leaf.BundleEvents), bytes.Join(lines, nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A scoped bundle of one channel stream verifies: every event of the stream, in leaf order, each
// in the signed tree, complete up to the signed head.
func TestScopedBundleVerifies(t *testing.T) {
	_, tr := runTreeOver(t, 60) // channel-d0, -d1, -d2: 20 events each, interleaved
	dir := t.TempDir()
	res, err := tr.WriteScopedBundle(context.Background(), dir, ScopeRequest{Scope: "d1", Stream: "channel-d1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Lines != 20 || res.Head != (leaf.StreamHead{Stream: "channel-d1", Revision: 19, Index: 58}) || res.First != 0 || res.End != 60 {
		t.Fatalf("result %+v", res)
	}
	rep, err := verifyBundleDir(t, dir, tr.PublicKey(), nil)
	if err != nil {
		t.Fatalf("%v\n%v", err, rep.Problems)
	}
	if rep.Lines != 20 || rep.Scope == nil || len(rep.Scope.Streams) != 1 || rep.Scope.Streams[0].Lines != 20 || rep.Scope.Streams[0].LastRevision != 19 {
		t.Fatalf("report %+v %+v", rep, rep.Scope)
	}
	// A stream with no event: an empty bundle that says so, and verifies.
	empty := t.TempDir()
	if res, err := tr.WriteScopedBundle(context.Background(), empty, ScopeRequest{Scope: "none", Stream: "channel-none"}); err != nil || res.Lines != 0 || !res.Head.Empty {
		t.Fatalf("empty stream: %+v, %v", res, err)
	}
	if rep, err := verifyBundleDir(t, empty, tr.PublicKey(), nil); err != nil {
		t.Fatalf("empty stream: %v %v", err, rep.Problems)
	}
}

// The tamper matrix of scoped bundles: each change fails verification, naming the line or the
// cause.
func TestScopedBundleTamperMatrix(t *testing.T) {
	s, tr := runTreeOver(t, 40)
	_, older := tr.Checkpoint()
	appendEvents(t, s, 20)
	waitSize(t, tr, 60)
	_, newer := tr.Checkpoint()
	genuine := t.TempDir()
	if _, err := tr.WriteScopedBundle(context.Background(), genuine, ScopeRequest{Scope: "d1", Stream: "channel-d1"}); err != nil {
		t.Fatal(err)
	}
	cons, err := tr.ConsistencyProof(40, 60)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := verifyBundleDir(t, genuine, tr.PublicKey(), older, cons...); err != nil {
		t.Fatalf("genuine, with the earlier checkpoint: %v %v", err, rep.Problems)
	}
	// A line of another stream, from a whole export.
	var whole bytes.Buffer
	if _, err := tr.Export(context.Background(), &whole, ExportRequest{}); err != nil {
		t.Fatal(err)
	}
	all := bytes.SplitAfter(whole.Bytes(), []byte("\n"))
	otherSK, _, err := note.GenerateKey(rand.Reader, tr.Origin())
	if err != nil {
		t.Fatal(err)
	}
	other, err := note.NewSigner(otherSK)
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := tr.Checkpoint()

	cases := []struct {
		name     string
		tamper   func(t *testing.T, dir string)
		previous []byte
		want     []string
	}{
		{"a dropped event", func(t *testing.T, dir string) {
			l := bundleLines(t, dir)
			writeLines(t, dir, append(l[:5:5], l[6:]...))
		}, nil, []string{"line 6 ", "channel-d1: revision 5 is missing"}},
		{"the first event dropped", func(t *testing.T, dir string) {
			writeLines(t, dir, bundleLines(t, dir)[1:])
		}, nil, []string{"line 1 ", "revision 0 is missing"}},
		{"the last event dropped", func(t *testing.T, dir string) {
			l := bundleLines(t, dir)
			writeLines(t, dir, l[:len(l)-1])
		}, nil, []string{"the signed heads say the stream's last event is revision 19 at index 58", "revision 19 is missing at the end"}},
		{"an added event from outside the scope", func(t *testing.T, dir string) {
			l := bundleLines(t, dir)
			// leaf 3 is channel-d0's; the bundle's lines are leaves 1, 4, 7, …
			writeLines(t, dir, append([][]byte{l[0], all[3]}, l[1:]...))
		}, nil, []string{"line 2 ", `stream "channel-d0" is not in the bundle's scope`}},
		{"a reordered pair", func(t *testing.T, dir string) {
			l := bundleLines(t, dir)
			l[3], l[4] = l[4], l[3]
			writeLines(t, dir, l)
		}, nil, []string{"line 5 ", "lines were reordered or repeated"}},
		{"an altered byte", func(t *testing.T, dir string) {
			l := bundleLines(t, dir)
			l[7] = bytes.Replace(l[7], []byte(`"c-22"`), []byte(`"c-23"`), 1)
			writeLines(t, dir, l)
		}, nil, []string{"line 8 ", "the line was altered"}},
		{"an altered byte, leaf hash rewritten", func(t *testing.T, dir string) {
			l := bundleLines(t, dir)
			ev, err := leafEventOf(l[7])
			if err != nil {
				t.Fatal(err)
			}
			ev.Data = bytes.Replace(ev.Data, []byte(`"c-22"`), []byte(`"c-23"`), 1)
			l[7] = lineOf(t, ev)
			writeLines(t, dir, l)
		}, nil, []string{"do not hash to the checkpoint's root"}},
		{"a rolled-back checkpoint", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, leaf.BundleCheckpoint), older, 0o644)
		}, nil, []string{"the stream heads are signed for tree size 60, the checkpoint is of size 40"}},
		{"a rolled-back checkpoint, against the auditor's earlier one", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, leaf.BundleCheckpoint), older, 0o644)
		}, newer, []string{"checkpoint rolled back: it covers 40 events but an earlier checkpoint covered 60"}},
		{"a checkpoint from another log", func(t *testing.T, dir string) {
			signed, err := SignCheckpoint(cp, other)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, leaf.BundleCheckpoint), signed, 0o644)
		}, nil, []string{"checkpoint: checkpoint signature: the checkpoint is not signed by key"}},
		{"stream heads of another log", func(t *testing.T, dir string) {
			h, err := leaf.SignStreamHeads(leaf.StreamHeads{Origin: tr.Origin(), Size: 60, Hash: cp.Hash,
				Heads: []leaf.StreamHead{{Stream: "channel-d1", Revision: 18, Index: 55}}}, other)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, leaf.BundleHeads), h, 0o644)
		}, nil, []string{"checkpoint signature: stream heads"}},
		{"a truncated gap proof", func(t *testing.T, dir string) {
			g, _ := os.ReadFile(filepath.Join(dir, leaf.BundleGaps))
			os.WriteFile(filepath.Join(dir, leaf.BundleGaps), g[:len(g)-32], 0o644)
		}, nil, []string{"gap proof: it ends before the gap"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyBundle(t, genuine)
			c.tamper(t, dir)
			rep, err := verifyBundleDir(t, dir, tr.PublicKey(), c.previous)
			if !errors.Is(err, verify.ErrVerification) {
				t.Fatalf("verified: %v %+v", err, rep)
			}
			var got []string
			for _, p := range rep.Problems {
				got = append(got, p.String())
			}
			text := strings.Join(got, "\n")
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("problems do not say %q:\n%s", w, text)
				}
			}
		})
	}
}

func leafEventOf(line []byte) (leaf.Event, error) {
	var ev leaf.Event
	err := json.Unmarshal(line, &ev)
	return ev, err
}

// lineOf is the export line of ev with its leaf hash recomputed: a forger's consistent line.
func lineOf(t *testing.T, ev leaf.Event) []byte {
	t.Helper()
	canon, err := ev.CanonicalBytes()
	if err != nil {
		t.Fatal(err)
	}
	h := leaf.HashLeaf(canon)
	ev.LeafHash = b64(h[:])
	return leaf.AppendLine(nil, &ev, canon)
}

// A partner below the channel's root sees its own events and the others redacted: the bundle
// still proves the whole stream, and a redacted line cannot be changed unnoticed.
func TestScopedBundleRedacts(t *testing.T) {
	_, tr := runTreeOver(t, 60)
	dir := t.TempDir()
	res, err := tr.WriteScopedBundle(context.Background(), dir, ScopeRequest{Scope: "r1", Stream: "channel-d1",
		Show: func(ev *leaf.Event) bool { return ev.Revision%2 == 0 }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Lines != 20 || res.Redacted != 10 {
		t.Fatalf("result %+v", res)
	}
	lines := bundleLines(t, dir)
	if !bytes.Contains(lines[1], []byte(`"redacted":true`)) || bytes.Contains(lines[1], []byte(`"data"`)) || bytes.Contains(lines[0], []byte("redacted")) {
		t.Fatalf("lines:\n%s%s", lines[0], lines[1])
	}
	rep, err := verifyBundleDir(t, dir, tr.PublicKey(), nil)
	if err != nil || rep.Scope.Streams[0].Redacted != 10 {
		t.Fatalf("%v %+v", err, rep.Problems)
	}
	// Line 2's leaf hash replaced by line 4's (both redacted).
	var a, b struct {
		LeafHash string `json:"leaf_hash"`
	}
	if json.Unmarshal(lines[1], &a) != nil || json.Unmarshal(lines[3], &b) != nil {
		t.Fatal("unreadable redacted lines")
	}
	lines[1] = bytes.Replace(lines[1], []byte(a.LeafHash), []byte(b.LeafHash), 1)
	writeLines(t, dir, lines)
	if rep, err := verifyBundleDir(t, dir, tr.PublicKey(), nil); err == nil || !strings.Contains(err.Error(), "do not hash to the checkpoint's root") {
		t.Fatalf("a changed redacted leaf hash: %v %v", err, rep.Problems)
	}
}

// A range of a scoped stream carries the stream's last event before it and its first after it;
// without either, the range's completeness is not shown.
func TestScopedBundleRange(t *testing.T) {
	_, tr := runTreeOver(t, 60)
	dir := t.TempDir()
	// positions 21..40 are leaves 20..39; channel-d1's leaves are 1, 4, 7, …
	res, err := tr.WriteScopedBundle(context.Background(), dir, ScopeRequest{Scope: "d1", Stream: "channel-d1", From: mustBound(t, "21"), To: mustBound(t, "41")})
	if err != nil {
		t.Fatal(err)
	}
	if res.First != 20 || res.End != 40 || res.Lines != 8 { // leaves 19 (before the range), 22 to 37 (6 lines), 40 (after it)
		lines := bundleLines(t, dir)
		t.Fatalf("result %+v\n%s", res, bytes.Join(lines, nil))
	}
	if rep, err := verifyBundleDir(t, dir, tr.PublicKey(), nil); err != nil {
		t.Fatalf("%v %v", err, rep.Problems)
	}
	for name, drop := range map[string]int{"the boundary before": 0, "the boundary after": 7} {
		d := copyBundle(t, dir)
		l := bundleLines(t, d)
		writeLines(t, d, append(l[:drop:drop], l[drop+1:]...))
		if _, err := verifyBundleDir(t, d, tr.PublicKey(), nil); !errors.Is(err, verify.ErrVerification) {
			t.Errorf("%s dropped: %v", name, err)
		}
	}
}
