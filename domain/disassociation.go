package domain

// Ending an association (rule 20): the request by an admin of the customer's partner or by the
// customer itself, the other side's answer, the lapse after DisassociationAnswerWindow (system), and
// what acceptance ends. The events, the channel state they apply to (applyDisassociation) and the
// decisions are here; the Service's commands are in disassociation_commands.go.
//
// Decisions written down here (DOMAIN.md is silent on them):
//   - "an admin of the customer's partner" is the partner the customer is associated with, not the
//     distributor of a reseller's customer;
//   - a request is refused while the customer has an own freeze of origin manual (lift it first),
//     while another request is pending, and within DisassociationCooldown of the latest request of
//     either side in the channel (whatever its outcome); acceptance is refused too while a manual
//     freeze stands, so that a freeze made after the request is lifted first as well;
//   - an answer after the request's expiry is refused (the request has lapsed, even before the
//     sweep records it);
//   - acceptance ends the customer's own freeze (whatever its origin), its budget (given back to the
//     reseller's quota it was charged to; no reset or threshold follows) and the association: the
//     customer stays in the channel's history, its rule 10 reservation is released by the acceptance
//     event itself (so exactly once: no second event can release it), and another partner (or this
//     one) may associate it afresh, frozen by default again (rule 1). The 90-day refusal counts the
//     requests of the channel it is associated with.

import (
	"strings"
	"time"
	"unicode/utf8"
)

// DisassociationAnswerWindow is how long a request waits for its answer before it lapses, and
// DisassociationCooldown how long after a request no new one may be made (rule 20).
const (
	DisassociationAnswerWindow = 7 * 24 * time.Hour
	DisassociationCooldown     = 90 * 24 * time.Hour
)

// Disassociation states.
const (
	DisassociationStatePending  = "pending"
	DisassociationStateAccepted = "accepted"
	DisassociationStateRejected = "rejected"
	DisassociationStateLapsed   = "lapsed"
)

// LapseReason is the reason recorded on customer.disassociation_lapsed.
const LapseReason = "no answer within 7 days (rule 20)"

// DisassociationRequested: a disassociation was asked for, by an admin of the customer's partner or
// by the customer (the actor says who); it lapses at ExpiresAt.
type DisassociationRequested struct {
	CustomerID string    `json:"customer_id"`
	Reason     string    `json:"reason"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// DisassociationAccepted: the other side accepted; the association ended. ReservationRevision is the
// revision, in the customer's reservation stream, of the id.reserved event this acceptance releases
// (rule 10), as IDReservationReleased.ReservationRevision.
type DisassociationAccepted struct {
	CustomerID          string `json:"customer_id"`
	Reason              string `json:"reason"`
	ReservationRevision uint64 `json:"reservation_revision"`
}

// DisassociationRejected: the other side rejected the request; the association stays.
type DisassociationRejected struct {
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason"`
}

// DisassociationLapsed: the request went unanswered for DisassociationAnswerWindow (system actor).
type DisassociationLapsed struct {
	CustomerID string `json:"customer_id"`
	Reason     string `json:"reason"`
}

// Disassociation is a customer's latest disassociation request and its outcome.
type Disassociation struct {
	RequestedBy  Actor
	ByCustomer   bool // requested by the customer itself (else by an admin of its partner)
	RequestedAt  time.Time
	Reason       string
	State        string // DisassociationStatePending, ...Accepted, ...Rejected, ...Lapsed
	AnsweredAt   time.Time
	AnswerReason string
	ExpiresAt    time.Time
}

