package console

import (
	"net/http"
	"strings"
)

type loginData struct {
	CSRF    string
	Message string // why the previous session ended, or why a sign-in was refused
}

var endedMessages = map[string]string{
	"expired":    "Your session expired. Sign in again.",
	"removed":    "Your session ended: its token no longer identifies a principal (removed from the principals file).",
	"signed-out": "You are signed out.",
}

// GET /console/login: the sign-in form (a field "Token", a button "Sign in").
func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	c.renderLogin(w, r, http.StatusOK, endedMessages[r.URL.Query().Get("ended")])
}

func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	d := pageData{Title: "Sign in", Data: loginData{CSRF: c.newLoginCSRF(w, r)}}
	if msg != "" {
		d.Flash = &flash{Text: msg}
	}
	c.render(w, r, status, "login", d)
}

// POST /console/login: exchanges the token for a session. The token goes into the session (memory)
// and nowhere else; the browser gets only the session's random ID in an HttpOnly cookie.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || !loginCSRFOK(r) {
		c.renderLogin(w, r, http.StatusForbidden, "Refused: the sign-in form did not come from this console (CSRF check failed). Try again.")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	p, ok := c.identify(token)
	if token == "" || !ok {
		c.renderLogin(w, r, http.StatusUnauthorized, "That token does not identify a principal.")
		return
	}
	if old, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.end(old.Value) // no session fixation: a sign-in always starts a fresh session
	}
	s := c.sessions.create(token, p)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.id, Path: "/console/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.secure(r)})
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: "", Path: "/console/login", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.secure(r)})
	c.log.Info("console: signed in", "principal", p.Name)
	http.Redirect(w, r, "/console/customers", http.StatusSeeOther)
}

// POST /console/logout: ends the session ("Sign out").
func (c *Console) logout(w http.ResponseWriter, r *http.Request, s session) {
	c.sessions.end(s.id)
	c.clearSession(w, r)
	c.log.Info("console: signed out", "principal", s.principal.Name)
	c.toLogin(w, r, "signed-out")
}
