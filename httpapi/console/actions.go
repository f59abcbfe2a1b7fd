package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/freezeledger/freezeledger/domain"
)

// action is something an operator does to customers from the console; its label is the button text.
type action struct {
	name, label string
	freezeType  domain.FreezeType // for the freezes
}

var (
	actFreeze          = action{"freeze", "Freeze", domain.FreezeAccount}
	actFreezeResources = action{"freeze-resources", "Freeze account and resources", domain.FreezeAccountAndResource}
	actUnfreeze        = action{"unfreeze", "Unfreeze", ""}
	actBudget          = action{"budget", "Set budget", ""}
	actions            = map[string]action{"freeze": actFreeze, "freeze-resources": actFreezeResources, "unfreeze": actUnfreeze, "budget": actBudget}
)

// actionData is the dialog of an action (the page without script; the script shows the same form
// in a <dialog> on the page it was opened from).
type actionData struct {
	Action       string
	Label        string
	Target       string // what it acts on, for the dialog's text
	PostURL      string
	Return       string
	IDs          []string // a batch's customers
	UnfreezeType string   // a single unfreeze: the customer's freeze type
	Batch        bool
	Verify       bool
	Key          string // the Idempotency-Key of this form's submission
}

// safeReturn keeps a return address inside the console; anything else goes to fallback.
func safeReturn(ret, fallback string) string {
	if strings.HasPrefix(ret, "/console/") && !strings.HasPrefix(ret, "//") && !strings.ContainsAny(ret, "\\\r\n") {
		return ret
	}
	return fallback
}

func customerURL(id string) string { return "/console/customers/" + url.PathEscape(id) }

// GET /console/customers/{id}/act/{action}: the action's dialog as a page.
func (c *Console) actionForm(w http.ResponseWriter, r *http.Request, s session) {
	a, ok := actions[r.PathValue("action")]
	id := r.PathValue("id")
	f := c.features(r.Context())
	if !ok || !domain.ValidID(id) || (a == actBudget && !f.Budget) {
		c.renderError(w, r, &s, http.StatusNotFound, "There is no such action.")
		return
	}
	var cu customer
	if err := c.api.do(r.Context(), s.token, request{method: "GET", path: "/v1/customers/" + id + "/status"}, &cu); err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := actionData{Action: a.name, Label: a.label, Target: fmt.Sprintf("customer %s (%s)", cu.CustomerID, cu.Name),
		PostURL: customerURL(id) + "/act/" + a.name, Return: safeReturn(r.URL.Query().Get("return"), customerURL(id)),
		UnfreezeType: cu.OwnFreezeType(), Verify: c.verificationRequired(r.Context(), s, f), Key: randomToken()}
	pd := pageData{Title: a.label, Nav: "customers", Features: f, Data: d}
	pd.signedIn(s)
	c.render(w, r, http.StatusOK, "action", pd)
}

// writeHeaders are the headers of a console write: its Idempotency-Key (one per rendered form, so
// that a form sent twice acts once) and the verification code when one was entered.
func writeHeaders(r *http.Request) map[string]string {
	h := map[string]string{}
	if k := r.PostFormValue("idempotency_key"); k != "" && len(k) <= 128 {
		h["Idempotency-Key"] = k
	}
	if v := strings.TrimSpace(r.PostFormValue("verification_code")); v != "" {
		h["X-Verification-Code"] = v
	}
	return h
}

// POST /console/customers/{id}/act/{action}: does the action through the API and goes back with a
// message saying what happened, or the API's detail of the refusal.
func (c *Console) act(w http.ResponseWriter, r *http.Request, s session) {
	a, ok := actions[r.PathValue("action")]
	id := r.PathValue("id")
	f := c.features(r.Context())
	if !ok || !domain.ValidID(id) || (a == actBudget && !f.Budget) {
		c.renderError(w, r, &s, http.StatusNotFound, "There is no such action.")
		return
	}
	reason := r.PostFormValue("reason")
	rq := request{method: "POST", path: "/v1/customers/" + id + "/" + a.name, header: writeHeaders(r)}
	var done string
	switch a {
	case actFreeze, actFreezeResources:
		rq.path = "/v1/customers/" + id + "/freeze"
		rq.body = map[string]any{"reason": reason, "freeze_type": a.freezeType}
		done = fmt.Sprintf("Customer %s frozen (%s).", id, a.freezeType)
	case actUnfreeze:
		rq.body = map[string]any{"reason": reason, "unfreeze_type": r.PostFormValue("unfreeze_type")}
		done = fmt.Sprintf("Customer %s unfrozen.", id)
	case actBudget:
		rq.method, rq.path = "PUT", "/v1/customers/"+id+"/budget"
		rq.body = budgetBody(r, true)
		done = fmt.Sprintf("Budget of customer %s set", id)
	}
	var res struct {
		Position string   `json:"position"`
		Budget   *budget  `json:"budget"`
		Customer customer `json:"customer"`
	}
	err := c.api.do(r.Context(), s.token, rq, &res)
	if unauthenticated(err) {
		c.ended(w, r, s)
		return
	}
	if a == actBudget {
		done += budgetResult(res.Budget, res.Customer, r.PostFormValue("unfreeze") == "true")
	}
	fl := &flash{OK: err == nil, Text: done + " Position " + res.Position + "."}
	if err != nil {
		if _, isAPI := err.(*apiError); !isAPI {
			c.fail(w, r, s, err)
			return
		}
		fl.Text = fmt.Sprintf("%s of %s refused: %s", a.label, id, err.Error())
	}
	c.sessions.setFlash(s.id, fl)
	http.Redirect(w, r, safeReturn(r.PostFormValue("return"), customerURL(id)), http.StatusSeeOther)
}

