package auditlog

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// BundleRequest is what a bundle over HTTP asks for (GET /v1/audit/bundle).
type BundleRequest struct {
	From, To string // range bounds: positions or RFC 3339 times, "" for open ends
	// Scope is the partner ID of a scoped bundle ("" for a range bundle of the whole log); Stream is
	// its channel stream. Show, if set, says which of the stream's events may be shown (the others
	// are redacted lines).
	Scope, Stream string
	Show          func(leaf.Event) bool
}

// WriteBundle writes the bundle of req to w as a tar archive. The bundle is written to a temporary
// directory first (so that a failure is still reported before anything is written), then sent and
// removed. Errors: invalid bounds (a domain invalid error), the tree's ErrSize, I/O errors.
func (s *EventSource) WriteBundle(ctx context.Context, w io.Writer, req BundleRequest) error {
	from, err := ParseBound(req.From)
	if err != nil {
		return domain.Errorf(domain.CodeInvalid, "from: %v", err)
	}
	to, err := ParseBound(req.To)
	if err != nil {
		return domain.Errorf(domain.CodeInvalid, "to: %v", err)
	}
	dir, err := os.MkdirTemp("", "freezeledger-bundle-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if req.Stream == "" {
		_, err = s.Tree.WriteBundle(ctx, dir, ExportRequest{From: from, To: to})
	} else {
		sr := ScopeRequest{Scope: req.Scope, Stream: req.Stream, From: from, To: to}
		if req.Show != nil {
			sr.Show = func(ev *leaf.Event) bool { return req.Show(*ev) }
		}
		_, err = s.Tree.WriteScopedBundle(ctx, dir, sr)
	}
	if err != nil {
		return err
	}
	if s.Witnesses != nil {
		if err := s.cosignBundle(ctx, dir); err != nil {
			return err
		}
	}
	return leaf.WriteBundleTar(w, dir, time.Now())
}

// bundleCosignWait bounds how long a bundle waits for the witnesses' cosignatures of its checkpoint.
const bundleCosignWait = 5 * time.Second

// cosignBundle adds to the bundle's checkpoint the cosignatures its witnesses give it
// (Witnesses.Cosign, waiting at most bundleCosignWait).
func (s *EventSource) cosignBundle(ctx context.Context, dir string) error {
	path := filepath.Join(dir, leaf.BundleCheckpoint)
	signed, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, bundleCosignWait)
	defer cancel()
	return os.WriteFile(path, s.Witnesses.Cosign(wctx, signed), 0o644)
}

// Tile serves the tlog-tiles routes from the tree: level -1 is an entry bundle, others hash tiles.
// A tile beyond the signed tree is a domain not_found error.
func (s *EventSource) Tile(ctx context.Context, level int, n int64, width int) ([]byte, error) {
	var data []byte
	var err error
	if level == -1 {
		data, err = s.Tree.EntryBundle(ctx, uint64(n), width)
	} else {
		data, err = s.Tree.HashTile(level, uint64(n), width)
	}
	if errors.Is(err, ErrSize) {
		return nil, domain.Errorf(domain.CodeNotFound, "%v", err)
	}
	return data, err
}
