package domain

// Commands. Every command carries Meta: who asks, and the request's IDs. The command service
// (Service) decides each against the current state of its channel and appends the resulting events,
// or returns an *Error and appends nothing.

import "time"

// Meta is what every command carries besides its own fields.
type Meta struct {
	Actor          Actor
	RequestID      string
	IdempotencyKey string // optional; the same key with the same command returns the first result
	OnBehalfOf     string
	// Verified says the operation carries a valid, unused one-time code (rule 19), checked by the
	// caller (httpapi); every critical command checks it against its partner's verification switch
	// (checkVerification). Recorded as Metadata.Verification "totp".
	Verified bool
	// Admin: the actor is a partner admin (rules 19 and 20). CustomerID: the customer an actor of
	// role customer is.
	Admin      bool
	CustomerID string
}

// RegisterPartner registers a distributor or solution provider (by the platform) or a reseller (by
// its distributor, or by the platform naming ParentID).
type RegisterPartner struct {
	Meta
	PartnerID string
	Name      string
	Type      PartnerType
	ParentID  string
}

// AssociateCustomer associates a new customer with PartnerID; it starts frozen (rule 1).
type AssociateCustomer struct {
	Meta
	CustomerID     string
	Name           string
	PartnerID      string
	Tags           []string
	AccountManager string
	// Personal is the customer's sealed personal data (rule 21), nil for none.
	Personal *SealedPersonal
}

// FreezeCustomer freezes a customer, or upgrades an ACCOUNT freeze (rule 5). FreezeType "" means ACCOUNT.
type FreezeCustomer struct {
	Meta
	CustomerID string
	Reason     string
	FreezeType FreezeType
}

// UnfreezeCustomer unfreezes a customer; UnfreezeType must equal its freeze type (rule 5).
type UnfreezeCustomer struct {
	Meta
	CustomerID   string
	Reason       string
	UnfreezeType FreezeType
}

// FreezeCustomers and UnfreezeCustomers are batches of at most MaxBatch customers (rule 11).
type FreezeCustomers struct {
	Meta
	CustomerIDs []string
	Reason      string
	FreezeType  FreezeType
}

type UnfreezeCustomers struct {
	Meta
	CustomerIDs  []string
	Reason       string
	UnfreezeType FreezeType
}

// MaxBatch is the most customers one batch command takes (rule 11).
const MaxBatch = 10

// FreezePartner and UnfreezePartner freeze or unfreeze a partner (rules 3 and 7).
type FreezePartner struct {
	Meta
	PartnerID string
	Reason    string
}

type UnfreezePartner struct {
	Meta
	PartnerID string
	Reason    string
}

// SetDelegation sets a reseller's delegated permissions to exactly Freeze and Budget (rule 6):
// PUT /v1/partners/{id}/delegation; DELETE is SetDelegation with both false.
type SetDelegation struct {
	Meta
	ResellerID string
	Freeze     bool
	Budget     bool
}

// Result is what a successful command returns: the position of its last event (the store's opaque
// position string; for a no-op idempotent retry, that of the first result) and the events it appended.
type Result struct {
	Position string
	Events   []StoredEvent
	// Replayed is true when the result is the first result of an earlier command with the same
	// idempotency key, and nothing was appended now.
	Replayed bool
}

// ItemResult is one customer's outcome in a batch.
type ItemResult struct {
	CustomerID string
	Err        error // nil on success; an *Error otherwise
}

// BatchResult is a batch command's outcome: one ItemResult per requested customer, in request order,
// and the position of the batch's last event ("" if nothing was appended).
type BatchResult struct {
	Items    []ItemResult
	Position string
	Replayed bool
}

// Phase 2 commands (rules 12 to 18).

// UsageInput is one usage record of a RecordUsage batch (rule 12).
type UsageInput struct {
	RecordID   string
	CustomerID string
	Amount     Money
	Time       time.Time
}

// RecordUsage reports 1 to MaxUsageBatch usage records (the billing role). Each record is decided
// on its own (one result each); records of customers in different channels are decided in parallel.
type RecordUsage struct {
	Meta
	Records []UsageInput
}

// UsageItem is one record's outcome: Err nil and Duplicate false for a record appended now,
// Duplicate for one recorded before with the same content, an *Error otherwise.
type UsageItem struct {
	RecordID  string
	Duplicate bool
	Err       error
}

// UsageResult is RecordUsage's outcome: one item per record in request order, and the position of
// the last event appended ("" if nothing was).
type UsageResult struct {
	Items    []UsageItem
	Position string
}

// ReportResource reports a customer's resource, new or changed (rule 13; the billing role).
type ReportResource struct {
	Meta
	Resource ResourceReported
}

// RemoveResource reports that a resource is gone (rule 13; the billing role).
type RemoveResource struct {
	Meta
	CustomerID string
	ResourceID string
}

// SetBudget sets a customer's budget (rules 14, 15), by its budget manager; with Unfreeze (and a
// Reason, rule 4) it also unfreezes the customer in the same append (rule 17).
type SetBudget struct {
	Meta
	CustomerID string
	Budget     BudgetSpec
	Unfreeze   bool
	Reason     string
}

// RemoveBudget removes a customer's budget (rule 15).
type RemoveBudget struct {
	Meta
	CustomerID string
}

// SetBudgets sets the same budget on up to MaxBatch customers, one result each (rules 11, 15).
type SetBudgets struct {
	Meta
	CustomerIDs []string
	Budget      BudgetSpec
}

// SetQuota sets a reseller's budget quotas (rule 18), by its distributor.
type SetQuota struct {
	Meta
	ResellerID string
	Monthly    Money
	OneTime    Money
}
