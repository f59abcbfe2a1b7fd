package domain

// The customer decisions: associating a customer (rules 1 and 10), and freezing and unfreezing it
// (rules 2 to 5 and 8's retention deadline; its manager is manager.go's), each decided against a
// Channel into events or an *Error.

import (
	"strings"
	"time"
	"unicode/utf8"
)

// decideAssociate decides an association; reservationRev is the revision of the reservation-stream
// event by which this channel holds the customer ID (rule 10).
func (c *Channel) decideAssociate(cmd AssociateCustomer, reservationRev uint64) ([]pendingEvent, error) {
	if err := c.checkAssociate(cmd); err != nil {
		return nil, err
	}
	if _, lost := c.released[reservationKey{kindCustomer, cmd.CustomerID, reservationRev}]; lost {
		return nil, errReservationLost
	}
	target := c.partners[cmd.PartnerID]
	ev := &CustomerAssociated{
		CustomerID: cmd.CustomerID, Name: strings.TrimSpace(cmd.Name), PartnerID: cmd.PartnerID,
		Tags: cmd.Tags, AccountManager: cmd.AccountManager, Personal: cmd.Personal,
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
	if err := checkAssociationPersonal(cmd.Personal); err != nil {
		return err
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
	if c.holds(kindCustomer, cmd.CustomerID) {
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
	if cu == nil || cu.Disassociated || (cu.PartnerID != a.PartnerID && cu.DistributorID != a.PartnerID) {
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
