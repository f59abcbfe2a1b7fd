package leaf

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

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
