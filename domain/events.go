package domain

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Event type strings. They are stable: stored logs and exports depend on them. Each event type has a
// schema version (SchemaVersions) recorded in the event's metadata so that later changes can upcast.
const (
	EventPartnerRegistered        = "partner.registered"
	EventPartnerFrozen            = "partner.frozen"
	EventPartnerUnfrozen          = "partner.unfrozen"
	EventPartnerDelegationGranted = "partner.delegation_granted"
	EventPartnerDelegationRevoked = "partner.delegation_revoked"
	EventCustomerAssociated       = "customer.associated"
	EventCustomerFrozen           = "customer.frozen"
	EventCustomerUnfrozen         = "customer.unfrozen"
	EventCustomerResourcesRelease = "customer.resources_released"
	// Reservation events live in the small per-ID reservation streams that make partner and customer
	// IDs unique across channels (rule 10). They are part of the log and of the audit tree.
	EventIDReserved            = "id.reserved"
	EventIDReservationReleased = "id.reservation_released"
	// Phase 2 (rules 12 to 18): the billing feed, budgets and quotas, all in the channel stream.
	EventUsageRecorded          = "usage.recorded"
	EventResourceReported       = "resource.reported"
	EventResourceRemoved        = "resource.removed"
	EventBudgetSet              = "budget.set"
	EventBudgetRemoved          = "budget.removed"
	EventBudgetThresholdReached = "budget.threshold_reached"
	EventBudgetReset            = "budget.reset"
	EventPartnerQuotaSet        = "partner.quota_set"
	// Rule 21: personal data (personal.go). Association may carry it (CustomerAssociated.Personal).
	EventCustomerPersonalDataChanged = "customer.personal_data_changed"
	EventCustomerPersonalDataErased  = "customer.personal_data_erased"
	// Rule 19: a partner admin switched verification codes on or off (verification.go).
	EventPartnerVerificationSet = "partner.verification_set"
	// Rule 20: ending an association (disassociation.go).
	EventDisassociationRequested = "customer.disassociation_requested"
	EventDisassociationAccepted  = "customer.disassociation_accepted"
	EventDisassociationRejected  = "customer.disassociation_rejected"
	EventDisassociationLapsed    = "customer.disassociation_lapsed"
)

// SchemaVersions is the current schema version of every event type.
var SchemaVersions = map[string]int{
	EventPartnerRegistered:           1,
	EventPartnerFrozen:               1,
	EventPartnerUnfrozen:             1,
	EventPartnerDelegationGranted:    1,
	EventPartnerDelegationRevoked:    1,
	EventCustomerAssociated:          1,
	EventCustomerFrozen:              1,
	EventCustomerUnfrozen:            1,
	EventCustomerResourcesRelease:    1,
	EventIDReserved:                  1,
	EventIDReservationReleased:       1,
	EventUsageRecorded:               1,
	EventResourceReported:            1,
	EventResourceRemoved:             1,
	EventBudgetSet:                   1,
	EventBudgetRemoved:               1,
	EventBudgetThresholdReached:      1,
	EventBudgetReset:                 1,
	EventPartnerQuotaSet:             1,
	EventCustomerPersonalDataChanged: 1,
	EventCustomerPersonalDataErased:  1,
	EventPartnerVerificationSet:      1,
	EventDisassociationRequested:     1,
	EventDisassociationAccepted:      1,
	EventDisassociationRejected:      1,
	EventDisassociationLapsed:        1,
}

// PartnerType is the kind of partner.
type PartnerType string

const (
	PartnerDistributor      PartnerType = "distributor"
	PartnerReseller         PartnerType = "reseller"
	PartnerSolutionProvider PartnerType = "solution_provider"
)

// FreezeType is the severity of a customer freeze.
type FreezeType string

const (
	FreezeAccount            FreezeType = "ACCOUNT"
	FreezeAccountAndResource FreezeType = "ACCOUNT_AND_RESOURCE"
	StateActive                         = "ACTIVE"
	StateFrozen                         = "FROZEN"
)

// Origin says where a freeze came from. "Automatically frozen" means origin != OriginManual.
type Origin string

const (
	OriginAssociation Origin = "association"
	OriginManual      Origin = "manual"
	OriginBudget      Origin = "budget"  // rule 17: the system froze a customer whose budget ran out
	OriginPartner     Origin = "partner" // derived by the read models (rule 7), never stored on a customer event
)

// Permission is a delegated permission (rule 6).
type Permission string

