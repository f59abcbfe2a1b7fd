package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// testWitness cosigns checkpoints with torchwood's C2SP tlog-cosignature signer.
type testWitness struct {
	signer *torchwood.CosignatureSigner
	key    string
}

func newTestWitness(t *testing.T, name string) testWitness {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	return testWitness{signer: s, key: s.Verifier().String()}
}

// cosign adds the witness's cosignature line to a signed checkpoint.
func (w testWitness) cosign(t *testing.T, signed []byte) []byte {
	t.Helper()
	text := signed[:bytes.Index(signed, []byte("\n\n"))+1]
	own, err := note.Sign(&note.Note{Text: string(text)}, w.signer)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSuffix(string(own[len(text)+1:]), "\n")
	return leaf.AddSignatureLines(signed, []string{line})
}

// flipSignature flips the last byte of the Ed25519 signature in the named witness's line.
func flipSignature(t *testing.T, signed []byte, name string) []byte {
	t.Helper()
	prefix := []byte("\n— " + name + " ")
	i := bytes.Index(signed, prefix) + len(prefix)
	j := i + bytes.IndexByte(signed[i:], '\n')
	raw, err := base64.StdEncoding.DecodeString(string(signed[i:j]))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 1
	return slices.Concat(signed[:i], []byte(base64.StdEncoding.EncodeToString(raw)), signed[j:])
}

func TestVerifyWitnessThreshold(t *testing.T) {
	f := newBundleFixture(t)
	a, b, c := newTestWitness(t, "witness.test/a"), newTestWitness(t, "witness.test/b"), newTestWitness(t, "witness.test/c")
	impostorB := newTestWitness(t, "witness.test/b") // b's name, another key
	cosignedAB := b.cosign(t, a.cosign(t, f.signed))
	keys := []string{a.key, b.key, c.key}
	cases := []struct {
		name      string
		signed    []byte
		keys      []string
		threshold int
		want      []string // substrings of the problems; none: verified
		valid     int
	}{
		{"2 of 3 met", cosignedAB, keys, 2, nil, 2},
		{"all by default, c missing", cosignedAB, keys, 0, []string{"witness witness.test/c", "no cosignature of this witness", "2 valid cosignature(s) of the 3 witness keys given, 3 required"}, 2},
		{"not met: b cosigned with another key", a.cosign(t, impostorB.cosign(t, f.signed)), keys[:2], 2,
			[]string{"witness witness.test/b: cosigned with key hash", "a wrong key", "1 valid cosignature(s) of the 2 witness keys given, 2 required"}, 1},
		{"none at all", f.signed, keys, 1, []string{"witness witness.test/a", "witness witness.test/b", "witness witness.test/c", "0 valid cosignature(s)"}, 0},
		{"a cosignature that does not verify fails even above the threshold",
			flipSignature(t, cosignedAB, "witness.test/b"), keys[:2], 1,
			[]string{"witness witness.test/b", "the checkpoint or the signature was altered"}, 1},
		{"threshold above the keys", cosignedAB, keys[:1], 2, []string{"a threshold of 2 needs at least 2 witness keys, 1 given"}, 0},
		{"a log key is no witness key", cosignedAB, []string{f.log.key}, 1, []string{"witnesses: witness key", "not a cosignature/v1 key"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := verifyLines(f.lines, VerifyInput{Checkpoint: tc.signed, PublicKey: f.log.key, Range: &f.proof,
				WitnessKeys: tc.keys, WitnessThreshold: tc.threshold})
			var all []string
			for _, p := range rep.Problems {
				all = append(all, p.String())
			}
			joined := strings.Join(all, "\n")
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("not verified: %v\n%s", err, joined)
				}
			} else if err == nil {
				t.Fatalf("verified, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(joined, w) {
					t.Errorf("problems lack %q:\n%s", w, joined)
				}
			}
			if rep.Witnesses == nil || len(rep.Witnesses.Valid) != tc.valid {
				t.Errorf("witness report %+v, want %d valid", rep.Witnesses, tc.valid)
			}
		})
	}
}

// A cosigned checkpoint verifies as before without witness keys: the extra lines are ignored.
func TestVerifyIgnoresCosignaturesWithoutWitnessKeys(t *testing.T) {
	f := newBundleFixture(t)
	signed := newTestWitness(t, "witness.test/a").cosign(t, f.signed)
	rep, err := verifyLines(f.lines, VerifyInput{Checkpoint: signed, PublicKey: f.log.key, Range: &f.proof})
	if err != nil || rep.Witnesses != nil {
		t.Fatalf("%v, %+v", err, rep.Witnesses)
	}
}
