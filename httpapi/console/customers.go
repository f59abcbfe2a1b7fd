package console

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/freezeledger/freezeledger/domain"
)

const pageSize = 100 // customers per page, as the seed's table

// filterField is one control of the search form: a query parameter of GET /v1/customers.
type filterField struct {
	Param   string
	Label   string
	Kind    string // text, select, date, number
	Options []option
	Value   string
}

type option struct{ Value, Label string }

var (
	yesNo       = []option{{"", "Any"}, {"true", "Yes"}, {"false", "No"}}
	freezeTypes = []option{{"", "Any"}, {"ACCOUNT", "Account"}, {"ACCOUNT_AND_RESOURCE", "Account and resources"}}
)

// searchFilters are the seed's search filters, phase 1 first; a field is shown only when the API
// declares its parameter (features.SearchParams), so the phase-2 ones appear when they are built.
var searchFilters = []filterField{
	{Param: "customer_id", Label: "Customer ID", Kind: "text"},
	{Param: "name", Label: "Customer name", Kind: "text"},
	{Param: "account_name", Label: "Account name", Kind: "text"},
	{Param: "mobile", Label: "Mobile", Kind: "text"},
	{Param: "partner_id", Label: "Partner ID", Kind: "text"},
	{Param: "distributor_id", Label: "Distributor ID", Kind: "text"},
	{Param: "managed_by", Label: "Managed by", Kind: "text"},
	{Param: "account_manager", Label: "Account manager", Kind: "text"},
	{Param: "tag", Label: "Tag", Kind: "text"},
	{Param: "frozen", Label: "Frozen", Kind: "select", Options: yesNo},
	{Param: "freeze_type", Label: "Freeze type", Kind: "select", Options: freezeTypes},
	{Param: "origin", Label: "Freeze origin", Kind: "select", Options: []option{{"", "Any"}, {"association", "Association"},
		{"manual", "Manual"}, {"budget", "Budget"}, {"partner", "Partner (cascade)"}}},
	{Param: "auto_frozen", Label: "Automatically frozen", Kind: "select", Options: yesNo},
	{Param: "associated_after", Label: "Associated after", Kind: "date"},
	{Param: "associated_before", Label: "Associated before", Kind: "date"},
	{Param: "budget_type", Label: "Budget type", Kind: "select", Options: []option{{"", "Any"}, {"monthly", "Monthly"}, {"one_time", "One-time"}}},
	{Param: "budget_usage_min", Label: "Budget usage from (%)", Kind: "number"},
	{Param: "budget_usage_max", Label: "Budget usage to (%)", Kind: "number"},
	{Param: "mtd_spend_min", Label: "Month-to-date spend from", Kind: "number"},
	{Param: "mtd_spend_max", Label: "Month-to-date spend to", Kind: "number"},
	{Param: "resource_expires_after", Label: "Resource expires after", Kind: "date"},
	{Param: "resource_expires_before", Label: "Resource expires before", Kind: "date"},
}

// tabs of Customer Management (the seed's two).
const (
	tabCustomers = "customers"
	tabResellers = "resellers"
)

type customersData struct {
	Tab      string
	Filters  []filterField
	Rows     []customerRow
	Next     string // query string of the next page, "" on the last
	Note     string // a limit of what is shown (an API that cannot filter the tab)
	Return   string // this page's URL, where an action comes back to
	Problem  string // the API's refusal of the search (a reader may not search)
	Verify   bool   // a verification code is required for actions
	Budget   bool   // "Set budget" is offered
	Searched bool
}

// customerRow is a customer with the actions the signed-in principal is offered on it.
type customerRow struct {
	customer
	Actions []rowAction
	// ManagedElsewhere names the manager when the principal is not it (no actions offered).
	ManagedElsewhere string
}

type rowAction struct {
	Name, Label, URL, UnfreezeType string
}

// actionsFor offers the actions that apply to c's state to its manager. The API decides: an action
// it refuses (the actor's partner frozen, a race) ends with its problem's detail.
func actionsFor(c customer, p *session, ret string, f features) ([]rowAction, string) {
	if p.principal.Role != domain.RolePartner {
		return nil, ""
	}
	if c.ManagedBy != p.principal.PartnerID {
		return nil, c.ManagedBy
	}
	base := "/console/customers/" + url.PathEscape(c.CustomerID) + "/act/"
	q := "?" + url.Values{"return": {ret}}.Encode()
	var out []rowAction
	add := func(a action) {
		ra := rowAction{Name: a.name, Label: a.label, URL: base + a.name + q}
		if a.name == actUnfreeze.name {
			ra.UnfreezeType = c.OwnFreezeType()
		}
		out = append(out, ra)
	}
	switch c.OwnFreezeType() {
	case "":
		add(actFreeze)
		add(actFreezeResources)
	case string(domain.FreezeAccount):
		add(actUnfreeze)
		add(actFreezeResources)
	default:
		add(actUnfreeze)
	}
	if f.Budget {
		add(actBudget)
	}
	return out, ""
}