// budgetBody is the body of a budget write from the dialog's fields: type, amount and policy, and
// for one customer (single) the optional unfreeze with its reason (the API requires the reason with
// unfreeze and takes neither in a batch).
func budgetBody(r *http.Request, single bool) map[string]any {
	b := map[string]any{"type": r.PostFormValue("budget_type"), "amount": strings.TrimSpace(r.PostFormValue("amount")),
		"on_exhaustion": r.PostFormValue("on_exhaustion")}
	if !single {
		return b
	}
	if r.PostFormValue("unfreeze") == "true" {
		b["unfreeze"] = true
	}
	if reason := r.PostFormValue("reason"); reason != "" {
		b["reason"] = reason
	}
	return b
}

// budgetResult says what a budget write left: the budget as the API now reports it, and whether the
// customer was unfrozen when that was asked for.
func budgetResult(b *budget, cu customer, unfreeze bool) string {
	s := ""
	if b != nil {
		s = fmt.Sprintf(": %s %s, when exhausted: %s; usage %s %%", b.Type, b.Amount, b.OnExhaustion, b.UsagePercent)
	}
	if unfreeze {
		s += "; state " + cu.State
	}
	return s + "."
}

// batchActions are the actions on selected rows; "budget" only when the API has the batch route
// (features.BatchBudget).
var batchActions = map[string]action{"freeze": actFreeze, "freeze-resources": actFreezeResources, "unfreeze": actUnfreeze, "budget": actBudget}

// batchAction is the batch action name asks for, if this API offers it.
func batchAction(name string, f features) (action, bool) {
	a, ok := batchActions[name]
	if a == actBudget && !f.BatchBudget {
		return action{}, false
	}
	return a, ok
}

// GET /console/batch?action=...&id=...: the batch dialog as a page.
func (c *Console) batchForm(w http.ResponseWriter, r *http.Request, s session) {
	q := r.URL.Query()
	f := c.features(r.Context())
	a, ok := batchAction(q.Get("action"), f)
	if !ok {
		c.renderError(w, r, &s, http.StatusNotFound, "There is no such batch action.")
		return
	}
	ids := q["id"]
	d := actionData{Action: a.name, Label: a.label, Target: fmt.Sprintf("%d selected customers", len(ids)), PostURL: "/console/batch",
		Return: safeReturn(q.Get("return"), "/console/customers"), IDs: ids, Batch: true,
		Verify: c.verificationRequired(r.Context(), s, f), Key: randomToken()}
	pd := pageData{Title: a.label + " (selected)", Nav: "customers", Features: f, Data: d}
	if len(ids) == 0 {
		pd.Flash = &flash{Text: "Select one or more customers first."}
	}
	pd.signedIn(s)
	c.render(w, r, http.StatusOK, "batch", pd)
}

// POST /console/batch: a batch action (rule 11: at most 10 customers, a result per customer).
func (c *Console) batch(w http.ResponseWriter, r *http.Request, s session) {
	a, ok := batchAction(r.PostFormValue("action"), c.features(r.Context()))
	if !ok {
		c.renderError(w, r, &s, http.StatusNotFound, "There is no such batch action.")
		return
	}
	ids := r.PostForm["id"]
	body := map[string]any{"customer_ids": ids, "reason": r.PostFormValue("reason")}
	method, path := "POST", "/v1/customers/freeze"
	switch a {
	case actUnfreeze:
		path = "/v1/customers/unfreeze"
		body["unfreeze_type"] = r.PostFormValue("unfreeze_type")
	case actBudget:
		method, path = "PUT", "/v1/customers/budget"
		body = budgetBody(r, false)
		body["customer_ids"] = ids
	default:
		body["freeze_type"] = a.freezeType
	}
	var res struct {
		Results []struct {
			CustomerID string    `json:"customer_id"`
			OK         bool      `json:"ok"`
			Error      *apiError `json:"error"`
		} `json:"results"`
	}
	err := c.api.do(r.Context(), s.token, request{method: method, path: path, body: body, header: writeHeaders(r)}, &res)
	if unauthenticated(err) {
		c.ended(w, r, s)
		return
	}
	var fl *flash
	if err != nil {
		if _, isAPI := err.(*apiError); !isAPI {
			c.fail(w, r, s, err)
			return
		}
		fl = &flash{Text: fmt.Sprintf("%s (batch) refused: %s", a.label, err.Error())}
	} else {
		ok := 0
		fl = &flash{}
		for _, it := range res.Results {
			row := batchRow{CustomerID: it.CustomerID, OK: it.OK}
			if it.OK {
				ok++
			} else if it.Error != nil {
				row.Detail = it.Error.Error()
			}
			fl.Results = append(fl.Results, row)
		}
		fl.OK = ok == len(res.Results)
		fl.Text = fmt.Sprintf("%s: %d of %d customers done, %d refused.", a.label, ok, len(res.Results), len(res.Results)-ok)
	}
	c.sessions.setFlash(s.id, fl)
	http.Redirect(w, r, safeReturn(r.PostFormValue("return"), "/console/customers"), http.StatusSeeOther)
}