// applyDisassociation applies the rule 20 events (part of apply: total, never fails).
func (c *Channel) applyDisassociation(data any, meta *Metadata, at time.Time) {
	var id string
	switch d := data.(type) {
	case *DisassociationRequested:
		id = d.CustomerID
	case *DisassociationAccepted:
		id = d.CustomerID
	case *DisassociationRejected:
		id = d.CustomerID
	case *DisassociationLapsed:
		id = d.CustomerID
	}
	cu := c.touchCustomer(id)
	if cu == nil {
		return
	}
	var dis Disassociation
	if cu.Disassociation != nil {
		dis = *cu.Disassociation
	}
	switch d := data.(type) {
	case *DisassociationRequested:
		dis = Disassociation{RequestedAt: at, Reason: d.Reason, State: DisassociationStatePending, ExpiresAt: d.ExpiresAt}
		if meta != nil {
			dis.RequestedBy, dis.ByCustomer = meta.Actor, meta.Actor.Role == RoleCustomer
		}
	case *DisassociationAccepted:
		dis.State, dis.AnsweredAt, dis.AnswerReason = DisassociationStateAccepted, at, d.Reason
		cu.Disassociated = true
		cu.Frozen, cu.FreezeType, cu.Origin, cu.Reason, cu.FrozenBy = false, "", "", "", ""
		cu.FrozenAt, cu.ResourceFrozenAt, cu.RetentionDeadline = time.Time{}, time.Time{}, time.Time{}
		c.endBudget(d, at)
		k := reservationKey{kindCustomer, d.CustomerID, d.ReservationRevision}
		c.j.saveReservation(c, k)
		c.released[k] = struct{}{}
	case *DisassociationRejected:
		dis.State, dis.AnsweredAt, dis.AnswerReason = DisassociationStateRejected, at, d.Reason
	case *DisassociationLapsed:
		dis.State, dis.AnsweredAt, dis.AnswerReason = DisassociationStateLapsed, at, d.Reason
	}
	cu.Disassociation = &dis
	c.syncDue(cu)
}

// syncLapsing keeps the index of pending requests the lapse sweep reads (called by syncDue).
func (c *Channel) syncLapsing(cu *Customer) {
	if cu.Disassociation != nil && cu.Disassociation.State == DisassociationStatePending && !cu.Disassociated {
		if c.lapsing == nil {
			c.lapsing = map[string]time.Time{}
		}
		c.lapsing[cu.ID] = cu.Disassociation.ExpiresAt
	} else if c.lapsing != nil {
		delete(c.lapsing, cu.ID)
	}
}

// disassociationReason checks a request's or an answer's reason: 1 to 256 characters after trimming.
func disassociationReason(r string) (string, error) {
	t := strings.TrimSpace(r)
	if n := utf8.RuneCountInString(t); n < 1 || n > 256 {
		return "", Errorf(CodeInvalid, "rule 20: a reason of 1 to 256 characters after trimming is required (got %d)", n)
	}
	return t, nil
}

// disassociationParty returns the associated customer id if the actor may take part in its
// disassociation: the customer itself (role customer, its own ID), or an admin of its partner (who
// must be able to act, rule 3, and be verified where its partner requires it, rule 19). It returns
// whether the actor is the customer. Anyone else is not_found (a customer it cannot see) or
// forbidden.
func (c *Channel) disassociationParty(m Meta, id string) (*Customer, bool, error) {
	if err := checkID("customer_id", id); err != nil {
		return nil, false, err
	}
	if strings.TrimSpace(m.Actor.Name) == "" {
		return nil, false, Errorf(CodeInvalid, "the actor has no name: every event records its operator")
	}
	cu := c.customers[id]
	switch m.Actor.Role {
	case RoleCustomer:
		if m.CustomerID != id || cu == nil || cu.Disassociated {
			return nil, false, Errorf(CodeNotFound, "customer %q not found", id)
		}
		return cu, true, nil
	case RolePartner:
		if _, err := c.actingPartner(m.Actor); err != nil {
			return nil, false, err
		}
		if cu == nil || cu.Disassociated || (cu.PartnerID != m.Actor.PartnerID && cu.DistributorID != m.Actor.PartnerID) {
			return nil, false, Errorf(CodeNotFound, "customer %q not found", id)
		}
		if cu.PartnerID != m.Actor.PartnerID {
			return nil, false, Errorf(CodeForbidden, "rule 20: a disassociation is between customer %q and its partner %q, not its distributor %q", id, cu.PartnerID, m.Actor.PartnerID)
		}
		if !m.Admin {
			return nil, false, Errorf(CodeForbidden, "rule 20: only an admin of partner %q takes part in a disassociation; %q is not one", cu.PartnerID, m.Actor.Name)
		}
		if err := c.checkVerification(m); err != nil {
			return nil, false, err
		}
		return cu, false, nil
	}
	if err := checkWriter(m.Actor); err != nil {
		return nil, false, err
	}
	return nil, false, Errorf(CodeForbidden, "rule 20: a disassociation is between a customer and an admin of its partner, not role %q", m.Actor.Role)
}

