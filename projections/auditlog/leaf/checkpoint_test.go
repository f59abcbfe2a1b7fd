package leaf

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// testLogKey makes a log key named origin and signs checkpoint bodies with it, as the service does.
func testLogKey(t testing.TB, origin string) (sign func(Checkpoint) []byte, verifierKey string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return func(c Checkpoint) []byte {
		signed, err := note.Sign(&note.Note{Text: string(c.Marshal())}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}, vkey
}

// FuzzCheckpointSignature: opening a signed checkpoint never panics, and nothing but the genuine note
// opens under the log's key (the signature and origin are checked before the body is believed).
func FuzzCheckpointSignature(f *testing.F) {
	sign, key := testLogKey(f, "freezeledger/default")
	root := sha256.Sum256([]byte("a root"))
	signed := sign(Checkpoint{Origin: "freezeledger/default", Size: 12, Hash: root[:]})
	genuine, err := OpenCheckpoint(signed, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(bytes.Replace(signed, []byte("\n12\n"), []byte("\n13\n"), 1))
	f.Add(bytes.Replace(signed, []byte("\n\n"), []byte("\n"), 1))
	f.Add(append(bytes.Clone(signed), signed...))
	f.Add([]byte("freezeledger/x\n1\nAAAA\n\n— x AAAA\n"))
	f.Fuzz(func(t *testing.T, signed []byte) {
		cp, err := OpenCheckpoint(signed, key)
		if err != nil {
			return
		}
		if cp.Origin != genuine.Origin || cp.Size != genuine.Size || !bytes.Equal(cp.Hash, genuine.Hash) {
			t.Fatalf("opened a checkpoint that was never signed: %+v", cp)
		}
	})
}

// FuzzParseCheckpoint: parsing a checkpoint body never panics; what it accepts marshals back to the
// same three first lines and parses again to the same checkpoint.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("freezeledger/test\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Add([]byte("freezeledger/test\n012\nAAAA\n"))
	f.Add([]byte("o\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nextension\n"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		cp, err := ParseCheckpoint(body)
		if err != nil {
			return
		}
		m := cp.Marshal()
		if !bytes.HasPrefix(body, m) {
			t.Fatalf("accepted %q, which does not start with its own marshalling %q", body, m)
		}
		again, err := ParseCheckpoint(m)
		if err != nil || again.Origin != cp.Origin || again.Size != cp.Size || !bytes.Equal(again.Hash, cp.Hash) {
			t.Fatalf("re-parsing %q: %+v, %v", m, again, err)
		}
	})
}

// FuzzOpenCheckpoint: a signed checkpoint from outside never panics the parser.
func FuzzOpenCheckpoint(f *testing.F) {
	const origin = "freezeledger/default"
	sign, key := testLogKey(f, origin)
	empty := sha256.Sum256(nil)
	f.Add(sign(Checkpoint{Origin: origin, Size: 0, Hash: empty[:]}))
	f.Add([]byte("freezeledger/default\n1\nAAAA\n\n— freezeledger/default AAAA\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := OpenCheckpoint(b, key)
		if err == nil && (cp.Origin != origin || len(cp.Hash) != 32) {
			t.Fatalf("accepted %q as %+v", b, cp)
		}
		ParseCheckpoint(b)
	})
}
