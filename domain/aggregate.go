package domain

// The channel aggregate. A channel is one distributor or solution provider (its root partner) with
// its resellers, their delegations and all their customers, stored in one stream
// (ChannelStream(rootID)). Commands decide against a Channel and return events or an *Error; events
// apply to a Channel. apply is total and pure: it never validates and never fails, so replaying a
// stream always gives the same state.
//
// The rules of docs/RULES.md, as enforced here (each has a TestRuleNN_ test):
//
//  1. A customer newly associated with a partner is frozen by default: AssociateCustomer emits
//     customer.associated followed, in the same append, by customer.frozen (ACCOUNT, origin association).
//  2. A customer's manager is its partner when that partner is a distributor or solution provider; for
//     a reseller's customer it is the distributor, unless the distributor granted the reseller the
//     freeze permission, then the reseller (and no longer the distributor). Anyone else is refused
//     (forbidden; not_found when the actor cannot even see the customer). The platform manages
//     partners, never customers.
//  3. A frozen partner cannot act: every command whose actor's partner is frozen is refused
//     (actor_frozen). A reseller whose distributor is frozen is effectively frozen (rule 7) and
//     cannot act either. Since a partner, its resellers and its customers share one stream, this
//     holds in log order: every append is conditional on the stream revision its decision saw.
//  4. Every freeze and unfreeze (customers and partners) carries a reason of 1 to 256 characters
//     after trimming (stored trimmed).
//  5. The unfreeze type must equal the freeze type (type_mismatch). Freezing an ACCOUNT-frozen customer
//     with ACCOUNT_AND_RESOURCE upgrades it; freezing with the type it has, or downgrading, is a
//     conflict; unfreezing an active customer is a conflict.
//  6. Only a reseller's own distributor grants or revokes its delegated permissions (freeze, budget);
//     delegation events change no freeze state. Setting the permissions it already has emits nothing.
//  7. Partner freezes: the platform freezes/unfreezes any partner, a distributor its own resellers.
//     The cascade to customers (effective ACCOUNT_AND_RESOURCE, origin partner) is derived by the read
//     models; the customer's own state is never rewritten.
//  8. Resource retention: an ACCOUNT_AND_RESOURCE freeze records its retention deadline; once it has
//     passed and the freeze was not lifted, the system actor appends customer.resources_released,
//     exactly once per such freeze. Unfreezing afterwards restores the account; ResourcesReleased stays.
//     (Cascaded partner freezes of rule 7 start no retention: they are not stored on the customer.)
//  9. Marketplace products are a read-side matter (projections); the domain keeps the freeze type and
//     resources-released flag they need.
//  10. A customer (and a partner) ID is associated with at most one channel: IDs are claimed in
//     reservation streams (see reservation.go) and an association is only permitted while its
//     channel holds the live reservation.
//  11. Batches take at most MaxBatch customers and report one result per customer; one refusal does
//     not undo the others.
//  21. Personal data (personal.go, personal_decisions.go) is recorded sealed only: ciphertexts and
//     the customer's key ID, checked for shape; one key per customer; set at association or changed
//     by the customer's manager; erased once (a second erasure, or a change after it, is a
//     conflict) by an admin of the customer's own partner or by the platform, with a reason.
//     Erasure changes nothing else: the customer can still be frozen and unfrozen.
//
// Actor roles: platform (registers distributors and solution providers, registers resellers naming a
// parent, freezes any partner), partner (acts for its partner ID within the rules above), auditor and
// reader (no writes: forbidden), system (only resource release and reservation housekeeping).
//
// Where each part lives: the state and apply in channel.go (the undo journal in journal.go); the
// decisions by concern in partner_decisions.go, customer_decisions.go, reservation.go (rule 10) and
// retention.go (rule 8). This file keeps the checks every decision shares.

import (
	"strings"
	"unicode/utf8"
)

// checkWriter refuses actors that may not write at all.
func checkWriter(a Actor) error {
	if strings.TrimSpace(a.Name) == "" {
		return Errorf(CodeInvalid, "the actor has no name: every event records its operator")
	}
	switch a.Role {
	case RolePlatform, RolePartner:
		return nil
	case RoleAuditor, RoleReader:
		return Errorf(CodeForbidden, "role %q is read-only and cannot change anything", a.Role)
	case RoleSystem:
		return Errorf(CodeForbidden, "the system role only releases resources (rule 8); it issues no commands")
	case RoleBilling:
		return Errorf(CodeForbidden, "the billing role only reports usage and resources (rules 12, 13)")
	case RoleCustomer:
		return Errorf(CodeForbidden, "a customer only starts or answers its own disassociation (rule 20)")
	}
	return Errorf(CodeForbidden, "unknown role %q", a.Role)
}

// actingPartner returns the actor's partner in this channel, refusing frozen ones (rule 3).
func (c *Channel) actingPartner(a Actor) (*Partner, error) {
	p := c.partners[a.PartnerID]
	if p == nil {
		return nil, Errorf(CodeForbidden, "actor %q acts for partner %q, which is not registered in this channel", a.Name, a.PartnerID)
	}
	if frozen, why := c.effectivelyFrozen(p); frozen {
		return nil, Errorf(CodeActorFrozen, "rule 3: a frozen partner cannot act: %s", why)
	}
	return p, nil
}

// effectivelyFrozen reports whether partner p cannot act (rules 3 and 7).
func (c *Channel) effectivelyFrozen(p *Partner) (bool, string) {
	if p.Frozen {
		return true, "partner " + p.ID + " is frozen"
	}
	if p.ParentID != "" {
		if d := c.partners[p.ParentID]; d != nil && d.Frozen {
			return true, "its distributor " + d.ID + " is frozen, so reseller " + p.ID + " is effectively frozen (rule 7)"
		}
	}
	return false, ""
}

// cleanReason checks a freeze or unfreeze reason (rule 4) and returns it trimmed.
func cleanReason(r string) (string, error) {
	t := strings.TrimSpace(r)
	n := utf8.RuneCountInString(t)
	if n < 1 || n > 256 {
		return "", Errorf(CodeInvalid, "rule 4: a reason of 1 to 256 characters after trimming is required (got %d)", n)
	}
	return t, nil
}

func checkID(what, id string) error {
	if !ValidID(id) {
		return Errorf(CodeInvalid, "%s %q is not a valid ID (%s)", what, truncateString(id, 80), IDPattern.String())
	}
	return nil
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
