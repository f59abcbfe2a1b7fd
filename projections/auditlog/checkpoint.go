package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/freezeledger/freezeledger/internal/atomicfile"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// OriginPrefix starts every log origin: a log named "prod" has origin "freezeledger/prod", which is
// also the name of its signing key.
const OriginPrefix = "freezeledger/"

// SignCheckpoint signs c as a note with signer.
func SignCheckpoint(c leaf.Checkpoint, signer note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: string(c.Marshal())}, signer)
}

// Key files in the tree's directory.
const (
	signingKeyFile  = "signing.key"  // note signer key, mode 0600
	verifierKeyFile = "verifier.key" // note verifier key (public)
)

// VerifierKeyFile is the file of a tree's directory holding its public verifier key.
const VerifierKeyFile = verifierKeyFile

// loadOrCreateKey returns the signer in keyFile, creating an Ed25519 key named origin there (mode
// 0600) if the file does not exist, and the verifier key text.
func loadOrCreateKey(keyFile, origin string) (note.Signer, string, error) {
	skey, err := os.ReadFile(keyFile)
	if errors.Is(err, os.ErrNotExist) {
		s, _, gerr := note.GenerateKey(rand.Reader, origin)
		if gerr != nil {
			return nil, "", gerr
		}
		if err := atomicfile.WriteFile(keyFile, []byte(s+"\n"), 0o600); err != nil {
			return nil, "", fmt.Errorf("signing key %s: %w", keyFile, err)
		}
		skey = []byte(s)
	} else if err != nil {
		return nil, "", fmt.Errorf("signing key %s: %w", keyFile, err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, "", fmt.Errorf("signing key %s: %w", keyFile, err)
	}
	if signer.Name() != origin {
		return nil, "", fmt.Errorf("signing key %s is named %q, want the log's origin %q", keyFile, signer.Name(), origin)
	}
	vkey, err := verifierKeyOf(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, "", fmt.Errorf("signing key %s: %w", keyFile, err)
	}
	return signer, vkey, nil
}

// verifierKeyOf derives the verifier key text from a note signer key
// "PRIVATE+KEY+<name>+<hash>+<base64(alg || seed)>".
func verifierKeyOf(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("malformed note signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 33 || raw[0] != 1 {
		return "", errors.New("not an Ed25519 note signer key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

// equalHash compares two hashes.
func equalHash(a, b []byte) bool { return bytes.Equal(a, b) }
