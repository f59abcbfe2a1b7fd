package leaf

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

// cosigned returns a checkpoint signed by a fresh log key, its verifier key, and the same note
// cosigned by a fresh witness key with torchwood's cosigner (a third-party implementation of C2SP
// tlog-cosignature), with that witness's verifier.
func cosigned(t *testing.T, witness string) (signed []byte, logKey string, withCosig []byte, wv *CosignatureVerifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "freezeledger/test")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	h := sha256.Sum256([]byte("root"))
	text := string(Checkpoint{Origin: "freezeledger/test", Size: 42, Hash: h[:]}.Marshal())
	if signed, err = note.Sign(&note.Note{Text: text}, signer); err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	cs, err := torchwood.NewCosignatureSigner(witness, priv)
	if err != nil {
		t.Fatal(err)
	}
	both, err := note.Sign(&note.Note{Text: text}, cs)
	if err != nil {
		t.Fatal(err)
	}
	_, lines, _ := splitNote(both)
	if wv, err = NewCosignatureVerifier(cs.Verifier().String()); err != nil {
		t.Fatal(err)
	}
	return signed, vkey, AddSignatureLines(signed, lines), wv
}

func TestCosignatureOfTorchwoodVerifies(t *testing.T) {
	signed, logKey, withCosig, wv := cosigned(t, "witness.test/a")
	c, err := FindCosignature(withCosig, wv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Witness != "witness.test/a" || c.Time.IsZero() || !strings.HasPrefix(c.Line, "— witness.test/a ") {
		t.Errorf("cosignature %+v", c)
	}
	// A client that knows only the log key still opens the cosigned checkpoint.
	if _, err := OpenCheckpoint(withCosig, logKey); err != nil {
		t.Errorf("the log key no longer opens the cosigned checkpoint: %v", err)
	}
	// And x/mod's note reader accepts the cosignature verifier as it is.
	if _, err := note.Open(withCosig, note.VerifierList(wv)); err != nil {
		t.Errorf("note.Open with the witness key: %v", err)
	}
	if _, err := FindCosignature(signed, wv); !errors.Is(err, ErrCosignature) || !strings.Contains(err.Error(), "no cosignature of this witness") ||
		!strings.Contains(err.Error(), "witness.test/a") {
		t.Errorf("missing cosignature: %v", err)
	}
}

func TestCosignatureFailures(t *testing.T) {
	_, _, withCosig, wv := cosigned(t, "witness.test/a")
	_, _, _, other := cosigned(t, "witness.test/a") // same name, another key
	if _, err := FindCosignature(withCosig, other); !errors.Is(err, ErrCosignature) || !strings.Contains(err.Error(), "a wrong key") {
		t.Errorf("wrong key: %v", err)
	}
	altered := bytes.Replace(withCosig, []byte("\n42\n"), []byte("\n43\n"), 1)
	if _, err := FindCosignature(altered, wv); !errors.Is(err, ErrBadCosignature) || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("altered checkpoint: %v", err)
	}
	if _, err := FindCosignature([]byte("no note"), wv); err == nil {
		t.Error("a text that is not a note was accepted")
	}
}

func TestCosignatureVerifierKeyParsing(t *testing.T) {
	_, _, _, wv := cosigned(t, "witness.test/a")
	back, err := NewCosignatureVerifier(wv.String())
	if err != nil || back.String() != wv.String() || back.KeyHash() != wv.KeyHash() {
		t.Fatalf("round trip: %v, %v", back, err)
	}
	_, logKey, err := note.GenerateKey(rand.Reader, "freezeledger/test")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "name", "name+0000+AAAA", logKey, strings.Replace(wv.String(), "+", "+0", 1)[:len(wv.String())]} {
		if _, err := NewCosignatureVerifier(bad); err == nil {
			t.Errorf("NewCosignatureVerifier(%q) accepted it", bad)
		}
	}
}

func TestAddSignatureLinesSkipsDuplicates(t *testing.T) {
	signed, _, withCosig, _ := cosigned(t, "witness.test/a")
	_, lines, _ := splitNote(withCosig)
	once := AddSignatureLines(signed, lines)
	if twice := AddSignatureLines(once, lines); !bytes.Equal(once, twice) {
		t.Errorf("a line was added twice:\n%s", twice)
	}
}

// The example of docs/AUDIT.md ("Witnesses") is a real cosignature: the doc's checkpoint body, key
// and signature line verify, with the timestamp the doc gives.
func TestCosignatureDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/AUDIT.md")
	if err != nil {
		t.Fatal(err)
	}
	const (
		vkey = "witness.example/lw+1c4c00fa+BMAwlP/O6leDYPuVRQnGfZSglw9FG4nrrPoxr1aJrN5L"
		line = "— witness.example/lw HEwA+gAAAABrDy8soz7RUt63kUWJT+hQ9aJDjvQQoMw55+rmuYnErrovxWAKppquS4ZIG2ZXlQXxcLYccHTkyGooh/FzVpTcmrlVBA=="
		body = "freezeledger/default\n1241\nOaXuwomBeJD/nrVkBPgn0SxcOahTb/T4vMP7OP26CB8=\n"
	)
	for _, s := range []string{vkey, line, body} {
		if !bytes.Contains(doc, []byte(s)) {
			t.Fatalf("docs/AUDIT.md no longer shows %q", s)
		}
	}
	v, err := NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := FindCosignature([]byte(body+"\n"+line+"\n"), v)
	if err != nil || c.Time.Format(time.RFC3339) != "2026-12-01T20:33:48Z" {
		t.Fatalf("%+v, %v", c, err)
	}
}
