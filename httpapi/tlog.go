package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/freezeledger/freezeledger/domain"
)

// AuditTiles is implemented by an Audit that serves the log as C2SP tlog-tiles (docs/AUDIT.md,
// "The log as tiles"). Without it the tlog routes answer 503.
type AuditTiles interface {
	// Tile returns the hash tile of tile level level (0 to 7), or with level -1 the entry bundle, of
	// index n and width (1 to 256) in the tree of the latest signed checkpoint; a tile beyond it is a
	// not_found domain error.
	Tile(ctx context.Context, level int, n int64, width int) ([]byte, error)
}

// tilesFor checks that p may read the whole log's tiles (the platform or a global auditor: entry
// bundles hold every event) and that the server has them.
func (s *Server) tilesFor(p Principal) (AuditTiles, error) {
	if p.scope() != "" {
		return nil, errorf(domain.CodeForbidden, "the log's tiles hold every partner's events: only the platform and global auditors may read them")
	}
	if err := s.needAudit(); err != nil {
		return nil, err
	}
	t, ok := s.audit.(AuditTiles)
	if !ok {
		return nil, errorf(domain.CodeUnavailable, "tiles are not available on this server")
	}
	return t, nil
}

// GET /v1/audit/tlog/checkpoint: the latest signed checkpoint, the tiles' tree.
func (s *Server) tlogCheckpoint(w http.ResponseWriter, r *http.Request, p Principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	if _, err := s.tilesFor(p); err != nil {
		return err
	}
	cp, err := s.audit.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	writeCheckpoint(w, cp)
	return nil
}

// GET /v1/audit/tlog/tile/{path}: a hash tile (tile/<L>/<N>[.p/<W>]) or an entry bundle
// (tile/entries/<N>[.p/<W>]), immutable.
func (s *Server) tlogTile(w http.ResponseWriter, r *http.Request, p Principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	tiles, err := s.tilesFor(p)
	if err != nil {
		return err
	}
	rest := mux.Vars(r)["path"]
	var t tlog.Tile
	if e, ok := strings.CutPrefix(rest, "entries/"); ok {
		t, err = tlog.ParseTilePath("tile/8/data/" + e)
	} else {
		t, err = tlog.ParseTilePath("tile/8/" + rest)
	}
	if err != nil || t.H != 8 || (t.L == -1) != strings.HasPrefix(rest, "entries/") {
		return errorf(domain.CodeNotFound, "no tile %s: tiles are tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>] (C2SP tlog-tiles)", clip(rest))
	}
	data, err := tiles.Tile(r.Context(), t.L, t.N, t.W)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(data)
	return nil
}
