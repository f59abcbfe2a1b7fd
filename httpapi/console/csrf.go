package console

import (
	"net/http"
	"time"
)

// CSRF: every form of a signed-in page carries the session's CSRF token in the field csrf, and
// every POST is refused (403, nothing done) unless the field equals it. The sign-in form has no
// session yet: it carries a fresh random value both in the field and in a short-lived cookie
// (double submit), and a sign-in whose two values differ is refused. SameSite=Strict on both
// cookies already keeps other sites' forms from carrying them; the tokens hold without it.

const (
	csrfField       = "csrf"
	loginCSRFCookie = "freezeledger_console_login"
	loginCSRFMaxAge = 30 * time.Minute
)

// csrfOK reports whether the POST r carries want in its csrf field (the form must be parsed).
func csrfOK(r *http.Request, want string) bool {
	return sameToken(r.PostFormValue(csrfField), want)
}

// newLoginCSRF sets a fresh sign-in CSRF cookie and returns its value for the form.
func (c *Console) newLoginCSRF(w http.ResponseWriter, r *http.Request) string {
	v := randomToken()
	http.SetCookie(w, &http.Cookie{
		Name: loginCSRFCookie, Value: v, Path: "/console/login", MaxAge: int(loginCSRFMaxAge / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.secure(r),
	})
	return v
}

// loginCSRFOK reports whether the sign-in POST r carries the value of its sign-in CSRF cookie.
func loginCSRFOK(r *http.Request) bool {
	ck, err := r.Cookie(loginCSRFCookie)
	return err == nil && sameToken(r.PostFormValue(csrfField), ck.Value)
}