// GET /console/customers: Customer Management, the two tabs, the search form and the table.
func (c *Console) customersPage(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	f := c.features(ctx)
	in := r.URL.Query()
	if id := strings.TrimSpace(in.Get("id")); id != "" && domain.ValidID(id) {
		http.Redirect(w, r, customerURL(id), http.StatusSeeOther) // the look-up form of a principal that may not search
		return
	}
	tab := in.Get("tab")
	if tab != tabResellers {
		tab = tabCustomers
	}
	d := customersData{Tab: tab, Return: r.URL.RequestURI(), Budget: f.Budget}
	api := url.Values{}
	for _, ff := range searchFilters {
		if !f.SearchParams[ff.Param] {
			continue
		}
		ff.Value = in.Get(ff.Param)
		d.Filters = append(d.Filters, ff)
		if v := strings.TrimSpace(ff.Value); v != "" {
			d.Searched = true
			if ff.Kind == "date" && len(v) == len("2006-01-02") {
				v += "T00:00:00Z"
			}
			api.Set(ff.Param, v)
		}
	}
	rows, next, note, err := c.search(ctx, s, tab, api, in.Get("cursor"), f)
	if unauthenticated(err) {
		c.ended(w, r, s)
		return
	}
	if ae, ok := err.(*apiError); ok {
		d.Problem = ae.Error()
	} else if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Note = note
	if next != "" {
		nq := url.Values{}
		for k, v := range in {
			nq[k] = v
		}
		nq.Set("cursor", next)
		d.Next = nq.Encode()
	}
	for _, cu := range rows {
		row := customerRow{customer: cu}
		row.Actions, row.ManagedElsewhere = actionsFor(cu, &s, d.Return, f)
		d.Rows = append(d.Rows, row)
	}
	d.Verify = c.verificationRequired(ctx, s, f)
	pd := pageData{Title: "Customer Management", Nav: "customers", Flash: c.sessions.takeFlash(s.id), Features: f, Data: d}
	if f.Changes && len(rows) > 0 {
		// Every change of a row after it was read is after the newest row's position (a status's
		// position is that of the last event that changed it).
		last := ""
		for _, cu := range rows {
			last = laterPosition(last, cu.Position)
		}
		pd.Live = liveURL(last)
	}
	pd.signedIn(s)
	c.render(w, r, http.StatusOK, "customers", pd)
}

// search reads one page of a tab: one API search with association_type (direct for "Customers",
// reseller for "Resellers' Customers"). An API that does not declare the parameter (an OpenAPI
// document the console could not read) gets the search without it, and the note says the tab is
// not filtered.
func (c *Console) search(ctx context.Context, s session, tab string, q url.Values, cursor string, f features) ([]customer, string, string, error) {
	q.Set("limit", strconv.Itoa(pageSize))
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	note := ""
	if f.SearchParams["association_type"] {
		q.Set("association_type", map[string]string{tabCustomers: "direct", tabResellers: "reseller"}[tab])
	} else {
		note = "The API does not filter by association type: this tab shows every customer you may see."
	}
	var a searchAnswer
	err := c.api.do(ctx, s.token, request{method: "GET", path: "/v1/customers", query: q}, &a)
	return a.Customers, deref(a.NextCursor), note, err
}

// verificationRequired reports whether the principal's partner requires verification codes for
// critical operations (rule 19; only once the API serves it).
func (c *Console) verificationRequired(ctx context.Context, s session, f features) bool {
	if !f.Verification || s.principal.Role != domain.RolePartner {
		return false
	}
	var p partnerAnswer
	if err := c.api.do(ctx, s.token, request{method: "GET", path: "/v1/partners/" + url.PathEscape(s.principal.PartnerID)}, &p); err != nil {
		return false
	}
	return p.VerificationRequired
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// GET /console/customers/{id}/row?return=: the customer's row of the table alone, as it is now (the
// live page replaces a row with it when the change feed reports a change of the customer).
func (c *Console) customerRow(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	if !domain.ValidID(id) {
		c.renderError(w, r, &s, http.StatusNotFound, "There is no such customer.")
		return
	}
	var cu customer
	if err := c.api.do(r.Context(), s.token, request{method: "GET", path: "/v1/customers/" + id + "/status"}, &cu); err != nil {
		c.fail(w, r, s, err)
		return
	}
	row := customerRow{customer: cu}
	row.Actions, row.ManagedElsewhere = actionsFor(cu, &s, safeReturn(r.URL.Query().Get("return"), "/console/customers"), c.features(r.Context()))
	p := s.principal
	var b bytes.Buffer
	if err := c.pages.fragment(&b, "customers", "row-fragment", newRowView(row, &p)); err != nil {
		c.log.Error("console: rendering a row", "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

// laterPosition is the later of two log positions (decimal strings; "" is before every position).
func laterPosition(a, b string) string {
	if len(b) > len(a) || (len(b) == len(a) && b > a) {
		return b
	}
	return a
}

// liveURL is the console's change feed after position.
func liveURL(position string) string {
	return "/console/live?" + url.Values{"after": {position}}.Encode()
}
