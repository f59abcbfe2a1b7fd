package domain

// Verification codes for critical operations (rule 19), as the domain sees them: a partner admin's
// switch (partner.verification_set), and the check every critical command makes against it. The
// codes themselves (TOTP, RFC 6238) never reach the domain: the caller checks them and sets
// Meta.Verified, which the events record as metadata "verification": "totp". Deciding the check
// here, in the channel that holds the partner's switch, makes it strict in log order: a critical
// event by a partner's principal that follows the switch being turned on is verified, also when the
// two requests race, and the history validator re-decides it from the log.

import (
	"context"
	"time"
)

// VerificationTOTP is Metadata.Verification of an operation verified with a TOTP code.
const VerificationTOTP = "totp"

// PartnerVerificationSet: a partner admin switched verification codes on (Enabled) or off for its
// partner (rule 19).
type PartnerVerificationSet struct {
	PartnerID string `json:"partner_id"`
	Enabled   bool   `json:"enabled"`
}

// SetVerification switches verification codes on or off for PartnerID (rule 19): by an admin of that
// partner only, verified both ways (turning it on proves the admin holds a working enrolment;
// turning it off is itself a critical operation). Setting what it is appends nothing.
type SetVerification struct {
	Meta
	PartnerID string
	Enabled   bool
}

// SetVerification decides a SetVerification in the partner's channel.
func (s *Service) SetVerification(ctx context.Context, cmd SetVerification) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.actorChannel(ctx, cmd.Actor)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "SetVerification", plain), func(c *Channel, _ time.Time) ([]pendingEvent, error) {
		return c.decideSetVerification(cmd.Meta, cmd.PartnerID, cmd.Enabled)
	})
}

func (c *Channel) decideSetVerification(m Meta, partnerID string, enabled bool) ([]pendingEvent, error) {
	if err := checkWriter(m.Actor); err != nil {
		return nil, err
	}
	if err := checkID("partner_id", partnerID); err != nil {
		return nil, err
	}
	if m.Actor.Role != RolePartner {
		return nil, Errorf(CodeForbidden, "rule 19: verification is switched by an admin of the partner itself, not by role %q", m.Actor.Role)
	}
	if m.Actor.PartnerID != partnerID {
		if p := c.partners[partnerID]; p == nil || p.ParentID != m.Actor.PartnerID {
			return nil, Errorf(CodeNotFound, "partner %q not found", partnerID)
		}
		return nil, Errorf(CodeForbidden, "rule 19: only an admin of partner %q switches its verification codes", partnerID)
	}
	p, err := c.actingPartner(m.Actor)
	if err != nil {
		return nil, err
	}
	if !m.Admin {
		return nil, Errorf(CodeForbidden, "rule 19: only a partner admin switches verification codes; %q is not an admin of %q", m.Actor.Name, partnerID)
	}
	if !m.Verified {
		if enabled {
			return nil, Errorf(CodeVerificationRequired, "rule 19: switching verification on needs a valid code of the admin's own enrolment (X-Verification-Code), so that it cannot lock the partner out")
		}
		return nil, Errorf(CodeVerificationRequired, "rule 19: switching verification off needs a valid code (X-Verification-Code)")
	}
	if p.VerificationRequired == enabled {
		return nil, nil
	}
	return []pendingEvent{{EventPartnerVerificationSet, &PartnerVerificationSet{PartnerID: partnerID, Enabled: enabled}}}, nil
}

// checkVerification is the check every critical command makes (rule 19): an actor of role partner
// whose partner has verification on must carry a verified code. Other roles (the platform, a
// customer, the system) are no partner's principals and are not asked.
//
// Critical commands, each calling it in its decision (or through verifiedCommand): freeze and
// unfreeze of customers (single and batch, Service.batchEmit), freeze and unfreeze of partners,
// delegation, the verification switch (decideSetVerification, stricter), the disassociation
// requests and answers, setting a budget (SetBudget, with its unfreeze; SetBudgets through
// batchEmit) and removing one, quotas (SetQuota), and erasing personal data. criticalEvent is the
// same list as the validator meets it; a new critical command joins both.
func (c *Channel) checkVerification(m Meta) error {
	if m.Actor.Role != RolePartner || m.Verified {
		return nil
	}
	p := c.partners[m.Actor.PartnerID]
	if p == nil || !p.VerificationRequired {
		return nil
	}
	return Errorf(CodeVerificationRequired, "rule 19: partner %q requires a verification code for critical operations; this one carries no valid, unused code (X-Verification-Code)", p.ID)
}

// verifiedCommand wraps a critical command's decision with checkVerification.
func verifiedCommand(m Meta, decide func(c *Channel, now time.Time) ([]pendingEvent, error)) func(c *Channel, now time.Time) ([]pendingEvent, error) {
	return func(c *Channel, now time.Time) ([]pendingEvent, error) {
		if err := c.checkVerification(m); err != nil {
			return nil, err
		}
		return decide(c, now)
	}
}

// criticalEvent reports whether an event, as the validator meets it, records a critical operation
// (rule 19) whose actor must have been verified if its partner required it. System events (retention,
// lapses) and the platform's are never asked (checkVerification looks at partner actors only).
func criticalEvent(typ string) bool {
	switch typ {
	case EventCustomerFrozen, EventCustomerUnfrozen, EventPartnerFrozen, EventPartnerUnfrozen,
		EventPartnerDelegationGranted, EventPartnerDelegationRevoked,
		EventDisassociationRequested, EventDisassociationAccepted, EventDisassociationRejected,
		EventBudgetSet, EventBudgetRemoved, EventPartnerQuotaSet, EventCustomerPersonalDataErased:
		return true
	}
	return false
}

// verificationOf is the Metadata.Verification of a command's events.
func verificationOf(m Meta) string {
	if m.Verified {
		return VerificationTOTP
	}
	return ""
}

// customerOfActor is the Metadata.ActorCustomerID of a command's events: the customer an actor of
// role customer is, empty for other roles.
func customerOfActor(m Meta) string {
	if m.Actor.Role == RoleCustomer {
		return m.CustomerID
	}
	return ""
}

// metaOf is the Meta a stored event's metadata records, for re-deciding it (the validator).
func metaOf(md *Metadata) Meta {
	return Meta{Actor: md.Actor, Verified: md.Verification == VerificationTOTP, Admin: md.ActorAdmin, CustomerID: md.ActorCustomerID}
}