const (
	PermissionFreeze Permission = "freeze"
	PermissionBudget Permission = "budget"
)

// Role of a principal.
type Role string

const (
	RolePlatform Role = "platform"
	RolePartner  Role = "partner"
	RoleAuditor  Role = "auditor"
	RoleReader   Role = "reader"
	RoleSystem   Role = "system"  // the service itself (resource release, reservations, budget freezes and resets)
	RoleBilling  Role = "billing" // the platform's metering: usage records and resources only (rules 12, 13)
	// RoleCustomer is the account holder itself (phase 2): it sees only itself and starts or answers
	// a disassociation (rule 20). Its customer ID is Metadata.ActorCustomerID.
	RoleCustomer Role = "customer"
)

// Actor is who did something: a principal's name, role and partner (empty for platform and system).
type Actor struct {
	Name      string `json:"name"`
	Role      Role   `json:"role"`
	PartnerID string `json:"partner_id"`
}

// SystemActor is the operator recorded on events the service appends by itself (rule 8).
var SystemActor = Actor{Name: "system", Role: RoleSystem}

// IDPattern is the form of partner and customer IDs.
var IDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidID reports whether s is a valid partner or customer ID (matches IDPattern; written out by
// hand because it runs several times per command).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Metadata is stored as every event's metadata JSON. Field order is the JSON order.
type Metadata struct {
	SchemaVersion  int       `json:"schema_version"`
	Actor          Actor     `json:"actor"`
	Time           time.Time `json:"time"` // server time from the injected clock, UTC
	RequestID      string    `json:"request_id,omitempty"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	OnBehalfOf     string    `json:"on_behalf_of,omitempty"`
	// CommandHash fingerprints the command that produced the event, so that reusing an idempotency
	// key for a different command is detected (a conflict), also after a restart.
	CommandHash string `json:"command_hash,omitempty"`
	// Verification says how the operation was verified (rule 19): "totp" for a valid one-time code,
	// empty when it was not. Never the code or the secret.
	Verification string `json:"verification,omitempty"`
	// ActorAdmin records that the actor is a partner admin (rules 19 and 20), ActorCustomerID the
	// customer an actor of role customer is: what the validator needs to re-decide its commands.
	ActorAdmin      bool   `json:"actor_admin,omitempty"`
	ActorCustomerID string `json:"actor_customer_id,omitempty"`
}

// Event payloads (the event's data JSON), one type per event type.

// PartnerRegistered: a partner joined. ParentID is the distributor of a reseller, empty otherwise.
type PartnerRegistered struct {
	PartnerID string      `json:"partner_id"`
	Name      string      `json:"name"`
	Type      PartnerType `json:"type"`
	ParentID  string      `json:"parent_id,omitempty"`
}

// PartnerFrozen / PartnerUnfrozen: a partner was frozen or unfrozen (rules 3 and 7).
type PartnerFrozen struct {
	PartnerID string `json:"partner_id"`
	Reason    string `json:"reason"`
}

type PartnerUnfrozen struct {
	PartnerID string `json:"partner_id"`
	Reason    string `json:"reason"`
}

// PartnerDelegationGranted / Revoked: a distributor changed a reseller's delegated permissions (rule 6).
// Permissions lists only the permissions that changed.
type PartnerDelegationGranted struct {
	PartnerID   string       `json:"partner_id"`
	Permissions []Permission `json:"permissions"`
}

type PartnerDelegationRevoked struct {
	PartnerID   string       `json:"partner_id"`
	Permissions []Permission `json:"permissions"`
}

// CustomerAssociated: a customer was associated with a partner in the resale model. It is always
// followed, in the same append, by CustomerFrozen with origin association (rule 1).
type CustomerAssociated struct {
	CustomerID     string   `json:"customer_id"`
	Name           string   `json:"name"`
	PartnerID      string   `json:"partner_id"`
	DistributorID  string   `json:"distributor_id,omitempty"` // set when PartnerID is a reseller
	Tags           []string `json:"tags,omitempty"`
	AccountManager string   `json:"account_manager,omitempty"`
	// Personal is the customer's sealed personal data (rule 21), if it was given at association.
	Personal *SealedPersonal `json:"personal,omitempty"`
}

// CustomerFrozen: a customer was frozen, or its freeze upgraded from ACCOUNT to ACCOUNT_AND_RESOURCE
// (rule 5). RetentionDeadline is set for ACCOUNT_AND_RESOURCE freezes (rule 8).
type CustomerFrozen struct {
	CustomerID         string     `json:"customer_id"`
	FreezeType         FreezeType `json:"freeze_type"`
	PreviousFreezeType FreezeType `json:"previous_freeze_type,omitempty"`
	Origin             Origin     `json:"origin"`
	Reason             string     `json:"reason"`
	RetentionDeadline  *time.Time `json:"retention_deadline,omitempty"`
}

// CustomerUnfrozen: a customer was unfrozen; UnfreezeType equals the freeze type it had (rule 5).
type CustomerUnfrozen struct {
	CustomerID   string     `json:"customer_id"`
	UnfreezeType FreezeType `json:"unfreeze_type"`
	Reason       string     `json:"reason"`
}

// CustomerResourcesReleased: retention ran out (rule 8); appended by the system actor, once.
type CustomerResourcesReleased struct {
	CustomerID string    `json:"customer_id"`
	FrozenAt   time.Time `json:"frozen_at"` // when the ACCOUNT_AND_RESOURCE freeze that expired began
	Reason     string    `json:"reason"`
	// Resources names the reported resources it released (rule 13: all but marketplace SaaS and
	// licences), sorted; absent when the customer had none.
	Resources []string `json:"resources,omitempty"`
}

// IDReserved: an ID (kind "partner" or "customer") was claimed for a channel stream.
type IDReserved struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Channel string `json:"channel"`
}

// IDReservationReleased: a claim was given up (the association it was made for was refused, or it was
// abandoned and another channel took the ID over).
type IDReservationReleased struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Channel string `json:"channel"`
	Reason  string `json:"reason"`
	// ReservationRevision is the revision, in the reservation stream, of the id.reserved event given
	// up. The release is appended to the holding channel's stream (Channel), which fences any
	// association still in flight there.
	ReservationRevision uint64 `json:"reservation_revision"`
}

// Phase 2 payloads (rules 12 to 18).

// UsageRecord is one usage record of the billing feed (rule 12): RecordID is unique for the ledger,
// Amount at most MaxAmount, Time the moment the usage happened (it counts towards that UTC month).
type UsageRecord struct {
	RecordID string    `json:"record_id"`
	Amount   Money     `json:"amount"`
	Time     time.Time `json:"time"`
}

// UsageRecorded: the billing system reported new usage records of one customer (rule 12). A batch
// becomes one such event per customer, with the records in request order; duplicates of records
// already recorded are not repeated.
type UsageRecorded struct {
	CustomerID string        `json:"customer_id"`
	Records    []UsageRecord `json:"records"`
}

// BillingMode and ProductKind describe a reported resource (rule 13).
type (
	BillingMode string
	ProductKind string
)

const (
	BillingYearlyMonthly BillingMode = "yearly_monthly"
	BillingPayPerUse     BillingMode = "pay_per_use"

	ProductCloud                ProductKind = "cloud"
	ProductMarketplaceImage     ProductKind = "marketplace_image"
	ProductMarketplacePayPerUse ProductKind = "marketplace_pay_per_use"
	ProductMarketplaceSaaS      ProductKind = "marketplace_saas"
	ProductMarketplaceLicence   ProductKind = "marketplace_licence"
)

// AffectedByResourceFreeze reports whether an ACCOUNT_AND_RESOURCE freeze (and rule 8's release)
// reaches a product: everything but marketplace SaaS and licences (rule 9).
func (p ProductKind) AffectedByResourceFreeze() bool {
	return p != ProductMarketplaceSaaS && p != ProductMarketplaceLicence
}

// ResourceReported: the billing system reported a customer's resource, new or changed (rule 13).
type ResourceReported struct {
	CustomerID  string      `json:"customer_id"`
	ResourceID  string      `json:"resource_id"`
	Service     string      `json:"service"`
	BillingMode BillingMode `json:"billing_mode"`
	Product     ProductKind `json:"product"`
	ExpiresAt   *time.Time  `json:"expires_at,omitempty"`
}

// ResourceRemoved: the billing system reported that a resource is gone (rule 13).
type ResourceRemoved struct {
	CustomerID string `json:"customer_id"`
	ResourceID string `json:"resource_id"`
}

// BudgetType and Exhaustion describe a budget (rule 15).
type (
	BudgetType string
	Exhaustion string
)

const (
	BudgetMonthly BudgetType = "monthly"
	BudgetOneTime BudgetType = "one_time"

	ExhaustionFreeze Exhaustion = "freeze"
	ExhaustionAlert  Exhaustion = "alert"
)

// BudgetSet: a customer's budget manager set its budget (rule 15), replacing any earlier one (a new
// setting: thresholds re-arm). Period is the month it counts ("2026-12") for a monthly budget.
// ChargedTo is the reseller whose quota it uses (rule 18): the setter when it is a reseller.
type BudgetSet struct {
	CustomerID   string     `json:"customer_id"`
	Type         BudgetType `json:"type"`
	Amount       Money      `json:"amount"`
	OnExhaustion Exhaustion `json:"on_exhaustion"`
	Period       string     `json:"period,omitempty"`
	ChargedTo    string     `json:"charged_to,omitempty"`
}

// BudgetRemoved: the budget manager removed the customer's budget (rule 15).
type BudgetRemoved struct {
	CustomerID string `json:"customer_id"`
}

// BudgetThresholdReached: the counted spend reached Threshold percent (75, 90 or 100) of the budget
// for the first time in this setting and period (rule 16); appended by the system.
type BudgetThresholdReached struct {
	CustomerID   string `json:"customer_id"`
	Threshold    int    `json:"threshold"`
	Period       string `json:"period,omitempty"`
	CountedSpend Money  `json:"counted_spend"`
	Amount       Money  `json:"amount"`
}

// BudgetReset: a monthly budget restored at 00:00 UTC on the 1st (rule 17): it now counts Period and
// its thresholds re-arm; appended by the system.
type BudgetReset struct {
	CustomerID     string `json:"customer_id"`
	Period         string `json:"period"`
	PreviousPeriod string `json:"previous_period"`
}

// PartnerQuotaSet: a distributor set a reseller's budget quotas (rule 18).
type PartnerQuotaSet struct {
	PartnerID    string `json:"partner_id"`
	MonthlyQuota Money  `json:"monthly_quota"`
	OneTimeQuota Money  `json:"one_time_quota"`
}

// DecodeData decodes an event's data JSON into its payload type (a pointer to one of the types
// above), exactly as encoding/json does (the fast path of fastdecode.go first, for the types it
// knows). Unknown types and malformed data are errors, never panics.
func DecodeData(eventType string, data []byte) (any, error) {
	if v, ok := fastData(eventType, data, nil); ok {
		return v, nil
	}
	return decodeDataJSON(eventType, data)
}

// decodeDataJSON is DecodeData with encoding/json alone.
func decodeDataJSON(eventType string, data []byte) (any, error) {
	var v any
	switch eventType {
	case EventPartnerRegistered:
		v = &PartnerRegistered{}
	case EventPartnerFrozen:
		v = &PartnerFrozen{}
	case EventPartnerUnfrozen:
		v = &PartnerUnfrozen{}
	case EventPartnerDelegationGranted:
		v = &PartnerDelegationGranted{}
	case EventPartnerDelegationRevoked:
		v = &PartnerDelegationRevoked{}
	case EventCustomerAssociated:
		v = &CustomerAssociated{}
	case EventCustomerFrozen:
		v = &CustomerFrozen{}
	case EventCustomerUnfrozen:
		v = &CustomerUnfrozen{}
	case EventCustomerResourcesRelease:
		v = &CustomerResourcesReleased{}
	case EventIDReserved:
		v = &IDReserved{}
	case EventIDReservationReleased:
		v = &IDReservationReleased{}
	case EventUsageRecorded:
		v = &UsageRecorded{}
	case EventResourceReported:
		v = &ResourceReported{}
	case EventResourceRemoved:
		v = &ResourceRemoved{}
	case EventBudgetSet:
		v = &BudgetSet{}
	case EventBudgetRemoved:
		v = &BudgetRemoved{}
	case EventBudgetThresholdReached:
		v = &BudgetThresholdReached{}
	case EventBudgetReset:
		v = &BudgetReset{}
	case EventPartnerQuotaSet:
		v = &PartnerQuotaSet{}
	case EventCustomerPersonalDataChanged:
		v = &CustomerPersonalDataChanged{}
	case EventCustomerPersonalDataErased:
		v = &CustomerPersonalDataErased{}
	case EventPartnerVerificationSet:
		v = &PartnerVerificationSet{}
	case EventDisassociationRequested:
		v = &DisassociationRequested{}
	case EventDisassociationAccepted:
		v = &DisassociationAccepted{}
	case EventDisassociationRejected:
		v = &DisassociationRejected{}
	case EventDisassociationLapsed:
		v = &DisassociationLapsed{}
	default:
		return nil, fmt.Errorf("unknown event type %q", eventType)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("event type %q: malformed data: %w", eventType, err)
	}
	return v, nil
}
