package httpapi

import (
	"context"
	"io"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog"
)

// Ledger is the write side the API needs: *domain.Service satisfies it. Refusals are *domain.Error.
type Ledger interface {
	RegisterPartner(ctx context.Context, cmd domain.RegisterPartner) (domain.Result, error)
	AssociateCustomer(ctx context.Context, cmd domain.AssociateCustomer) (domain.Result, error)
	FreezeCustomer(ctx context.Context, cmd domain.FreezeCustomer) (domain.Result, error)
	UnfreezeCustomer(ctx context.Context, cmd domain.UnfreezeCustomer) (domain.Result, error)
	FreezeCustomers(ctx context.Context, cmd domain.FreezeCustomers) (domain.BatchResult, error)
	UnfreezeCustomers(ctx context.Context, cmd domain.UnfreezeCustomers) (domain.BatchResult, error)
	FreezePartner(ctx context.Context, cmd domain.FreezePartner) (domain.Result, error)
	UnfreezePartner(ctx context.Context, cmd domain.UnfreezePartner) (domain.Result, error)
	SetDelegation(ctx context.Context, cmd domain.SetDelegation) (domain.Result, error)
}

// AsOf selects the moment a read is answered for: the zero value is "now"; otherwise a time or a
// log position (inclusive).
type AsOf struct {
	Time     *time.Time           // UTC
	Position *eventstore.Position // the state after the event at this position
}

// IsNow reports whether a is the present.
func (a AsOf) IsNow() bool { return a.Time == nil && a.Position == nil }

// CustomerQuery is a customer search (GET /v1/customers). Scope, when not empty, restricts results to
// the subtree of that partner (the caller's tenancy); the other fields are the API's filters.
type CustomerQuery struct {
	Scope            string
	Frozen           *bool
	FreezeType       string
	Origin           string
	AutoFrozen       *bool
	PartnerID        string
	Tag              string
	Name             string
	AccountManager   string
	AssociatedAfter  string // RFC 3339, validated
	AssociatedBefore string
	Limit            int
	Cursor           string
}

// ReadModels is the read side the API needs (package projections, adapted in cmd/freezeledger).
// Errors with a domain code (not_found, invalid for a bad cursor) are shown with that code.
type ReadModels interface {
	// WaitFor returns once the read models have applied pos, or ctx's error.
	WaitFor(ctx context.Context, pos eventstore.Position) error
	// Sync returns once the read models have applied the store's head as of the call, or ctx's error.
	Sync(ctx context.Context) error
	// Ready reports whether the read models have caught up with the store (nil when they have).
	Ready(ctx context.Context) error
	Customer(ctx context.Context, id string, at AsOf) (CustomerStatus, error)
	Operations(ctx context.Context, id string, billingMode string, at AsOf) (Operations, error)
	Partner(ctx context.Context, id string) (Partner, error)
	SearchCustomers(ctx context.Context, q CustomerQuery) ([]CustomerStatus, string, error)
	// CustomerHistory pages a customer's events, oldest first; the cursor is opaque.
	CustomerHistory(ctx context.Context, id string, cursor string, limit int) ([]auditlog.Event, string, error)
}

// Audit is the verifiable log the API serves (package projections/auditlog, adapted in cmd/freezeledger).
type Audit interface {
	// Events calls fn for up to limit events strictly after position after, in log order, until fn
	// returns an error. limit <= 0 means no limit.
	Events(ctx context.Context, after eventstore.Position, limit int, fn func(auditlog.Event) error) error
	// Export writes events in the range as format ("jsonl" or "csv") to w; keep filters events (the
	// caller's tenancy), nil keeps all. from and to are times (RFC 3339) or positions, "" for open ends.
	Export(ctx context.Context, w io.Writer, format, from, to string, keep func(auditlog.Event) bool) error
	// Checkpoint is the latest signed checkpoint (a signed note).
	Checkpoint(ctx context.Context) ([]byte, error)
	InclusionProof(ctx context.Context, index, treeSize uint64) ([][]byte, error)
	ConsistencyProof(ctx context.Context, first, second uint64) ([][]byte, error)
	// PublicKey is the verifier key of the checkpoint signatures (a note verifier key string).
	PublicKey() string
}

// CustomerStatus is a customer's status (shared/API.md, "Status shape"). Nullable fields are pointers.
type CustomerStatus struct {
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
}

// Delegation is a reseller's delegated permissions (rule 6).
type Delegation struct {
	Freeze bool `json:"freeze"`
	Budget bool `json:"budget"`
}

// Partner is a partner as GET /v1/partners/{id} shows it.
type Partner struct {
	PartnerID       string      `json:"partner_id"`
	Name            string      `json:"name"`
	Type            string      `json:"type"`
	ParentID        string      `json:"parent_id"`
	Frozen          bool        `json:"frozen"`
	FrozenReason    *string     `json:"frozen_reason"`
	FrozenBy        *string     `json:"frozen_by"`
	FrozenAt        *string     `json:"frozen_at"`
	EffectiveFrozen bool        `json:"effective_frozen"`
	Delegation      *Delegation `json:"delegation"` // resellers only
	RegisteredAt    string      `json:"registered_at"`
	Position        string      `json:"position"`
}

// Freeze describes the freeze that denies an operation: the customer's own or an inherited one.
type Freeze struct {
	Source     string  `json:"source"` // "customer" or "partner"
	PartnerID  string  `json:"partner_id,omitempty"`
	FreezeType string  `json:"freeze_type"`
	Origin     string  `json:"origin"`
	FrozenBy   *string `json:"frozen_by"`
	FrozenAt   *string `json:"frozen_at"`
	Reason     *string `json:"reason"`
}

// Operation is one operation's permission.
type Operation struct {
	Operation string  `json:"operation"`
	Allowed   bool    `json:"allowed"`
	Reason    string  `json:"reason,omitempty"`
	Freeze    *Freeze `json:"freeze,omitempty"`
}

// Operations is the operation-permission view of a customer (DOMAIN.md).
type Operations struct {
	CustomerID     string      `json:"customer_id"`
	BillingMode    string      `json:"billing_mode"`
	EffectiveState string      `json:"effective_state"`
	Operations     []Operation `json:"operations"`
}

// OperationNames are the operations of DOMAIN.md, in table order.
var OperationNames = []string{"view", "rename", "unsubscribe", "purchase", "modify_spec", "renew", "change_billing_mode", "operate", "delete"}

// BillingModes are the billing modes of DOMAIN.md; the first is the default.
var BillingModes = []string{"yearly_monthly", "pay_per_use"}
