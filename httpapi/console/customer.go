package console

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

const maxHistoryPages = 20 // of 1000 events each: the customer page shows at most 20,000 events

type customerData struct {
	Customer    customer
	Actions     []rowAction
	ManagedBy   string // the manager, when the principal is not it
	AsOf        string // the as-of moment asked for ("" for now)
	AsOfInput   string // what was typed
	AsOfProblem string
	Operations  []operationRow
	OpsProblem  string
	Timeline    []interval
	TimelineAPI bool // the intervals come from the API's timeline route (with cascades)
	History     []historyRow
	HistProblem string
	Truncated   bool
	Return      string
	Verify      bool
	Budget      *budget
	Currency    string
	Resources   []resource // the first page of the customer's resources (when the API serves them)
	ResMore     bool       // there are more than the page shows
	ResProblem  string
}

// operationRow is one operation, allowed or not for each billing mode (with why not).
type operationRow struct {
	Operation           string
	YearlyMonthly       bool
	YearlyMonthlyReason string
	PayPerUse           bool
	PayPerUseReason     string
}

// normalizeAsOf accepts what the as-of control sends: an RFC 3339 time, position:N, or a
// datetime-local value ("2026-11-26T10:00", read as UTC).
func normalizeAsOf(v string) string {
	v = strings.TrimSpace(v)
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC().Format(time.RFC3339)
		}
	}
	return v
}

// GET /console/customers/{id}: status, operations, timeline, history; ?as_of= shows them as they
// stood at that moment.
func (c *Console) customerPage(w http.ResponseWriter, r *http.Request, s session) {
	ctx := r.Context()
	id := r.PathValue("id")
	if !domain.ValidID(id) {
		c.renderError(w, r, &s, http.StatusNotFound, "There is no such customer.")
		return
	}
	f := c.features(ctx)
	// live=1 is the page's own live refresh (static/console.js): it leaves the session's message
	// for the next page and is not where actions come back to.
	refresh := r.URL.Query().Get("live") == "1"
	ret := *r.URL
	rq := ret.Query()
	rq.Del("live")
	ret.RawQuery = rq.Encode()
	d := customerData{Return: ret.RequestURI(), AsOfInput: r.URL.Query().Get("as_of")}
	d.AsOf = normalizeAsOf(d.AsOfInput)
	base := "/v1/customers/" + id
	asOf := url.Values{}
	if d.AsOf != "" {
		asOf.Set("as_of", d.AsOf)
	}
	err := c.api.do(ctx, s.token, request{method: "GET", path: base + "/status", query: asOf}, &d.Customer)
	if ae, ok := err.(*apiError); ok && ae.Code == string(domain.CodeInvalid) && d.AsOf != "" {
		// A bad as-of: say so and show the present.
		d.AsOfProblem, d.AsOf, asOf = ae.Error(), "", url.Values{}
		err = c.api.do(ctx, s.token, request{method: "GET", path: base + "/status"}, &d.Customer)
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.AsOf == "" {
		d.Actions, d.ManagedBy = actionsFor(d.Customer, &s, d.Return, f)
	}
	d.Operations, d.OpsProblem = c.operations(ctx, s, base, asOf)
	evs, truncated, herr := c.history(ctx, s, base)
	if unauthenticated(herr) {
		c.ended(w, r, s)
		return
	}
	if herr != nil {
		d.HistProblem = herr.Error()
	}
	d.Truncated = truncated
	shown := eventsUpTo(evs, d.AsOf)
	d.History = historyRows(shown)
	if f.Timeline {
		var t timelineAnswer
		if err := c.api.do(ctx, s.token, request{method: "GET", path: base + "/timeline", query: asOf}, &t); err == nil {
			d.Timeline, d.TimelineAPI = t.intervals(), true
		}
	}
	if !d.TimelineAPI && herr == nil {
		d.Timeline = timelineFromHistory(shown)
	}
	d.Timeline = withDisplay(d.Timeline)
	if f.BudgetRead {
		var b struct {
			Currency string  `json:"currency"`
			Budget   *budget `json:"budget"`
		}
		if err := c.api.do(ctx, s.token, request{method: "GET", path: base + "/budget", query: asOf}, &b); err == nil {
			d.Budget, d.Currency = b.Budget, b.Currency
		}
	}
	if f.Resources {
		var ra resourcesAnswer
		q := url.Values{"limit": {"100"}}
		for k, v := range asOf {
			q[k] = v
		}
		if err := c.api.do(ctx, s.token, request{method: "GET", path: base + "/resources", query: q}, &ra); err != nil {
			d.ResProblem = err.Error()
		}
		d.Resources, d.ResMore = ra.Resources, deref(ra.NextCursor) != ""
	}
	d.Verify = c.verificationRequired(ctx, s, f)
	pd := pageData{Title: "Customer " + d.Customer.CustomerID, Nav: "customers", Features: f, Data: d}
	if !refresh {
		pd.Flash = c.sessions.takeFlash(s.id)
	}
	if f.Changes && d.AsOf == "" {
		pd.Live = liveURL(d.Customer.Position) // the status's position: that of the last change
	}
	pd.signedIn(s)
	c.render(w, r, http.StatusOK, "customer", pd)
}

// operations reads what the customer may still do, for both billing modes.
func (c *Console) operations(ctx context.Context, s session, base string, asOf url.Values) ([]operationRow, string) {
	var rows []operationRow
	for i, mode := range []string{"yearly_monthly", "pay_per_use"} {
		q := url.Values{"billing_mode": {mode}}
		for k, v := range asOf {
			q[k] = v
		}
		var a operationsAnswer
		if err := c.api.do(ctx, s.token, request{method: "GET", path: base + "/operations", query: q}, &a); err != nil {
			return nil, err.Error()
		}
		for j, op := range a.Operations {
			if i == 0 {
				rows = append(rows, operationRow{Operation: op.Operation, YearlyMonthly: op.Allowed, YearlyMonthlyReason: op.Reason})
			} else if j < len(rows) && rows[j].Operation == op.Operation {
				rows[j].PayPerUse, rows[j].PayPerUseReason = op.Allowed, op.Reason
			}
		}
	}
	return rows, ""
}

// history reads the customer's whole history (pages of 1000, at most maxHistoryPages).
func (c *Console) history(ctx context.Context, s session, base string) ([]event, bool, error) {
	var out []event
	q := url.Values{"limit": {"1000"}}
	for i := 0; i < maxHistoryPages; i++ {
		var h historyAnswer
		if err := c.api.do(ctx, s.token, request{method: "GET", path: base + "/history", query: q}, &h); err != nil {
			return nil, false, err
		}
		out = append(out, h.Events...)
		if h.NextCursor == nil || *h.NextCursor == "" {
			return out, false, nil
		}
		q.Set("cursor", *h.NextCursor)
	}
	return out, true, nil
}

// eventsUpTo keeps the events at or before the as-of moment (position:N or an RFC 3339 time).
func eventsUpTo(evs []event, asOf string) []event {
	if asOf == "" {
		return evs
	}
	if p, ok := strings.CutPrefix(asOf, "position:"); ok {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return evs
		}
		for i, e := range evs {
			if e.position() > n {
				return evs[:i]
			}
		}
		return evs
	}
	t, err := time.Parse(time.RFC3339Nano, asOf)
	if err != nil {
		return evs
	}
	for i, e := range evs {
		if et, err := time.Parse(time.RFC3339Nano, e.Time); err == nil && et.After(t) {
			return evs[:i]
		}
	}
	return evs
}
