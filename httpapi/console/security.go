package console

// The Security page (rule 19): the signed-in principal's own verification-code (TOTP) enrolment
// and, for a partner admin, its partner's verification switch, all through the API's routes
// POST /v1/principals/self/totp, POST /v1/principals/self/totp/confirm and
// PUT /v1/partners/{id}/verification.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi"
)

// enrolment is the API's answer to a new enrolment: the secret (base32) and its otpauth URI. It is
// shown once, in the answer to the form that started it, and kept nowhere in the console.
type enrolment struct {
	Secret string `json:"secret"`
	URI    string `json:"otpauth_uri"`
}

// securityData is the Security page.
type securityData struct {
	Enrols    bool       // the principal's role enrols in codes (platform, partner)
	Enrolment *enrolment // the enrolment just started, or nil
	// PartnerID is a partner admin's partner (whose switch the page offers), "" for anyone else;
	// Required is its switch as GET /v1/partners/{id} shows it, Problem why it could not be read.
	PartnerID string
	Required  bool
	Problem   string
}

// enrols reports whether p enrols in verification codes: the API takes enrolments of platform and
// partner principals only.
func enrols(p *httpapi.Principal) bool {
	return p != nil && (p.Role == domain.RolePlatform || p.Role == domain.RolePartner)
}

// switchesVerification reports whether p is a partner admin, the only principal that switches its
// partner's verification codes (the API decides; this decides whether the form is shown).
func switchesVerification(p httpapi.Principal) bool {
	return p.Role == domain.RolePartner && p.Admin && p.PartnerID != ""
}

// codeHeader is the X-Verification-Code header for the code entered in the form's field name, none
// when the field is empty.
func codeHeader(r *http.Request, name string) map[string]string {
	if v := strings.TrimSpace(r.PostFormValue(name)); v != "" {
		return map[string]string{httpapi.HeaderVerificationCode: v}
	}
	return nil
}

// GET /console/security: enrolment, its confirmation and (partner admins) the switch.
func (c *Console) securityPage(w http.ResponseWriter, r *http.Request, s session) {
	c.renderSecurity(w, r, s, nil, c.sessions.takeFlash(s.id))
}

// renderSecurity renders the Security page, with e (a new enrolment) when not nil.
func (c *Console) renderSecurity(w http.ResponseWriter, r *http.Request, s session, e *enrolment, fl *flash) {
	ctx := r.Context()
	f := c.features(ctx)
	if !f.Verification {
		c.renderError(w, r, &s, http.StatusNotFound, "This server does not offer verification codes yet.")
		return
	}
	p := s.principal
	d := securityData{Enrols: enrols(&p), Enrolment: e}
	if switchesVerification(p) {
		d.PartnerID = p.PartnerID
		var pa partnerAnswer
		err := c.api.do(ctx, s.token, request{method: "GET", path: "/v1/partners/" + url.PathEscape(p.PartnerID)}, &pa)
		if unauthenticated(err) {
			c.ended(w, r, s)
			return
		}
		if err != nil {
			d.Problem = err.Error()
		}
		d.Required = pa.VerificationRequired
	}
	pd := pageData{Title: "Security", Nav: "security", Flash: fl, Features: f, Data: d}
	pd.signedIn(s)
	c.render(w, r, http.StatusOK, "security", pd)
}

// POST /console/security/enrol: starts an enrolment (a replacement of an active one with a current
// code of it) and answers with the page showing the new secret and URI, once; a refusal goes back
// to the page with the API's detail.
func (c *Console) enrol(w http.ResponseWriter, r *http.Request, s session) {
	if !c.features(r.Context()).Verification {
		c.renderError(w, r, &s, http.StatusNotFound, "This server does not offer verification codes yet.")
		return
	}
	var e enrolment
	err := c.api.do(r.Context(), s.token, request{method: "POST", path: "/v1/principals/self/totp", header: codeHeader(r, "current_code")}, &e)
	if err != nil {
		c.securityRefused(w, r, s, "Enrolment refused: ", err)
		return
	}
	c.renderSecurity(w, r, s, &e, &flash{OK: true, Text: "Enrolment started: add the secret below to your authenticator now (it is not shown again), then confirm with its first code."})
}

// POST /console/security/confirm: confirms the pending enrolment with a first code.
func (c *Console) confirmEnrolment(w http.ResponseWriter, r *http.Request, s session) {
	code := strings.TrimSpace(r.PostFormValue("code"))
	err := c.api.do(r.Context(), s.token, request{method: "POST", path: "/v1/principals/self/totp/confirm", body: map[string]any{"code": code}}, nil)
	if err != nil {
		c.securityRefused(w, r, s, "Confirmation refused: ", err)
		return
	}
	c.sessions.setFlash(s.id, &flash{OK: true, Text: "Verification codes are active for " + s.principal.Name + "."})
	http.Redirect(w, r, "/console/security", http.StatusSeeOther)
}

// POST /console/security/verification: a partner admin switches its own partner's verification
// codes on or off (enabled=true or false), with a code either way.
func (c *Console) switchVerification(w http.ResponseWriter, r *http.Request, s session) {
	p := s.principal
	if !switchesVerification(p) {
		c.renderError(w, r, &s, http.StatusForbidden, "Only an admin of a partner switches its verification codes.")
		return
	}
	on := r.PostFormValue("enabled") == "true"
	var res struct {
		Position string `json:"position"`
	}
	rq := request{method: "PUT", path: "/v1/partners/" + url.PathEscape(p.PartnerID) + "/verification",
		body: map[string]any{"enabled": on}, header: codeHeader(r, "verification_code")}
	if err := c.api.do(r.Context(), s.token, rq, &res); err != nil {
		c.securityRefused(w, r, s, fmt.Sprintf("Switching verification %s for %s refused: ", onOff(on), p.PartnerID), err)
		return
	}
	c.sessions.setFlash(s.id, &flash{OK: true, Text: fmt.Sprintf("Verification codes switched %s for partner %s. Position %s.", onOff(on), p.PartnerID, res.Position)})
	http.Redirect(w, r, "/console/security", http.StatusSeeOther)
}

// securityRefused goes back to the Security page with the API's refusal (prefix, then its detail),
// or ends the session (401), or shows a failure that is not the API's.
func (c *Console) securityRefused(w http.ResponseWriter, r *http.Request, s session, prefix string, err error) {
	if _, isAPI := err.(*apiError); !isAPI || unauthenticated(err) {
		c.fail(w, r, s, err)
		return
	}
	c.sessions.setFlash(s.id, &flash{Text: prefix + err.Error()})
	http.Redirect(w, r, "/console/security", http.StatusSeeOther)
}
