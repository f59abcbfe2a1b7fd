package httpapi

import (
	"context"
	"io"
	"net/http"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog"
)

// BundleRequest is what GET /v1/audit/bundle asks for.
type BundleRequest = auditlog.BundleRequest

// AuditBundles is implemented by an Audit that writes bundles (docs/AUDIT.md, "Bundles" and
// "Scoped bundles"). Without it GET /v1/audit/bundle answers 503.
type AuditBundles interface {
	// WriteBundle writes the bundle of req to w as a tar archive. It may return a domain error
	// (invalid bounds) before writing anything.
	WriteBundle(ctx context.Context, w io.Writer, req BundleRequest) error
}

// GET /v1/audit/bundle
//
// scope is a partner ID: an auditor scoped to a partner gets its own scope by default and may name
// a partner of its subtree; a global auditor or the platform gets the whole log (a range bundle)
// unless it names one. The bundle covers the partner's channel stream (that of its root partner);
// events of the stream outside the partner's subtree are redacted lines.
func (s *Server) auditBundle(w http.ResponseWriter, r *http.Request, p Principal) error {
	q, err := parseQuery(r, "from", "to", "scope", "min_position")
	if err != nil {
		return err
	}
	for _, k := range []string{"from", "to"} {
		if v := q[k]; v != "" {
			if _, perr := eventstore.ParsePosition(v); perr != nil {
				if _, terr := parseTime(k, v); terr != nil {
					return errorf(domain.CodeInvalid, "%s must be an RFC 3339 time or a log position", k)
				}
			}
		}
	}
	if err := s.needAudit(); err != nil {
		return err
	}
	bw, ok := s.audit.(AuditBundles)
	if !ok {
		return errorf(domain.CodeUnavailable, "bundles are not available on this server")
	}
	if err := s.waitMin(r.Context(), q); err != nil {
		return err
	}
	req := BundleRequest{From: q["from"], To: q["to"], Scope: q["scope"]}
	if req.Scope == "" {
		req.Scope = p.scope()
	}
	if req.Scope != "" {
		pt, err := s.visiblePartner(r.Context(), p, req.Scope)
		if err != nil {
			return err
		}
		root := pt
		for i := 0; i < 8 && root.ParentID != ""; i++ {
			if root, err = s.visiblePartner(r.Context(), Principal{Role: domain.RolePlatform}, root.ParentID); err != nil {
				return err
			}
		}
		req.Stream = domain.ChannelStream(root.PartnerID)
		if root.PartnerID != pt.PartnerID {
			req.Show = s.subtreeFilter(r.Context(), Principal{Name: p.Name, Role: domain.RoleAuditor, PartnerID: pt.PartnerID})
		}
	}
	lw := &lazyHeaderWriter{w: w, header: func() {
		h := w.Header()
		h.Set("Content-Type", "application/x-tar")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Disposition", `attachment; filename="freezeledger-bundle.tar"`)
	}}
	return bw.WriteBundle(r.Context(), lw, req)
}
