package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/freezeledger/freezeledger/domain"
)

// partner is a partner as GET /v1/partners and GET /v1/partners/{id} show it.
type partner struct {
	PartnerID       string  `json:"partner_id"`
	Name            string  `json:"name"`
	Type            string  `json:"type"`
	ParentID        string  `json:"parent_id"`
	Frozen          bool    `json:"frozen"`
	FrozenReason    *string `json:"frozen_reason"`
	FrozenBy        *string `json:"frozen_by"`
	FrozenAt        *string `json:"frozen_at"`
	EffectiveFrozen bool    `json:"effective_frozen"`
	Delegation      *struct {
		Freeze bool `json:"freeze"`
		Budget bool `json:"budget"`
	} `json:"delegation"`
	Position string `json:"position"`
}

// quota is a reseller's budget quota (GET /v1/partners/{id}/quota).
type quota struct {
	Currency         string `json:"currency"`
	MonthlyQuota     string `json:"monthly_quota"`
	OneTimeQuota     string `json:"one_time_quota"`
	MonthlyAllocated string `json:"monthly_allocated"`
	OneTimeAllocated string `json:"one_time_allocated"`
}

// partnerRow is a partner with its quota (resellers) and whether the principal may change it.
type partnerRow struct {
	partner
	Quota *quota
	// Manages: the principal is the reseller's distributor (delegation, quota, freeze) or the
	// platform (freeze); the API decides, this only decides which forms are shown.
	Manages bool
}

type partnersData struct {
	Rows    []partnerRow
	Next    string
	Problem string
}

type partnerData struct {
	Partner partnerRow
	Return  string
	Key     string // the Idempotency-Key of this page's forms
	Verify  bool   // the principal's partner requires verification codes (rule 19): its forms ask for one
}

// manages reports whether the principal gets the forms of p: a distributor for its resellers, the
// platform for every partner (it may freeze and unfreeze any).
func manages(s session, p partner) bool {
	switch s.principal.Role {
	case domain.RolePlatform:
		return true
	case domain.RolePartner:
		return p.Type == string(domain.PartnerReseller) && p.ParentID == s.principal.PartnerID
	}
	return false
}

// GET /console/partners: the partners the principal sees (a distributor: itself and its resellers)
// with freeze state, delegation switches and quotas.
func (c *Console) partnersPage(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	f := c.features(ctx)
	if !f.PartnerSearch {
		c.renderError(w, r, &s, http.StatusNotFound, "This server does not list partners yet.")
		return
	}
	q := url.Values{"limit": {"100"}}
	if cur := r.URL.Query().Get("cursor"); cur != "" {
		q.Set("cursor", cur)
	}
	var a struct {
		Partners   []partner `json:"partners"`
		NextCursor *string   `json:"next_cursor"`
	}
	d := partnersData{}
	err := c.api.do(ctx, s.token, request{method: "GET", path: "/v1/partners", query: q}, &a)
	if unauthenticated(err) {
		c.ended(w, r, s)
		return
	}
	if err != nil {
		d.Problem = err.Error()
	}
	for _, p := range a.Partners {
		d.Rows = append(d.Rows, c.partnerRow(ctx, s, p))
	}
	if n := deref(a.NextCursor); n != "" {
		d.Next = url.Values{"cursor": {n}}.Encode()
	}
	pd := pageData{Title: "Partners", Nav: "partners", Flash: c.sessions.takeFlash(s.id), Features: f, Data: d}
	pd.signedIn(s)
	c.render(w, r, http.StatusOK, "partners", pd)
}

// partnerRow adds a reseller's quota (as the API shows it to the principal) to p.
func (c *Console) partnerRow(ctx context.Context, s session, p partner) partnerRow {
	row := partnerRow{partner: p, Manages: manages(s, p)}
	if p.Type == string(domain.PartnerReseller) {
		var q quota
		if err := c.api.do(ctx, s.token, request{method: "GET", path: "/v1/partners/" + url.PathEscape(p.PartnerID) + "/quota"}, &q); err == nil {
			row.Quota = &q
		}
	}
	return row
}

// GET /console/partners/{id}: one partner, with the forms the principal may use on it.
func (c *Console) partnerPage(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	id := r.PathValue("id")
	f := c.features(ctx)
	if !domain.ValidID(id) {
		c.renderError(w, r, &s, http.StatusNotFound, "There is no such partner.")
		return
	}
	var p partner
	if err := c.api.do(ctx, s.token, request{method: "GET", path: "/v1/partners/" + id}, &p); err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := partnerData{Partner: c.partnerRow(ctx, s, p), Return: r.URL.RequestURI(), Key: randomToken(), Verify: c.verificationRequired(ctx, s, f)}
	pd := pageData{Title: "Partner " + p.PartnerID, Nav: "partners", Flash: c.sessions.takeFlash(s.id), Features: f, Data: d}
	pd.signedIn(s)
	c.render(w, r, http.StatusOK, "partner", pd)
}

// POST /console/partners/{id}/act/{action}: freeze, unfreeze (with a reason), delegation (the two
// switches) or quota (monthly and one-time) through the API, then back with the API's result or
// its problem's detail.
func (c *Console) partnerAct(w http.ResponseWriter, r *http.Request, s session) {
	id, act := r.PathValue("id"), r.PathValue("action")
	if !domain.ValidID(id) {
		c.renderError(w, r, &s, http.StatusNotFound, "There is no such partner.")
		return
	}
	base := "/v1/partners/" + id
	rq := request{header: writeHeaders(r)}
	var done string
	switch act {
	case "freeze", "unfreeze":
		rq.method, rq.path, rq.body = "POST", base+"/"+act, map[string]any{"reason": r.PostFormValue("reason")}
		done = fmt.Sprintf("Partner %s %s.", id, map[string]string{"freeze": "frozen", "unfreeze": "unfrozen"}[act])
	case "delegation":
		fr, bu := r.PostFormValue("freeze") == "true", r.PostFormValue("budget") == "true"
		rq.method, rq.path, rq.body = "PUT", base+"/delegation", map[string]any{"freeze": fr, "budget": bu}
		done = fmt.Sprintf("Delegation of %s set: freeze %s, budget %s.", id, onOff(fr), onOff(bu))
	case "quota":
		m, o := strings.TrimSpace(r.PostFormValue("monthly_quota")), strings.TrimSpace(r.PostFormValue("one_time_quota"))
		rq.method, rq.path, rq.body = "PUT", base+"/quota", map[string]any{"monthly_quota": m, "one_time_quota": o}
		done = fmt.Sprintf("Quota of %s set: monthly %s, one-time %s.", id, m, o)
	default:
		c.renderError(w, r, &s, http.StatusNotFound, "There is no such action.")
		return
	}
	var res struct {
		Position string `json:"position"`
	}
	err := c.api.do(r.Context(), s.token, rq, &res)
	if unauthenticated(err) {
		c.ended(w, r, s)
		return
	}
	fl := &flash{OK: err == nil, Text: done + " Position " + res.Position + "."}
	if err != nil {
		if _, isAPI := err.(*apiError); !isAPI {
			c.fail(w, r, s, err)
			return
		}
		fl.Text = fmt.Sprintf("%s of partner %s refused: %s", act, id, err.Error())
	}
	c.sessions.setFlash(s.id, fl)
	http.Redirect(w, r, safeReturn(r.PostFormValue("return"), "/console/partners/"+url.PathEscape(id)), http.StatusSeeOther)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
