package domain

// The channel aggregate. A channel is one distributor or solution provider (its root partner) with
// its resellers, their delegations and all their customers, stored in one stream
// (ChannelStream(rootID)). Commands decide against a Channel and return events or an *Error; events
// apply to a Channel. apply is total and pure: it never validates and never fails, so replaying a
// stream always gives the same state.
//
// The rules of shared/DOMAIN.md, as enforced here (each has a TestRuleNN_ test):
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
//     reservation streams (see service_reservation.go) and an association is only permitted while its
//     channel holds the live reservation.
//  11. Batches take at most MaxBatch customers and report one result per customer; one refusal does
//     not undo the others.
//
// Actor roles: platform (registers distributors and solution providers, registers resellers naming a
// parent, freezes any partner), partner (acts for its partner ID within the rules above), auditor and
// reader (no writes: forbidden), system (only resource release and reservation housekeeping).

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Manager returns the partner ID that may freeze and unfreeze customer cu (rule 2).
func (c *Channel) Manager(cu Customer) string {
	if cu.DistributorID == "" {
		return cu.PartnerID
	}
	if r := c.partners[cu.PartnerID]; r != nil && r.Delegation.Freeze {
		return cu.PartnerID
	}
	return cu.DistributorID
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

// ---- decisions ----

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

func (c *Channel) decideRegisterPartner(cmd RegisterPartner) ([]pendingEvent, error) {
	if err := checkWriter(cmd.Actor); err != nil {
		return nil, err
	}
	if err := checkID("partner_id", cmd.PartnerID); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(cmd.Name)
	if name == "" || utf8.RuneCountInString(name) > 256 {
		return nil, Errorf(CodeInvalid, "a partner name of 1 to 256 characters is required")
	}
	ev := &PartnerRegistered{PartnerID: cmd.PartnerID, Name: name, Type: cmd.Type}
	switch cmd.Type {
	case PartnerDistributor, PartnerSolutionProvider:
		if cmd.Actor.Role != RolePlatform {
			return nil, Errorf(CodeForbidden, "only the platform registers distributors and solution providers")
		}
		if cmd.ParentID != "" {
			return nil, Errorf(CodeInvalid, "a %s has no parent", cmd.Type)
		}
		if c.stream != ChannelStream(cmd.PartnerID) {
			return nil, Errorf(CodeInvalid, "a %s is the root of its own channel %s, not of %s", cmd.Type, ChannelStream(cmd.PartnerID), c.stream)
		}
		if c.root != "" {
			return nil, Errorf(CodeConflict, "rule 10: partner %q is already registered", cmd.PartnerID)
		}
	case PartnerReseller:
		parent := cmd.ParentID
		switch cmd.Actor.Role {
		case RolePlatform:
			if parent == "" {
				return nil, Errorf(CodeInvalid, "the platform registering a reseller must name its distributor (parent_id)")
			}
		case RolePartner:
			if parent == "" {
				parent = cmd.Actor.PartnerID
			}
			if _, err := c.actingPartner(cmd.Actor); err != nil {
				return nil, err
			}
			if parent != cmd.Actor.PartnerID {
				return nil, Errorf(CodeForbidden, "a distributor registers resellers only under itself, not under %q", parent)
			}
		}
		d := c.partners[parent]
		if d == nil {
			return nil, Errorf(CodeNotFound, "distributor %q not found", parent)
		}
		if d.Type != PartnerDistributor {
			return nil, Errorf(CodeInvalid, "a reseller's parent must be a distributor; %q is a %s", parent, d.Type)
		}
		if _, ok := c.partners[cmd.PartnerID]; ok {
			return nil, Errorf(CodeConflict, "rule 10: partner %q is already registered", cmd.PartnerID)
		}
		ev.ParentID = parent
	default:
		return nil, Errorf(CodeInvalid, "partner type must be distributor, reseller or solution_provider, not %q", cmd.Type)
	}
	return []pendingEvent{{EventPartnerRegistered, ev}}, nil
}

// partnerAuthority checks that the actor may freeze or unfreeze partner id (rule 7) and returns it.
func (c *Channel) partnerAuthority(a Actor, id string) (*Partner, error) {
	if err := checkWriter(a); err != nil {
		return nil, err
	}
	if err := checkID("partner_id", id); err != nil {
		return nil, err
	}
	if a.Role == RolePartner {
		if _, err := c.actingPartner(a); err != nil {
			return nil, err
		}
	}
	p := c.partners[id]
	if p == nil {
		return nil, Errorf(CodeNotFound, "partner %q not found", id)
	}
	if a.Role == RolePartner && (p.Type != PartnerReseller || p.ParentID != a.PartnerID) {
		return nil, Errorf(CodeForbidden, "rule 7: partners are frozen and unfrozen by the platform, or a reseller by its own distributor; %q is not a reseller of %q", id, a.PartnerID)
	}
	return p, nil
}

func (c *Channel) decideFreezePartner(cmd FreezePartner) ([]pendingEvent, error) {
	p, err := c.partnerAuthority(cmd.Actor, cmd.PartnerID)
	if err != nil {
		return nil, err
	}
	reason, err := cleanReason(cmd.Reason)
	if err != nil {
		return nil, err
	}
	if p.Frozen {
		return nil, Errorf(CodeConflict, "partner %q is already frozen", p.ID)
	}
	return []pendingEvent{{EventPartnerFrozen, &PartnerFrozen{PartnerID: p.ID, Reason: reason}}}, nil
}

func (c *Channel) decideUnfreezePartner(cmd UnfreezePartner) ([]pendingEvent, error) {
	p, err := c.partnerAuthority(cmd.Actor, cmd.PartnerID)
	if err != nil {
		return nil, err
	}
	reason, err := cleanReason(cmd.Reason)
	if err != nil {
		return nil, err
	}
	if !p.Frozen {
		return nil, Errorf(CodeConflict, "partner %q is not frozen", p.ID)
	}
	return []pendingEvent{{EventPartnerUnfrozen, &PartnerUnfrozen{PartnerID: p.ID, Reason: reason}}}, nil
}

func (c *Channel) decideSetDelegation(cmd SetDelegation) ([]pendingEvent, error) {
	if err := checkWriter(cmd.Actor); err != nil {
		return nil, err
	}
	if err := checkID("partner_id", cmd.ResellerID); err != nil {
		return nil, err
	}
	if cmd.Actor.Role != RolePartner {
		return nil, Errorf(CodeForbidden, "rule 6: only the reseller's own distributor grants or revokes delegation")
	}
	if _, err := c.actingPartner(cmd.Actor); err != nil {
		return nil, err
	}
	r := c.partners[cmd.ResellerID]
	if r == nil {
		return nil, Errorf(CodeNotFound, "partner %q not found", cmd.ResellerID)
	}
	if r.Type != PartnerReseller || r.ParentID != cmd.Actor.PartnerID {
		return nil, Errorf(CodeForbidden, "rule 6: only the reseller's own distributor grants or revokes delegation; %q is not a reseller of %q", cmd.ResellerID, cmd.Actor.PartnerID)
	}
	var grant, revoke []Permission
	diff := func(p Permission, have, want bool) {
		switch {
		case want && !have:
			grant = append(grant, p)
		case have && !want:
			revoke = append(revoke, p)
		}
	}
	diff(PermissionFreeze, r.Delegation.Freeze, cmd.Freeze)
	diff(PermissionBudget, r.Delegation.Budget, cmd.Budget)
	var out []pendingEvent
	if len(grant) > 0 {
		out = append(out, pendingEvent{EventPartnerDelegationGranted, &PartnerDelegationGranted{PartnerID: r.ID, Permissions: grant}})
	}
	if len(revoke) > 0 {
		out = append(out, pendingEvent{EventPartnerDelegationRevoked, &PartnerDelegationRevoked{PartnerID: r.ID, Permissions: revoke}})
	}
	return out, nil
}

// decideAssociate decides an association; reservationRev is the revision of the reservation-stream
// event by which this channel holds the customer ID (rule 10).
func (c *Channel) decideAssociate(cmd AssociateCustomer, reservationRev uint64) ([]pendingEvent, error) {
	if err := c.checkAssociate(cmd); err != nil {
		return nil, err
	}
	if _, lost := c.released[reservationKey{"customer", cmd.CustomerID, reservationRev}]; lost {
		return nil, errReservationLost
	}
	target := c.partners[cmd.PartnerID]
	ev := &CustomerAssociated{
		CustomerID: cmd.CustomerID, Name: strings.TrimSpace(cmd.Name), PartnerID: cmd.PartnerID,
		Tags: cmd.Tags, AccountManager: cmd.AccountManager,
	}
	if target.Type == PartnerReseller {
		ev.DistributorID = target.ParentID
	}
	return []pendingEvent{
		{EventCustomerAssociated, ev},
		{EventCustomerFrozen, &CustomerFrozen{CustomerID: cmd.CustomerID, FreezeType: FreezeAccount, Origin: OriginAssociation, Reason: AssociationReason}},
	}, nil
}

// AssociationReason is the reason recorded on the freeze every association starts with (rule 1).
const AssociationReason = "frozen by default on association (rule 1)"

// checkAssociate is everything decideAssociate checks except the reservation.
func (c *Channel) checkAssociate(cmd AssociateCustomer) error {
	if err := checkWriter(cmd.Actor); err != nil {
		return err
	}
	if err := checkID("customer_id", cmd.CustomerID); err != nil {
		return err
	}
	if err := checkID("partner_id", cmd.PartnerID); err != nil {
		return err
	}
	name := strings.TrimSpace(cmd.Name)
	if name == "" || utf8.RuneCountInString(name) > 256 {
		return Errorf(CodeInvalid, "a customer name of 1 to 256 characters is required")
	}
	if len(cmd.Tags) > 32 {
		return Errorf(CodeInvalid, "at most 32 tags")
	}
	for _, t := range cmd.Tags {
		if t == "" || utf8.RuneCountInString(t) > 64 {
			return Errorf(CodeInvalid, "tags are 1 to 64 characters")
		}
	}
	if utf8.RuneCountInString(cmd.AccountManager) > 256 {
		return Errorf(CodeInvalid, "account_manager is at most 256 characters")
	}
	if cmd.Actor.Role != RolePartner {
		return Errorf(CodeForbidden, "rule 2: the platform manages partners, not customers; a customer is associated by its partner or the distributor of its reseller")
	}
	if _, err := c.actingPartner(cmd.Actor); err != nil {
		return err
	}
	target := c.partners[cmd.PartnerID]
	if target == nil {
		return Errorf(CodeNotFound, "partner %q not found", cmd.PartnerID)
	}
	if cmd.PartnerID != cmd.Actor.PartnerID && !(target.Type == PartnerReseller && target.ParentID == cmd.Actor.PartnerID) {
		return Errorf(CodeForbidden, "rule 2: a customer is associated by its partner or the distributor of its reseller; %q is neither for %q", cmd.Actor.PartnerID, cmd.PartnerID)
	}
	if _, ok := c.customers[cmd.CustomerID]; ok {
		return Errorf(CodeConflict, "rule 10: customer %q is already associated with a partner", cmd.CustomerID)
	}
	return nil
}

// managedCustomer returns customer id if the actor is its manager (rules 2 and 3).
func (c *Channel) managedCustomer(a Actor, id string) (*Customer, error) {
	if err := checkWriter(a); err != nil {
		return nil, err
	}
	if err := checkID("customer_id", id); err != nil {
		return nil, err
	}
	if a.Role != RolePartner {
		return nil, Errorf(CodeForbidden, "rule 2: the platform manages partners, not customers")
	}
	if _, err := c.actingPartner(a); err != nil {
		return nil, err
	}
	cu := c.customers[id]
	if cu == nil || (cu.PartnerID != a.PartnerID && cu.DistributorID != a.PartnerID) {
		return nil, Errorf(CodeNotFound, "customer %q not found", id)
	}
	if m := c.Manager(*cu); m != a.PartnerID {
		if cu.DistributorID == a.PartnerID {
			return nil, Errorf(CodeForbidden, "rule 2: distributor %q delegated the freeze permission to reseller %q, which now manages customer %q", a.PartnerID, cu.PartnerID, id)
		}
		return nil, Errorf(CodeForbidden, "rule 2: customer %q is managed by its distributor %q; reseller %q has no freeze permission", id, m, a.PartnerID)
	}
	return cu, nil
}

func normFreezeType(t FreezeType) (FreezeType, error) {
	switch t {
	case "":
		return FreezeAccount, nil
	case FreezeAccount, FreezeAccountAndResource:
		return t, nil
	}
	return "", Errorf(CodeInvalid, "freeze type must be ACCOUNT or ACCOUNT_AND_RESOURCE, not %q", t)
}

func (c *Channel) decideFreezeCustomer(a Actor, id, reason string, ft FreezeType, now time.Time, retention time.Duration) ([]pendingEvent, error) {
	cu, err := c.managedCustomer(a, id)
	if err != nil {
		return nil, err
	}
	if reason, err = cleanReason(reason); err != nil {
		return nil, err
	}
	if ft, err = normFreezeType(ft); err != nil {
		return nil, err
	}
	ev := &CustomerFrozen{CustomerID: id, FreezeType: ft, Origin: OriginManual, Reason: reason}
	if cu.Frozen {
		if cu.FreezeType == ft {
			return nil, Errorf(CodeConflict, "rule 5: customer %q is already frozen with %s", id, ft)
		}
		if ft == FreezeAccount {
			return nil, Errorf(CodeConflict, "rule 5: customer %q is frozen with ACCOUNT_AND_RESOURCE; a freeze cannot downgrade it (unfreeze it first)", id)
		}
		ev.PreviousFreezeType = cu.FreezeType
	}
	if ft == FreezeAccountAndResource {
		d := now.Add(retention)
		ev.RetentionDeadline = &d
	}
	return []pendingEvent{{EventCustomerFrozen, ev}}, nil
}

func (c *Channel) decideUnfreezeCustomer(a Actor, id, reason string, ut FreezeType) ([]pendingEvent, error) {
	cu, err := c.managedCustomer(a, id)
	if err != nil {
		return nil, err
	}
	if reason, err = cleanReason(reason); err != nil {
		return nil, err
	}
	if ut, err = normFreezeType(ut); err != nil {
		return nil, err
	}
	if !cu.Frozen {
		return nil, Errorf(CodeConflict, "rule 5: customer %q is not frozen", id)
	}
	if cu.FreezeType != ut {
		return nil, Errorf(CodeTypeMismatch, "rule 5: the unfreeze type %s must equal the freeze type %s of customer %q", ut, cu.FreezeType, id)
	}
	return []pendingEvent{{EventCustomerUnfrozen, &CustomerUnfrozen{CustomerID: id, UnfreezeType: ut, Reason: reason}}}, nil
}
