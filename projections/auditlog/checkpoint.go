package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// OriginPrefix starts every log origin: a log named "prod" has origin "freezeledger/prod", which is
// also the name of its signing key.
const OriginPrefix = "freezeledger/"

// Checkpoint is the body of a signed checkpoint in the transparency-log checkpoint format
// (github.com/transparency-dev/formats/log, C2SP tlog-checkpoint):
//
//	<origin>\n
//	<tree size, decimal>\n
//	<root hash, standard base64>\n
//
// signed as a note (golang.org/x/mod/sumdb/note) with an Ed25519 key whose name is the origin.
type Checkpoint struct {
	Origin string
	Size   uint64
	Hash   []byte // the RFC 6962 root of the first Size leaves
}

// Marshal returns the checkpoint body (three lines, each ending in a newline).
func (c Checkpoint) Marshal() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash))
}

// ParseCheckpoint parses a checkpoint body. Extension lines after the third are allowed and ignored.
func ParseCheckpoint(body []byte) (Checkpoint, error) {
	lines := strings.SplitN(string(body), "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("checkpoint: want at least three lines: origin, tree size, root hash")
	}
	origin := lines[0]
	if origin == "" {
		return Checkpoint{}, errors.New("checkpoint: empty origin")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || (len(lines[1]) > 1 && lines[1][0] == '0') {
		return Checkpoint{}, fmt.Errorf("checkpoint: tree size %q is not a decimal number", lines[1])
	}
	hash, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(hash) != sha256.Size {
		return Checkpoint{}, fmt.Errorf("checkpoint: root hash %q is not 32 bytes of base64", lines[2])
	}
	return Checkpoint{Origin: origin, Size: size, Hash: hash}, nil
}

// SignCheckpoint signs c as a note with signer.
func SignCheckpoint(c Checkpoint, signer note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: string(c.Marshal())}, signer)
}

// ErrBadSignature: a checkpoint is not signed by the expected key.
var ErrBadSignature = errors.New("checkpoint signature")

// OpenCheckpoint verifies a signed checkpoint against the verifier key (the text of
// GET /v1/audit/public-key, "<name>+<hash>+<base64 key>") and parses it. The origin must be the
// key's name. A note signed by another key is ErrBadSignature.
func OpenCheckpoint(signed []byte, verifierKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("verifier key: %w", err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			var names []string
			for _, s := range unverified.Note.UnverifiedSigs {
				names = append(names, fmt.Sprintf("%s (key hash %08x)", s.Name, s.Hash))
			}
			return Checkpoint{}, fmt.Errorf("%w: the checkpoint is not signed by key %s (key hash %08x); it is signed by %s",
				ErrBadSignature, v.Name(), v.KeyHash(), strings.Join(names, ", "))
		}
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint origin %q differs from the key's name %q", ErrBadSignature, c.Origin, v.Name())
	}
	return c, nil
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
		if err := writeFileAtomic(keyFile, []byte(s+"\n"), 0o600); err != nil {
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

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// equalHash compares two hashes.
func equalHash(a, b []byte) bool { return bytes.Equal(a, b) }
