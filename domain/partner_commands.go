package domain

// The Service's partner commands: registering partners, freezing and unfreezing them, and a
// distributor's delegation to its resellers. Each routes to its channel and decides there (the rules are
// in the partner decisions, partner_decisions.go).

import (
	"context"
	"time"
)

// RegisterPartner registers a distributor or solution provider (platform) or a reseller (its
// distributor, or the platform naming ParentID). The partner ID is claimed in its reservation stream
// first (unique across channels).
func (s *Service) RegisterPartner(ctx context.Context, cmd RegisterPartner) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	hash := commandHash(cmd.Meta, "RegisterPartner", plain)
	var stream string
	switch {
	case cmd.Type != PartnerReseller:
		if cmd.Actor.Role == RolePlatform && ValidID(cmd.PartnerID) {
			stream = ChannelStream(cmd.PartnerID)
		}
	case cmd.Actor.Role == RolePlatform:
		if ValidID(cmd.ParentID) {
			ch, err := s.PartnerChannel(ctx, cmd.ParentID)
			if err != nil {
				return Result{}, err
			}
			stream = ch
		}
	default:
		ch, err := s.actorChannel(ctx, cmd.Actor)
		if err != nil {
			return Result{}, err
		}
		stream = ch
	}
	return s.claimAndRun(ctx, kindPartner, cmd.PartnerID, stream, cmd.Meta, hash, func(c *Channel, rev uint64, reserved bool) ([]pendingEvent, error) {
		pend, err := c.decideRegisterPartner(cmd)
		if err == nil && reserved {
			if _, lost := c.released[reservationKey{kindPartner, cmd.PartnerID, rev}]; lost {
				return nil, errReservationLost
			}
		}
		return pend, err
	})
}

// FreezePartner freezes a partner (platform: any; a distributor: its resellers); rule 3 then stops it
// acting, rule 7 cascades in the read models.
func (s *Service) FreezePartner(ctx context.Context, cmd FreezePartner) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.partnerCommandChannel(ctx, cmd.Actor, cmd.PartnerID)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "FreezePartner", plain), verifiedCommand(cmd.Meta, func(c *Channel, _ time.Time) ([]pendingEvent, error) {
		return c.decideFreezePartner(cmd)
	}))
}

// UnfreezePartner unfreezes a partner (platform: any; a distributor: its resellers).
func (s *Service) UnfreezePartner(ctx context.Context, cmd UnfreezePartner) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.partnerCommandChannel(ctx, cmd.Actor, cmd.PartnerID)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "UnfreezePartner", plain), verifiedCommand(cmd.Meta, func(c *Channel, _ time.Time) ([]pendingEvent, error) {
		return c.decideUnfreezePartner(cmd)
	}))
}

// SetDelegation sets a reseller's delegated permissions (rule 6). Setting what it already has appends
// nothing and returns the channel's current position.
func (s *Service) SetDelegation(ctx context.Context, cmd SetDelegation) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.actorChannel(ctx, cmd.Actor)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "SetDelegation", plain), verifiedCommand(cmd.Meta, func(c *Channel, _ time.Time) ([]pendingEvent, error) {
		return c.decideSetDelegation(cmd)
	}))
}