func refuseManualFreeze(cu *Customer) error {
	if cu.Frozen && cu.Origin == OriginManual {
		return Errorf(CodeConflict, "rule 20: customer %q has a manual freeze (%s, %q by %s); it must be lifted before the association can end", cu.ID, cu.FreezeType, cu.Reason, cu.FrozenBy)
	}
	return nil
}

// decideRequestDisassociation decides a request (rule 20).
func (c *Channel) decideRequestDisassociation(m Meta, id, reason string, now time.Time) ([]pendingEvent, error) {
	cu, _, err := c.disassociationParty(m, id)
	if err != nil {
		return nil, err
	}
	if reason, err = disassociationReason(reason); err != nil {
		return nil, err
	}
	if err := refuseManualFreeze(cu); err != nil {
		return nil, err
	}
	if d := cu.Disassociation; d != nil {
		if d.State == DisassociationStatePending && now.Before(d.ExpiresAt) {
			return nil, Errorf(CodeConflict, "rule 20: a disassociation of customer %q requested at %s is pending until %s", id, d.RequestedAt.Format(time.RFC3339), d.ExpiresAt.Format(time.RFC3339))
		}
		if d.State == DisassociationStatePending {
			return nil, Errorf(CodeConflict, "rule 20: the disassociation of customer %q requested at %s has lapsed and is being recorded; try again", id, d.RequestedAt.Format(time.RFC3339))
		}
		if until := d.RequestedAt.Add(DisassociationCooldown); now.Before(until) {
			return nil, Errorf(CodeConflict, "rule 20: a disassociation of customer %q was requested at %s; another may be requested only 90 days later, from %s", id, d.RequestedAt.Format(time.RFC3339), until.Format(time.RFC3339))
		}
	}
	return []pendingEvent{{EventDisassociationRequested, &DisassociationRequested{CustomerID: id, Reason: reason, ExpiresAt: now.Add(DisassociationAnswerWindow)}}}, nil
}

// decideAnswerDisassociation decides an acceptance or a rejection by the other side (rule 20).
// reservationRev is the revision of the id.reserved event by which this channel holds the customer
// (rule 10); an acceptance releases it.
func (c *Channel) decideAnswerDisassociation(m Meta, id, reason string, accept bool, now time.Time, reservationRev uint64) ([]pendingEvent, error) {
	cu, isCustomer, err := c.disassociationParty(m, id)
	if err != nil {
		return nil, err
	}
	if reason, err = disassociationReason(reason); err != nil {
		return nil, err
	}
	d := cu.Disassociation
	if d == nil || d.State != DisassociationStatePending {
		return nil, Errorf(CodeConflict, "rule 20: customer %q has no pending disassociation request", id)
	}
	if !now.Before(d.ExpiresAt) {
		return nil, Errorf(CodeConflict, "rule 20: the disassociation request of customer %q lapsed at %s, unanswered", id, d.ExpiresAt.Format(time.RFC3339))
	}
	if isCustomer == d.ByCustomer {
		return nil, Errorf(CodeForbidden, "rule 20: the request of customer %q is answered by the other side (%s asked)", id, d.RequestedBy.Name)
	}
	if !accept {
		return []pendingEvent{{EventDisassociationRejected, &DisassociationRejected{CustomerID: id, Reason: reason}}}, nil
	}
	if err := refuseManualFreeze(cu); err != nil {
		return nil, err
	}
	return []pendingEvent{{EventDisassociationAccepted, &DisassociationAccepted{CustomerID: id, Reason: reason, ReservationRevision: reservationRev}}}, nil
}

// decideLapseDisassociation records that customer id's pending request went unanswered by now
// (system actor).
func (c *Channel) decideLapseDisassociation(id string, now time.Time) ([]pendingEvent, error) {
	cu := c.customers[id]
	if cu == nil || cu.Disassociated || cu.Disassociation == nil || cu.Disassociation.State != DisassociationStatePending {
		return nil, Errorf(CodeConflict, "rule 20: customer %q has no pending disassociation request", id)
	}
	if now.Before(cu.Disassociation.ExpiresAt) {
		return nil, Errorf(CodeConflict, "rule 20: the disassociation request of customer %q is open until %s", id, cu.Disassociation.ExpiresAt.Format(time.RFC3339Nano))
	}
	return []pendingEvent{{EventDisassociationLapsed, &DisassociationLapsed{CustomerID: id, Reason: LapseReason}}}, nil
}
