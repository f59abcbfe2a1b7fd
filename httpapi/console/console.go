package console

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/httpapi"
)

// Defaults of Options.
const (
	DefaultIdleTimeout = 30 * time.Minute
	DefaultMaxLifetime = 12 * time.Hour
	sessionCookie      = "freezeledger_console"
	maxFormBytes       = 64 << 10
)

// Options configure a Console. API and Identify are required.
type Options struct {
	// API is the HTTP API's handler (*httpapi.Server): every page reads and writes through it.
	API http.Handler
	// Identify returns the principal a bearer token identifies now ((*httpapi.Server).Identify): it
	// is asked at sign-in and at every request of a session, so a principal removed from the
	// principals file loses its sessions at their next request.
	Identify func(token string) (httpapi.Principal, bool)
	Logger   hclog.Logger // nil: no logging
	// IdleTimeout ends a session unused for that long (default DefaultIdleTimeout); MaxLifetime ends
	// it that long after sign-in whatever its use (default DefaultMaxLifetime).
	IdleTimeout time.Duration
	MaxLifetime time.Duration
	// SecureCookies marks the cookies Secure also on plain HTTP requests (behind a TLS-terminating
	// proxy). Requests that came over TLS always get Secure cookies.
	SecureCookies bool
	// Now is the clock of session expiry (default time.Now).
	Now func() time.Time
}

// Console is the web console's handler, for the paths under /console/. It is safe for concurrent use.
type Console struct {
	api      apiClient
	identify func(string) (httpapi.Principal, bool)
	log      hclog.Logger
	sessions *sessionStore
	pages    pages
	mux      *http.ServeMux
	secureCk bool

	featOnce sync.Once
	feat     features
}

// New builds a Console.
func New(o Options) (*Console, error) {
	if o.API == nil || o.Identify == nil {
		return nil, errors.New("console.New: API and Identify are required")
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxLifetime <= 0 {
		o.MaxLifetime = DefaultMaxLifetime
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	ps, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{
		api: apiClient{h: o.API}, identify: o.Identify, log: o.Logger,
		sessions: newSessionStore(o.IdleTimeout, o.MaxLifetime, o.Now), pages: ps, secureCk: o.SecureCookies,
	}
	c.mux = c.routes()
	return c, nil
}

// Mount serves the console under /console/ and redirects GET / to it; every other path goes to api
// untouched (no path cleaning: the API's own router decides about odd paths).
func Mount(api http.Handler, c *Console) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			setSecurityHeaders(w.Header())
			http.Redirect(w, r, "/console/", http.StatusFound)
		case p == "/console" || strings.HasPrefix(p, "/console/"):
			c.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// ServeHTTP serves a console request.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.Handle("GET /console/static/", staticHandler())
	m.HandleFunc("GET /console/{$}", c.home)
	m.HandleFunc("GET /console/login", c.loginForm)
	m.HandleFunc("POST /console/login", c.login)
	m.HandleFunc("POST /console/logout", c.signedIn(c.logout))
	m.HandleFunc("GET /console/customers", c.signedIn(c.customersPage))
	m.HandleFunc("GET /console/customers/{id}", c.signedIn(c.customerPage))
	m.HandleFunc("GET /console/customers/{id}/act/{action}", c.signedIn(c.actionForm))
	m.HandleFunc("POST /console/customers/{id}/act/{action}", c.signedIn(c.act))
	m.HandleFunc("GET /console/batch", c.signedIn(c.batchForm))
	m.HandleFunc("POST /console/batch", c.signedIn(c.batch))
	m.HandleFunc("GET /console/customers/{id}/row", c.signedIn(c.customerRow))
	m.HandleFunc("GET /console/live", c.signedIn(c.live))
	m.HandleFunc("GET /console/partners", c.signedIn(c.partnersPage))
	m.HandleFunc("GET /console/partners/{id}", c.signedIn(c.partnerPage))
	m.HandleFunc("POST /console/partners/{id}/act/{action}", c.signedIn(c.partnerAct))
	m.HandleFunc("GET /console/security", c.signedIn(c.securityPage))
	m.HandleFunc("POST /console/security/enrol", c.signedIn(c.enrol))
	m.HandleFunc("POST /console/security/confirm", c.signedIn(c.confirmEnrolment))
	m.HandleFunc("POST /console/security/verification", c.signedIn(c.switchVerification))
	m.HandleFunc("GET /console/audit", c.signedIn(c.auditPage))
	m.HandleFunc("GET /console/audit/export", c.signedIn(c.auditExport))
	m.HandleFunc("GET /console/audit/bundle", c.signedIn(c.auditBundle))
	m.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, nil, http.StatusNotFound, "There is no such page in the console.")
	})
	return m
}

