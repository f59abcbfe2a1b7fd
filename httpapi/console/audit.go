package console

import (
	"net/http"
	"net/url"
)

type auditData struct {
	Checkpoint string
	CPProblem  string
	PublicKey  string
	Bundle     bool
	Scope      string // an auditor's own scope (its partner ID), "" for a global one
}

// GET /console/audit: the current signed checkpoint, the verifier key, export (and bundle) downloads
// and how to verify offline.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	f := c.features(ctx)
	d := auditData{Bundle: f.Bundle, Scope: s.principal.PartnerID}
	cp, err := c.api.raw(ctx, s.token, request{method: "GET", path: "/v1/audit/checkpoint"})
	if unauthenticated(err) {
		c.ended(w, r, s)
		return
	}
	if err != nil {
		d.CPProblem = err.Error()
	}
	d.Checkpoint = string(cp)
	if k, err := c.api.raw(ctx, "", request{method: "GET", path: "/v1/audit/public-key"}); err == nil {
		d.PublicKey = string(k)
	}
	pd := pageData{Title: "Audit", Nav: "audit", Flash: c.sessions.takeFlash(s.id), Features: f, Data: d}
	pd.signedIn(s)
	c.render(w, r, http.StatusOK, "audit", pd)
}

// GET /console/audit/export?format=&from=&to=: the API's export, streamed as a download.
func (c *Console) auditExport(w http.ResponseWriter, r *http.Request, s session) {
	c.download(w, r, s, "/v1/audit/export", "format", "from", "to")
}

// GET /console/audit/bundle?from=&to=&scope=: the API's verifiable bundle (when it serves one).
func (c *Console) auditBundle(w http.ResponseWriter, r *http.Request, s session) {
	if !c.features(r.Context()).Bundle {
		c.renderError(w, r, &s, http.StatusNotFound, "This server does not offer bundles yet.")
		return
	}
	c.download(w, r, s, "/v1/audit/bundle", "from", "to", "scope")
}

func (c *Console) download(w http.ResponseWriter, r *http.Request, s session, path string, params ...string) {
	q := url.Values{}
	for _, p := range params {
		if v := r.URL.Query().Get(p); v != "" {
			q.Set(p, v)
		}
	}
	if err := c.api.stream(r.Context(), s.token, request{method: "GET", path: path, query: q}, w); err != nil {
		c.fail(w, r, s, err)
	}
}
