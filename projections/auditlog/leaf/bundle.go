package leaf

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Bundle files: a bundle is a directory holding these.
const (
	BundleEvents     = "events.jsonl" // the export (JSON Lines, AppendLine's form), leaves [first, end)
	BundleCheckpoint = "checkpoint"   // a signed checkpoint covering it
	BundleProof      = "proof.json"   // RangeProof tying the export to the checkpoint's root
	BundlePublicKey  = "public-key"   // the log's verifier key, for reference only: get it independently
)

// RangeProof (a bundle's proof.json) ties the leaves [First, End) of an export to a checkpoint of
// size TreeSize: Left are the hashes of the perfect subtrees covering [0, First) and Right those
// covering [End, TreeSize), left to right, as compact ranges (github.com/transparency-dev/merkle/compact)
// define them. Merging Left, the export's leaf hashes and Right gives the root of the tree of size
// TreeSize. Hashes are base64 (standard, padded) in the JSON.
type RangeProof struct {
	TreeSize uint64   `json:"tree_size"`
	First    uint64   `json:"first"`
	End      uint64   `json:"end"`
	Left     [][]byte `json:"left"`
	Right    [][]byte `json:"right"`
}

// Bundle is a bundle directory opened by OpenBundle. The bundle's public-key file is not read: an
// auditor compares checkpoints with a key obtained independently.
type Bundle struct {
	Events     *os.File // events.jsonl, open for reading: close it
	Checkpoint []byte   // the signed checkpoint (not yet verified)
	Proof      RangeProof
	// A scoped bundle (one with scope.json) has no proof.json but these; Gaps is open for reading:
	// close it.
	Scope *ScopeProof
	Heads []byte // the signed StreamHeads (not yet verified)
	Gaps  *os.File
}

// Close closes the bundle's open files.
func (b Bundle) Close() error {
	var err error
	if b.Gaps != nil {
		err = b.Gaps.Close()
	}
	if b.Events != nil {
		if cerr := b.Events.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// OpenBundle reads a bundle directory's checkpoint and proof (or, for a scoped bundle, its scope,
// stream heads and gap proof) and opens its export. Errors name the file.
func OpenBundle(dir string) (Bundle, error) {
	var b Bundle
	signed, err := os.ReadFile(filepath.Join(dir, BundleCheckpoint))
	if err != nil {
		return b, fmt.Errorf("bundle: %w", err)
	}
	if sj, err := os.ReadFile(filepath.Join(dir, BundleScope)); err == nil {
		return openScoped(dir, signed, sj)
	} else if !errors.Is(err, os.ErrNotExist) {
		return b, fmt.Errorf("bundle: %w", err)
	}
	pj, err := os.ReadFile(filepath.Join(dir, BundleProof))
	if err != nil {
		return b, fmt.Errorf("bundle: %w", err)
	}
	var rp RangeProof
	if err := json.Unmarshal(pj, &rp); err != nil {
		return b, fmt.Errorf("bundle: %s: %w", BundleProof, err)
	}
	f, err := os.Open(filepath.Join(dir, BundleEvents))
	if err != nil {
		return b, fmt.Errorf("bundle: %w", err)
	}
	b.Events, b.Checkpoint, b.Proof = f, signed, rp
	return b, nil
}

func openScoped(dir string, signed, sj []byte) (Bundle, error) {
	b := Bundle{Checkpoint: signed, Scope: &ScopeProof{}}
	if err := json.Unmarshal(sj, b.Scope); err != nil {
		return b, fmt.Errorf("bundle: %s: %w", BundleScope, err)
	}
	var err error
	if b.Heads, err = os.ReadFile(filepath.Join(dir, BundleHeads)); err != nil {
		return b, fmt.Errorf("bundle: %w", err)
	}
	if b.Gaps, err = os.Open(filepath.Join(dir, BundleGaps)); err != nil {
		return b, fmt.Errorf("bundle: %w", err)
	}
	if b.Events, err = os.Open(filepath.Join(dir, BundleEvents)); err != nil {
		b.Gaps.Close()
		return b, fmt.Errorf("bundle: %w", err)
	}
	return b, nil
}
