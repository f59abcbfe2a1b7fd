package console

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"strings"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// pageNames are the page templates; each is parsed together with layout.html.
var pageNames = []string{"login", "customers", "customer", "action", "batch", "audit", "error", "partners", "partner", "security"}

// pages are the parsed templates, one set per page.
type pages map[string]*template.Template

// pageData is what every page template gets: the layout's parts and the page's own Data.
type pageData struct {
	Title     string
	Nav       string // "customers", "partners", "audit" or "security": the current main-navigation entry
	Principal *httpapi.Principal
	CSRF      string
	Flash     *flash
	Features  features
	Data      any
	// Live is the URL of the page's change feed (/console/live?after=...), "" for a page that does
	// not update itself.
	Live string
}

// rowView is one row of the customer table and whether the principal gets its checkbox.
type rowView struct {
	Row    customerRow
	Writer bool
}

func newRowView(r customerRow, p *httpapi.Principal) rowView {
	return rowView{Row: r, Writer: p != nil && (p.Role == domain.RolePartner || p.Role == domain.RolePlatform)}
}

// signedIn fills in the session's parts of the layout.
func (d *pageData) signedIn(s session) {
	p := s.principal
	d.Principal, d.CSRF = &p, s.csrf
}

var templateFuncs = template.FuncMap{
	// str shows an optional string ("—" when null or empty).
	"str": func(p *string) string {
		if p == nil || *p == "" {
			return "—"
		}
		return *p
	},
	"orDash": func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	},
	"join": strings.Join,
	// when shortens an RFC 3339 time to the second, UTC ("2026-11-26 10:00:00Z").
	"when": when,
	"roleLabel": func(p *httpapi.Principal) string {
		if p == nil {
			return ""
		}
		if p.PartnerID != "" {
			return fmt.Sprintf("%s, %s", p.Role, p.PartnerID)
		}
		return string(p.Role)
	},
	"writer": func(p *httpapi.Principal) bool {
		return p != nil && (p.Role == domain.RolePartner || p.Role == domain.RolePlatform)
	},
	"rowView": newRowView,
	"enrols":  enrols,
	"auditor": func(p *httpapi.Principal) bool {
		return p != nil && (p.Role == domain.RoleAuditor || p.Role == domain.RolePlatform)
	},
}

func parsePages() (pages, error) {
	ps := pages{}
	for _, n := range pageNames {
		t, err := template.New(n).Funcs(templateFuncs).ParseFS(templateFiles, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("console: parsing the %s page: %w", n, err)
		}
		ps[n] = t
	}
	return ps, nil
}

// fragment executes the template tmpl of page name alone (no layout), for the live updates.
func (ps pages) fragment(w io.Writer, name, tmpl string, d any) error {
	t, ok := ps[name]
	if !ok {
		return fmt.Errorf("console: no page %q", name)
	}
	return t.ExecuteTemplate(w, tmpl, d)
}

func (ps pages) execute(w io.Writer, name string, d pageData) error {
	t, ok := ps[name]
	if !ok {
		return fmt.Errorf("console: no page %q", name)
	}
	return t.ExecuteTemplate(w, "layout", d)
}

// staticHandler serves the embedded script and stylesheet under /console/static/.
func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	files := http.StripPrefix("/console/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
