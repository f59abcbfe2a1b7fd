package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const stubSecret = "JBSWY3DPEHPK3PXP"

func TestSecurityPageEnrolsShowsTheSecretOnceAndConfirms(t *testing.T) {
	f := newFixture(t, verificationDoc)
	csrf := f.signIn()
	page := f.do("GET", "/console/security", nil).Body.String()
	for _, want := range []string{`href="/console/security" aria-current="page">Security</a>`, `>Start enrolment</button>`, `<label for="confirm-code">First code</label>`} {
		if !strings.Contains(page, want) {
			t.Errorf("Security page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "Switch verification") {
		t.Error("a principal that is not a partner admin is offered the switch")
	}

	w := f.do("POST", "/console/security/enrol", url.Values{"csrf": {csrf}})
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("enrol: %d, Cache-Control %q", w.Code, w.Header().Get("Cache-Control"))
	}
	body := w.Body.String()
	if !strings.Contains(body, `<code class="secret" id="totp-secret">`+stubSecret+`</code>`) ||
		!strings.Contains(body, `id="totp-uri">otpauth://totp/freezeledger:ops?secret=`+stubSecret+`&amp;issuer=freezeledger</code>`) ||
		!strings.Contains(body, "Enrolment started") {
		t.Errorf("the enrolment's answer does not show the secret and URI:\n%s", body)
	}
	if again := f.do("GET", "/console/security", nil).Body.String(); strings.Contains(again, stubSecret) {
		t.Error("the secret is shown a second time")
	}

	// Replacing an active enrolment: the current code goes as X-Verification-Code.
	f.do("POST", "/console/security/enrol", url.Values{"csrf": {csrf}, "current_code": {" 654321 "}})
	w = f.do("POST", "/console/security/confirm", url.Values{"csrf": {csrf}, "code": {"123456"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/security" {
		t.Fatalf("confirm: %d %s", w.Code, w.Header().Get("Location"))
	}
	if page := f.do("GET", "/console/security", nil).Body.String(); !strings.Contains(page, "Verification codes are active for ops.") {
		t.Errorf("no message after the confirmation:\n%s", page)
	}
	f.do("POST", "/console/security/confirm", url.Values{"csrf": {csrf}, "code": {"000000"}})
	if page := f.do("GET", "/console/security", nil).Body.String(); !strings.Contains(page, `Confirmation refused: rule 19: stub refuses code`) {
		t.Errorf("a refused confirmation does not show the API's detail:\n%s", page)
	}
	s := f.api.sent()
	if len(s) != 4 || s[0].path != "/v1/principals/self/totp" || s[0].code != "" || s[0].body != nil ||
		s[1].path != "/v1/principals/self/totp" || s[1].code != "654321" ||
		s[2].path != "/v1/principals/self/totp/confirm" || s[2].body["code"] != "123456" || s[2].code != "" {
		t.Fatalf("the API got %+v", s)
	}
	if w := f.do("POST", "/console/security/enrol", url.Values{"csrf": {"forged"}}); w.Code != http.StatusForbidden || len(f.api.sent()) != 4 {
		t.Errorf("a forged enrolment form: %d", w.Code)
	}
}

func TestSecuritySwitchIsThePartnerAdminsOwnAndNeedsACode(t *testing.T) {
	f := newFixture(t, verificationDoc)
	csrf := f.signIn()
	// ops is no admin: the switch is refused before the API is asked.
	if w := f.do("POST", "/console/security/verification", url.Values{"csrf": {csrf}, "enabled": {"true"}, "verification_code": {"123456"}}); w.Code != http.StatusForbidden || len(f.api.sent()) != 0 {
		t.Fatalf("the switch by a principal that is no admin: %d, the API got %+v", w.Code, f.api.sent())
	}

	f.api.admin = true // the next request's identify makes ops an admin
	page := f.do("GET", "/console/security", nil).Body.String()
	if !strings.Contains(page, `<strong id="verification-state">off</strong>`) || !strings.Contains(page, `name="enabled" value="true"`) ||
		!strings.Contains(page, ">Switch verification on</button>") {
		t.Fatalf("the admin's Security page:\n%s", page)
	}
	f.do("POST", "/console/security/verification", url.Values{"csrf": {csrf}, "enabled": {"true"}, "verification_code": {"000000"}})
	if page := f.do("GET", "/console/security", nil).Body.String(); !strings.Contains(page, "Switching verification on for dist-1 refused: rule 19: stub refuses code") {
		t.Errorf("a refused switch does not show the API's detail:\n%s", page)
	}
	w := f.do("POST", "/console/security/verification", url.Values{"csrf": {csrf}, "enabled": {"true"}, "verification_code": {"123456"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/security" {
		t.Fatalf("switch on: %d %s", w.Code, w.Header().Get("Location"))
	}
	page = f.do("GET", "/console/security", nil).Body.String()
	if !strings.Contains(page, "Verification codes switched on for partner dist-1. Position 11.") ||
		!strings.Contains(page, `<strong id="verification-state">on</strong>`) || !strings.Contains(page, ">Switch verification off</button>") {
		t.Errorf("after switching on:\n%s", page)
	}
	f.do("POST", "/console/security/verification", url.Values{"csrf": {csrf}, "enabled": {"false"}, "verification_code": {"234567"}})
	s := f.api.sent()
	if len(s) != 3 || s[1].method != "PUT" || s[1].path != "/v1/partners/dist-1/verification" || s[1].body["enabled"] != true || s[1].code != "123456" ||
		s[2].body["enabled"] != false || s[2].code != "234567" {
		t.Fatalf("the API got %+v", s)
	}
}

func TestActionFormsAskForACodeWhileThePartnerRequiresOne(t *testing.T) {
	f := newFixture(t, verificationDoc)
	csrf := f.signIn()
	forms := []string{"/console/customers", "/console/customers/c1", "/console/customers/c1/act/freeze",
		"/console/batch?action=unfreeze&id=c1", "/console/partners/res-1"}
	for _, p := range forms {
		if page := f.do("GET", p, nil).Body.String(); strings.Contains(page, `name="verification_code"`) {
			t.Errorf("%s asks for a code while verification is off", p)
		}
	}
	f.api.verification = true
	for _, p := range forms {
		page := f.do("GET", p, nil).Body.String()
		want := 1
		if p == "/console/partners/res-1" {
			want = 3 // freeze, delegation, quota
		}
		if n := strings.Count(page, `name="verification_code"`); n != want || !strings.Contains(page, ">Verification code</label>") {
			t.Errorf("%s has %d code fields while verification is on, want %d:\n%s", p, n, want, page)
		}
	}

	// A code goes as X-Verification-Code; without one the API's refusal is the message.
	f.do("POST", "/console/customers/c1/act/freeze", url.Values{"csrf": {csrf}, "reason": {"r"}, "verification_code": {" 123456 "}})
	f.do("POST", "/console/customers/c1/act/unfreeze", url.Values{"csrf": {csrf}, "reason": {"r"}, "unfreeze_type": {"ACCOUNT"}})
	if page := f.do("GET", "/console/customers/c1", nil).Body.String(); !strings.Contains(page, `Unfreeze of c1 refused: rule 19: stub refuses code []`) {
		t.Errorf("an unfreeze without a code:\n%s", page)
	}
	f.do("POST", "/console/batch", url.Values{"csrf": {csrf}, "action": {"freeze"}, "id": {"c1"}, "reason": {"r"}, "verification_code": {"000000"}})
	if page := f.do("GET", "/console/customers", nil).Body.String(); !strings.Contains(page, `Freeze (batch) refused: rule 19: stub refuses code [000000]`) {
		t.Errorf("a batch with a wrong code:\n%s", page)
	}
	f.do("POST", "/console/partners/res-1/act/freeze", url.Values{"csrf": {csrf}, "reason": {"r"}})
	if page := f.do("GET", "/console/partners/res-1", nil).Body.String(); !strings.Contains(page, `freeze of partner res-1 refused: rule 19: stub refuses code`) {
		t.Errorf("a partner freeze without a code:\n%s", page)
	}
	s := f.api.sent()
	if len(s) != 4 || s[0].code != "123456" || s[1].code != "" || s[2].path != "/v1/customers/freeze" || s[2].code != "000000" || s[3].code != "" {
		t.Fatalf("the API got %+v", s)
	}
}

func TestNoSecurityPageWithoutTheAPIsVerificationRoutes(t *testing.T) {
	f := newFixture(t, phase1Doc)
	f.signIn()
	f.api.verification = true
	if page := f.do("GET", "/console/customers", nil).Body.String(); strings.Contains(page, "/console/security") || strings.Contains(page, `name="verification_code"`) {
		t.Error("Security or a code field without the API's verification routes")
	}
	if w := f.do("GET", "/console/security", nil); w.Code != http.StatusNotFound {
		t.Errorf("/console/security without the routes: %d", w.Code)
	}
}
