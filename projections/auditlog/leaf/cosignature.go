package leaf

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// cosignatureAlg is the signed-note key type of C2SP tlog-cosignature/v1 (Ed25519 over a timestamped
// message).
const cosignatureAlg = 0x04

// CosignatureVerifier checks a witness's cosignatures (C2SP tlog-cosignature/v1). It is a
// golang.org/x/mod/sumdb/note Verifier, so note.Open accepts it too.
//
// A cosignature is a note signature line "— <name> base64(key hash || timestamp || signature)":
// key hash the first 4 bytes of SHA-256(name || "\n" || 0x04 || public key), timestamp 8 bytes
// big-endian (Unix seconds), signature the 64-byte Ed25519 signature of
//
//	cosignature/v1\n
//	time <timestamp, decimal>\n
//	<checkpoint body>
type CosignatureVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

// NewCosignatureVerifier parses a witness's verifier key, "<name>+<key hash, 8 hex digits>+<base64(0x04
// || 32-byte Ed25519 public key)>" (C2SP signed-note). A key of another type, a name with spaces or
// '+', or a key hash that does not match is an error.
func NewCosignatureVerifier(vkey string) (*CosignatureVerifier, error) {
	vkey = strings.TrimSpace(vkey)
	name, rest, ok1 := strings.Cut(vkey, "+")
	hexHash, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || !validKeyName(name) || len(hexHash) != 8 {
		return nil, fmt.Errorf("witness key %q: want <name>+<8 hex digits>+<base64 key>", vkey)
	}
	h, err := strconv.ParseUint(hexHash, 16, 32)
	if err != nil {
		return nil, fmt.Errorf("witness key %q: key hash %q is not hexadecimal", vkey, hexHash)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize {
		return nil, fmt.Errorf("witness key %q: the key is not 33 bytes of base64", vkey)
	}
	if raw[0] != cosignatureAlg {
		return nil, fmt.Errorf("witness key %q: key type 0x%02x is not a cosignature/v1 key (0x04)", vkey, raw[0])
	}
	v := &CosignatureVerifier{name: name, hash: keyHash(name, raw), key: ed25519.PublicKey(raw[1:])}
	if uint32(h) != v.hash {
		return nil, fmt.Errorf("witness key %q: key hash %s does not match the key (%08x)", vkey, hexHash, v.hash)
	}
	return v, nil
}

// validKeyName: non-empty valid UTF-8 without spaces or '+' (C2SP signed-note).
func validKeyName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// Name is the witness's key name (the name its cosignature lines carry).
func (v *CosignatureVerifier) Name() string { return v.name }

// KeyHash is the key's 4-byte hash.
func (v *CosignatureVerifier) KeyHash() uint32 { return v.hash }

// String is the verifier key text.
func (v *CosignatureVerifier) String() string {
	return fmt.Sprintf("%s+%08x+%s", v.name, v.hash, base64.StdEncoding.EncodeToString(append([]byte{cosignatureAlg}, v.key...)))
}

// Verify reports whether sig (timestamp || Ed25519 signature, without the key hash) is this
// witness's cosignature of the checkpoint body msg.
func (v *CosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(v.key, CosignedMessage(binary.BigEndian.Uint64(sig), msg), sig[8:])
}

// CosignedMessage is what a cosignature/v1 signs: the header, the timestamp line and the checkpoint body.
func CosignedMessage(timestamp uint64, body []byte) []byte {
	return append(fmt.Appendf(nil, "cosignature/v1\ntime %d\n", timestamp), body...)
}

// Cosignature is one witness's valid cosignature found on a checkpoint.
type Cosignature struct {
	Witness string    // the key's name
	Time    time.Time // when the witness cosigned, by its own clock
	Line    string    // the note signature line, "— <name> <base64>", without the newline
}

// ErrCosignature: a witness's cosignature is missing, by another key, or does not verify.
var ErrCosignature = errors.New("cosignature")

// ErrBadCosignature (which is also ErrCosignature): a line of the witness's key is there but does
// not verify: the checkpoint or the signature was altered.
var ErrBadCosignature = fmt.Errorf("%w that does not verify", ErrCosignature)

// FindCosignature returns v's cosignature of the signed checkpoint note signed, or an error wrapping
// ErrCosignature that names the witness: no line of its name, lines of its name with other key hashes
// (a wrong key), or a line of its key that does not verify (an altered checkpoint or signature:
// ErrBadCosignature).
// Other signature lines are ignored. It checks no log signature: open the checkpoint with the log's
// key as well.
func FindCosignature(signed []byte, v *CosignatureVerifier) (Cosignature, error) {
	body, sigs, err := splitNote(signed)
	if err != nil {
		return Cosignature{}, err
	}
	var otherHashes []string
	for _, line := range sigs {
		name, b64, ok := parseSigLine(line)
		if !ok || name != v.name {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) < 4 {
			return Cosignature{}, fmt.Errorf("%w: witness %s: malformed signature line %q", ErrCosignature, v.name, line)
		}
		if h := binary.BigEndian.Uint32(raw); h != v.hash {
			otherHashes = append(otherHashes, fmt.Sprintf("%08x", h))
			continue
		}
		if !v.Verify(body, raw[4:]) {
			return Cosignature{}, fmt.Errorf("%w: witness %s (key hash %08x): the checkpoint or the signature was altered",
				ErrBadCosignature, v.name, v.hash)
		}
		ts := binary.BigEndian.Uint64(raw[4:])
		return Cosignature{Witness: v.name, Time: time.Unix(int64(ts), 0).UTC(), Line: line}, nil
	}
	if len(otherHashes) > 0 {
		return Cosignature{}, fmt.Errorf("%w: witness %s: cosigned with key hash %s, not the expected key (key hash %08x): a wrong key",
			ErrCosignature, v.name, strings.Join(otherHashes, ", "), v.hash)
	}
	return Cosignature{}, fmt.Errorf("%w: witness %s (key hash %08x): the checkpoint carries no cosignature of this witness", ErrCosignature, v.name, v.hash)
}

// splitNote cuts a signed note into its text (ending in a newline) and its signature lines.
func splitNote(signed []byte) ([]byte, []string, error) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 || len(signed) == 0 || signed[len(signed)-1] != '\n' {
		return nil, nil, errors.New("checkpoint: not a signed note (text, a blank line, signature lines)")
	}
	sigs := strings.Split(strings.TrimSuffix(string(signed[i+2:]), "\n"), "\n")
	return signed[:i+1], sigs, nil
}

// parseSigLine parses "— <name> <base64>".
func parseSigLine(line string) (name, b64 string, ok bool) {
	rest, ok := strings.CutPrefix(line, "— ")
	if !ok {
		return "", "", false
	}
	name, b64, ok = strings.Cut(rest, " ")
	return name, b64, ok && name != "" && b64 != ""
}

// AddSignatureLines returns the signed note with the signature lines added after its own (each
// "— <name> <base64>", no newline), skipping lines it already has. A note with lines added keeps
// verifying with the keys it verified with before: note readers ignore signatures of unknown keys.
func AddSignatureLines(signed []byte, lines []string) []byte {
	out := bytes.Clone(signed)
	for _, l := range lines {
		if !bytes.Contains(signed, []byte("\n"+l+"\n")) {
			out = append(append(out, l...), '\n')
		}
	}
	return out
}
