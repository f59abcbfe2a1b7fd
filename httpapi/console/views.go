package console

import (
	"encoding/json"
	"strconv"
)

// The API's answers as the console reads them. They follow shared/API.md (and docs/HTTP-API.md);
// the phase-2 fields are pointers, absent until the API serves them.

// customer is a customer status (GET /v1/customers/{id}/status, and each item of a search).
type customer struct {
	CustomerID          string   `json:"customer_id"`
	Name                string   `json:"name"`
	PartnerID           string   `json:"partner_id"`
	DistributorID       string   `json:"distributor_id"`
	ManagedBy           string   `json:"managed_by"`
	State               string   `json:"state"`
	FreezeType          *string  `json:"freeze_type"`
	Origin              *string  `json:"origin"`
	Reason              *string  `json:"reason"`
	FrozenBy            *string  `json:"frozen_by"`
	FrozenAt            *string  `json:"frozen_at"`
	EffectiveState      string   `json:"effective_state"`
	EffectiveFreezeType *string  `json:"effective_freeze_type"`
	EffectiveOrigin     *string  `json:"effective_origin"`
	ResourcesReleased   bool     `json:"resources_released"`
	RetentionDeadline   *string  `json:"retention_deadline"`
	Tags                []string `json:"tags"`
	AccountManager      string   `json:"account_manager"`
	AssociatedAt        string   `json:"associated_at"`
	Position            string   `json:"position"`
	// Phase 2 (budgets, resources).
	MTDSpend       *string `json:"mtd_spend"`
	Currency       *string `json:"currency"`
	Budget         *budget `json:"budget"`
	Resources      *int    `json:"resources"`
	EarliestExpiry *string `json:"earliest_expiry"`
}

// Cascaded reports whether the customer is effectively frozen by a partner's freeze (rule 7).
func (c customer) Cascaded() bool { return c.EffectiveOrigin != nil && *c.EffectiveOrigin == "partner" }

// OwnFreezeType is the customer's own freeze type, "" when active.
func (c customer) OwnFreezeType() string {
	if c.FreezeType == nil {
		return ""
	}
	return *c.FreezeType
}

// BudgetUsage is the budget usage for the table: "81.20 % of 1000.00 (monthly)", "—" without a
// budget.
func (c customer) BudgetUsage() string {
	b := c.Budget
	if b == nil || b.UsagePercent == "" {
		return "—"
	}
	return b.UsagePercent + " % of " + b.Amount + " (" + b.Type + ")"
}

// Expiry is the earliest expiry of the customer's resources for the table ("—" when none expires).
func (c customer) Expiry() string {
	if c.EarliestExpiry == nil || *c.EarliestExpiry == "" {
		return "—"
	}
	return when(*c.EarliestExpiry)
}

// Spend is the month-to-date spend for the table ("—" when the API does not report spend).
func (c customer) Spend() string {
	if c.MTDSpend == nil {
		return "—"
	}
	if c.Currency != nil {
		return *c.MTDSpend + " " + *c.Currency
	}
	return *c.MTDSpend
}

// budget is a customer's budget (phase 2).
type budget struct {
	Type              string `json:"type"`
	Amount            string `json:"amount"`
	OnExhaustion      string `json:"on_exhaustion"`
	SetAt             string `json:"set_at"`
	SetBy             string `json:"set_by"`
	Period            string `json:"period"`
	CountedSpend      string `json:"counted_spend"`
	UsagePercent      string `json:"usage_percent"`
	ThresholdsReached []int  `json:"thresholds_reached"`
	Exhausted         bool   `json:"exhausted"`
}

// resource is one of a customer's resources (GET /v1/customers/{id}/resources).
type resource struct {
	ResourceID       string  `json:"resource_id"`
	Service          string  `json:"service"`
	BillingMode      string  `json:"billing_mode"`
	Product          string  `json:"product"`
	ExpiresAt        *string `json:"expires_at"`
	AffectedByFreeze bool    `json:"affected_by_freeze"`
	Released         bool    `json:"released"`
}

type resourcesAnswer struct {
	Resources  []resource `json:"resources"`
	NextCursor *string    `json:"next_cursor"`
}

type searchAnswer struct {
	Customers  []customer `json:"customers"`
	NextCursor *string    `json:"next_cursor"`
}

type operationsAnswer struct {
	EffectiveState string `json:"effective_state"`
	Operations     []struct {
		Operation string `json:"operation"`
		Allowed   bool   `json:"allowed"`
		Reason    string `json:"reason"`
	} `json:"operations"`
}

// actor is who did an event.
type actor struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	PartnerID string `json:"partner_id"`
}

func (a actor) String() string {
	if a.PartnerID != "" {
		return a.Name + " (" + a.Role + ", " + a.PartnerID + ")"
	}
	if a.Role != "" {
		return a.Name + " (" + a.Role + ")"
	}
	return a.Name
}

// event is one history event.
type event struct {
	Index    uint64          `json:"index"`
	Position string          `json:"position"`
	Type     string          `json:"type"`
	Time     string          `json:"time"`
	Actor    actor           `json:"actor"`
	Data     json.RawMessage `json:"data"`
}

// eventData is the part of an event's data the console shows.
type eventData struct {
	FreezeType         string `json:"freeze_type"`
	PreviousFreezeType string `json:"previous_freeze_type"`
	UnfreezeType       string `json:"unfreeze_type"`
	Origin             string `json:"origin"`
	Reason             string `json:"reason"`
	PartnerID          string `json:"partner_id"`
}

func (e event) data() eventData {
	var d eventData
	_ = json.Unmarshal(e.Data, &d)
	return d
}

// Reason is the event's reason ("" when it has none).
func (e event) Reason() string { return e.data().Reason }

// Summary says what the event did, in a few words.
func (e event) Summary() string {
	d := e.data()
	switch e.Type {
	case "customer.associated":
		return "associated with " + d.PartnerID
	case "customer.frozen":
		s := "frozen " + d.FreezeType
		if d.PreviousFreezeType != "" {
			s = "freeze upgraded " + d.PreviousFreezeType + " → " + d.FreezeType
		}
		if d.Origin != "" {
			s += " (origin " + d.Origin + ")"
		}
		return s
	case "customer.unfrozen":
		return "unfrozen " + d.UnfreezeType
	case "customer.resources_released":
		return "resources released after retention"
	}
	return e.Type
}

// historyRow is an event as the history table shows it, worked out once before rendering (the
// template then only reads fields: a customer page may have thousands of rows).
type historyRow struct {
	Position, When, Summary, Actor, Reason string
}

func historyRows(evs []event) []historyRow {
	out := make([]historyRow, len(evs))
	for i, e := range evs {
		out[i] = historyRow{Position: e.Position, When: when(e.Time), Summary: e.Summary(), Actor: e.Actor.String(), Reason: e.Reason()}
	}
	return out
}

// when shortens an RFC 3339 time to the second, UTC ("2026-11-26 10:00:00Z").
func when(s string) string {
	if len(s) >= 19 && s[10] == 'T' {
		return s[:10] + " " + s[11:19] + "Z"
	}
	return s
}

type historyAnswer struct {
	Events     []event `json:"events"`
	NextCursor *string `json:"next_cursor"`
}

// position is an event's position as a number (0 when it is not one).
func (e event) position() uint64 {
	n, _ := strconv.ParseUint(e.Position, 10, 64)
	return n
}

type partnerAnswer struct {
	PartnerID            string `json:"partner_id"`
	VerificationRequired bool   `json:"verification_required"`
}