// features reads what the API offers, once (the API's routes do not change while it runs).
func (c *Console) features(ctx context.Context) features {
	c.featOnce.Do(func() {
		f := features{SearchParams: map[string]bool{}}
		doc, err := c.api.raw(context.WithoutCancel(ctx), "", request{method: "GET", path: "/openapi.json"})
		if err == nil {
			f, err = parseFeatures(doc)
		}
		if err != nil {
			c.log.Warn("console: cannot read the API's OpenAPI document; offering phase-1 features only", "error", err)
		}
		c.feat = f
	})
	return c.feat
}

func (c *Console) secure(r *http.Request) bool { return c.secureCk || r.TLS != nil }

// handlerFunc is a console handler for a signed-in session.
type handlerFunc func(w http.ResponseWriter, r *http.Request, s session)

// signedIn wraps h: it finds the session of the request's cookie (else sends the browser to sign
// in), checks that its token still identifies a principal (else ends it), and for a POST parses the
// form and checks its CSRF token (else 403, nothing done).
func (c *Console) signedIn(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(sessionCookie)
		if err != nil {
			c.toLogin(w, r, "")
			return
		}
		s, ok := c.sessions.get(ck.Value)
		if !ok {
			c.clearSession(w, r)
			c.toLogin(w, r, "expired")
			return
		}
		p, ok := c.identify(s.token)
		if !ok {
			c.sessions.end(s.id)
			c.clearSession(w, r)
			c.toLogin(w, r, "removed")
			return
		}
		if p != s.principal {
			c.sessions.setPrincipal(s.id, p)
			s.principal = p
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil || !csrfOK(r, s.csrf) {
				c.renderError(w, r, &s, http.StatusForbidden,
					"Refused: this form did not come from your console session (CSRF check failed). Nothing was changed. Reload the page and try again.")
				return
			}
		}
		h(w, r, s)
	}
}

// ended handles an API answer of 401 in the middle of a page: the session's principal is gone.
func (c *Console) ended(w http.ResponseWriter, r *http.Request, s session) {
	c.sessions.end(s.id)
	c.clearSession(w, r)
	c.toLogin(w, r, "removed")
}

func (c *Console) toLogin(w http.ResponseWriter, r *http.Request, why string) {
	u := "/console/login"
	if why != "" {
		u += "?" + url.Values{"ended": {why}}.Encode()
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

func (c *Console) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/console/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.secure(r)})
}

// home sends a signed-in browser to Customer Management and any other to sign in.
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if _, ok := c.sessions.get(ck.Value); ok {
			http.Redirect(w, r, "/console/customers", http.StatusSeeOther)
			return
		}
	}
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// render writes the page name with data, or an error page if the template fails.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	var b bytes.Buffer
	if err := c.pages.execute(&b, name, d); err != nil {
		c.log.Error("console: rendering a page", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// renderError shows a page with one message (role="status") and no other content.
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	d := pageData{Title: http.StatusText(status), Flash: &flash{Text: msg}}
	if s != nil {
		d.signedIn(*s)
	}
	c.render(w, r, status, "error", d)
}

// fail shows a failed API call: the end of the session for a 401, else the API's problem detail
// (or, for an error that is not the API's, a generic message and a log line).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s session, err error) {
	if unauthenticated(err) {
		c.ended(w, r, s)
		return
	}
	var ae *apiError
	if errors.As(err, &ae) {
		st := ae.Status
		if st < 400 {
			st = http.StatusBadGateway
		}
		c.renderError(w, r, &s, st, "Refused: "+ae.Error())
		return
	}
	if r.Context().Err() == nil {
		c.log.Error("console: a page failed", "path", r.URL.Path, "error", err)
	}
	c.renderError(w, r, &s, http.StatusInternalServerError, "Something went wrong on the server; see its log.")
}
