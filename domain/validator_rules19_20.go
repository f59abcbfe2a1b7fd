package domain

// The history validator's part for rules 19 and 20: the metadata the phase-2 actors carry, and the
// re-decision of the verification switch and the disassociation events. (The verification check of
// every critical event is in checkChannelEvent, through checkVerification, as the Service makes it.)

import "time"

// checkPhase2Metadata refuses metadata that no command writes: an admin flag on a role other than
// partner, a customer ID on a role other than customer (or none on a customer), a verification
// other than "totp".
func checkPhase2Metadata(m *Metadata) string {
	switch {
	case m.ActorAdmin && m.Actor.Role != RolePartner:
		return "actor_admin is set on an actor of role " + string(m.Actor.Role) + "; only partner principals are admins"
	case m.Actor.Role == RoleCustomer && !ValidID(m.ActorCustomerID):
		return "an actor of role customer without a valid actor_customer_id"
	case m.Actor.Role != RoleCustomer && m.ActorCustomerID != "":
		return "actor_customer_id is set on an actor of role " + string(m.Actor.Role)
	case m.Verification != "" && m.Verification != VerificationTOTP:
		return "verification " + m.Verification + " is not one this service records (totp)"
	}
	return ""
}

// decideRules19And20 re-decides a partner.verification_set or a disassociation event against c. It
// returns what the decision produced, an after func to run once the event is accepted, the
// decision's refusal, or a violation of what no decision sees (the reservation an acceptance releases).
func (v *HistoryValidator) decideRules19And20(c *Channel, ev *StoredEvent, m Meta, now time.Time, data any, viol func(string, string, ...any) error) ([]pendingEvent, func(), error, error) {
	switch d := data.(type) {
	case *PartnerVerificationSet:
		produced, err := c.decideSetVerification(m, d.PartnerID, d.Enabled)
		return produced, nil, err, nil
	case *DisassociationRequested:
		produced, err := c.decideRequestDisassociation(m, d.CustomerID, d.Reason, now)
		return produced, nil, err, nil
	case *DisassociationRejected:
		produced, err := c.decideAnswerDisassociation(m, d.CustomerID, d.Reason, false, now, 0)
		return produced, nil, err, nil
	case *DisassociationAccepted:
		r := v.resOf(kindCustomer, d.CustomerID)
		if !r.any || r.holders[r.current] != ev.Stream || r.released[r.current] || d.ReservationRevision != r.current {
			return nil, nil, nil, viol("rule 10", "the disassociation of customer %q releases reservation %d, not the live reservation %s holds", d.CustomerID, d.ReservationRevision, ev.Stream)
		}
		produced, err := c.decideAnswerDisassociation(m, d.CustomerID, d.Reason, true, now, r.current)
		after := func() {
			r.released[r.current] = true
			r.taken = false
		}
		return produced, after, err, nil
	case *DisassociationLapsed:
		if m.Actor.Role != RoleSystem {
			return nil, nil, nil, viol("rule 20", "a request lapses by the system actor, not %q", m.Actor.Name)
		}
		produced, err := c.decideLapseDisassociation(d.CustomerID, now)
		return produced, nil, err, nil
	}
	return nil, nil, nil, viol("stream", "%s events do not belong in a channel stream", ev.Type)
}
