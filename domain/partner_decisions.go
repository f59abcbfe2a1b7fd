package domain

// The partner decisions: registering a partner, freezing and unfreezing one (rules 3, 4 and 7), and a
// distributor's delegation to a reseller (rule 6), each decided against a Channel into events or an
// *Error.

import (
	"strings"
	"unicode/utf8"
)

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
