package main

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi"
	"github.com/freezeledger/freezeledger/projections/auditlog"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// WriteBundle serves GET /v1/audit/bundle: the bundle is written to a temporary directory (so that
// a failure is still a problem response), then sent as a tar archive and removed.
func (a *auditAdapter) WriteBundle(ctx context.Context, w io.Writer, req httpapi.BundleRequest) error {
	from, err := auditlog.ParseBound(req.From)
	if err != nil {
		return domain.Errorf(domain.CodeInvalid, "from: %v", err)
	}
	to, err := auditlog.ParseBound(req.To)
	if err != nil {
		return domain.Errorf(domain.CodeInvalid, "to: %v", err)
	}
	dir, err := os.MkdirTemp("", "freezeledger-bundle-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if req.Stream == "" {
		_, err = a.tree.WriteBundle(ctx, dir, auditlog.ExportRequest{From: from, To: to})
	} else {
		sr := auditlog.ScopeRequest{Scope: req.Scope, Stream: req.Stream, From: from, To: to}
		if req.Show != nil {
			sr.Show = func(ev *leaf.Event) bool { return req.Show(*ev) }
		}
		_, err = a.tree.WriteScopedBundle(ctx, dir, sr)
	}
	if err != nil {
		return sizeErr(err)
	}
	return leaf.WriteBundleTar(w, dir, time.Now())
}

// Tile serves the tlog-tiles routes from the tree.
func (a *auditAdapter) Tile(ctx context.Context, level int, n int64, width int) ([]byte, error) {
	var data []byte
	var err error
	if level == -1 {
		data, err = a.tree.EntryBundle(ctx, uint64(n), width)
	} else {
		data, err = a.tree.HashTile(level, uint64(n), width)
	}
	if errors.Is(err, auditlog.ErrSize) {
		return nil, domain.Errorf(domain.CodeNotFound, "%v", err)
	}
	return data, err
}
