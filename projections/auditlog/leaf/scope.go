package leaf

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// A scoped bundle holds the events of a few streams (a partner's channel stream) instead of a
// contiguous run of leaves. Its completeness rests on two facts the verifier checks: a stream's
// revisions are contiguous from 0, and the log signs, for the checkpoint's tree size, each stream's
// head (StreamHeads). docs/AUDIT.md, "Scoped bundles", is the full argument.

// Scoped bundle files, besides BundleEvents, BundleCheckpoint and BundlePublicKey.
const (
	BundleScope = "scope.json" // ScopeProof
	BundleHeads = "heads"      // the signed StreamHeads at the checkpoint's tree size
	BundleGaps  = "gaps.bin"   // the gap proof: the compact ranges between the bundle's leaves
)

// ScopeProof (a scoped bundle's scope.json) says what the bundle claims: every event of the heads'
// streams with a leaf index in [First, End) of the tree of size TreeSize, plus, per stream, at most
// one boundary line before First and one at or after End. Scope is the partner ID the bundle was
// asked for (informative: the streams are what is proved).
type ScopeProof struct {
	Scope    string `json:"scope"`
	TreeSize uint64 `json:"tree_size"`
	First    uint64 `json:"first"`
	End      uint64 `json:"end"`
}

// HeadsHeader is the first line of a StreamHeads statement: it can never be read as a checkpoint of
// a freezeledger log (whose first line is its origin, the key's name).
const HeadsHeader = "freezeledger stream heads v1"

// StreamHead is one stream's last event in the tree of the statement's size: its revision and leaf
// index. Empty is a stream with no event in that tree.
type StreamHead struct {
	Stream   string
	Revision uint64
	Index    uint64
	Empty    bool
}

// StreamHeads is the log's signed statement of its streams' heads at a tree size, signed as a note
// with the checkpoint key:
//
//	freezeledger stream heads v1\n
//	<origin>\n
//	<tree size>\n
//	<root hash, base64>\n
//	<stream> <revision> <leaf index>\n   (or "<stream> none\n"), one line per stream, sorted by name
//
// It binds the heads to the same tree as the checkpoint (origin, size and root). A log that signs a
// false head (a revision that is not the stream's last below the tree size) has signed, with its own
// key, a statement that the later event's inclusion proof refutes.
type StreamHeads struct {
	Origin string
	Size   uint64
	Hash   []byte
	Heads  []StreamHead
}

// Marshal returns the statement's text. Stream names must be non-empty and hold no space or
// control character; they must be sorted and distinct.
func (h StreamHeads) Marshal() ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%s\n%d\n%s\n", HeadsHeader, h.Origin, h.Size, base64.StdEncoding.EncodeToString(h.Hash))
	for i, s := range h.Heads {
		if !validStreamName(s.Stream) {
			return nil, fmt.Errorf("stream heads: stream name %q cannot be written", s.Stream)
		}
		if i > 0 && h.Heads[i-1].Stream >= s.Stream {
			return nil, errors.New("stream heads: streams must be sorted and distinct")
		}
		if s.Empty {
			fmt.Fprintf(&b, "%s none\n", s.Stream)
		} else {
			fmt.Fprintf(&b, "%s %d %d\n", s.Stream, s.Revision, s.Index)
		}
	}
	return []byte(b.String()), nil
}

func validStreamName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// ParseStreamHeads parses a statement's text (see StreamHeads).
func ParseStreamHeads(text []byte) (StreamHeads, error) {
	var h StreamHeads
	lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	if len(lines) < 4 || lines[0] != HeadsHeader {
		return h, fmt.Errorf("stream heads: want the header %q, origin, tree size and root hash", HeadsHeader)
	}
	h.Origin = lines[1]
	cp, err := ParseCheckpoint([]byte(strings.Join(lines[1:4], "\n") + "\n"))
	if err != nil {
		return h, fmt.Errorf("stream heads: %w", err)
	}
	h.Size, h.Hash = cp.Size, cp.Hash
	for _, l := range lines[4:] {
		f := strings.Split(l, " ")
		var s StreamHead
		switch {
		case len(f) == 2 && f[1] == "none":
			s = StreamHead{Stream: f[0], Empty: true}
		case len(f) == 3:
			rev, err1 := strconv.ParseUint(f[1], 10, 64)
			idx, err2 := strconv.ParseUint(f[2], 10, 64)
			if err1 != nil || err2 != nil {
				return h, fmt.Errorf("stream heads: line %q: revision and leaf index must be decimal numbers", l)
			}
			s = StreamHead{Stream: f[0], Revision: rev, Index: idx}
		default:
			return h, fmt.Errorf("stream heads: line %q: want \"<stream> <revision> <leaf index>\" or \"<stream> none\"", l)
		}
		if !validStreamName(s.Stream) || (len(h.Heads) > 0 && h.Heads[len(h.Heads)-1].Stream >= s.Stream) {
			return h, fmt.Errorf("stream heads: line %q: streams must be named, sorted and distinct", l)
		}
		if !s.Empty && s.Index >= h.Size {
			return h, fmt.Errorf("stream heads: stream %s: leaf index %d is not below the tree size %d", s.Stream, s.Index, h.Size)
		}
		h.Heads = append(h.Heads, s)
	}
	return h, nil
}

// SignStreamHeads signs a statement as a note with signer (the log's checkpoint signer).
func SignStreamHeads(h StreamHeads, signer note.Signer) ([]byte, error) {
	text, err := h.Marshal()
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: string(text)}, signer)
}

// OpenStreamHeads verifies a signed statement against the log's verifier key and parses it. Its
// origin must be the key's name; a note signed by another key is ErrBadSignature.
func OpenStreamHeads(signed []byte, verifierKey string) (StreamHeads, error) {
	v, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return StreamHeads{}, fmt.Errorf("verifier key: %w", err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return StreamHeads{}, fmt.Errorf("%w: stream heads: %v", ErrBadSignature, err)
	}
	h, err := ParseStreamHeads([]byte(n.Text))
	if err != nil {
		return h, err
	}
	if h.Origin != v.Name() {
		return h, fmt.Errorf("%w: stream heads origin %q differs from the key's name %q", ErrBadSignature, h.Origin, v.Name())
	}
	return h, nil
}
