package domain

// The Service's personal-data commands (rule 21): changing a customer's sealed personal fields and
// erasing them. The decisions are in personal_decisions.go.

import (
	"context"
	"time"
)

// ChangePersonalData sets or clears a customer's personal fields (its manager; rules 2, 3 and 21).
func (s *Service) ChangePersonalData(ctx context.Context, cmd ChangePersonalData) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.actorChannel(ctx, cmd.Actor)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "ChangePersonalData", plain), func(c *Channel, _ time.Time) ([]pendingEvent, error) {
		return c.decideChangePersonal(cmd)
	})
}

// ErasePersonalData records the erasure of a customer's personal data (rule 21): an admin of the
// customer's own partner or the platform. The caller destroys the key the event names
// (CustomerPersonalDataErased.KeyID) once it is appended. It is a critical operation (rule 19): an
// admin of a partner with verification on needs a code; the platform is not asked.
func (s *Service) ErasePersonalData(ctx context.Context, cmd ErasePersonalData) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	var stream string
	var err error
	if cmd.Actor.Role == RolePlatform && checkWriter(cmd.Actor) == nil {
		stream, err = s.CustomerChannel(ctx, cmd.CustomerID)
	} else {
		stream, err = s.actorChannel(ctx, cmd.Actor)
	}
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "ErasePersonalData", plain), verifiedCommand(cmd.Meta, func(c *Channel, _ time.Time) ([]pendingEvent, error) {
		return c.decideErasePersonal(cmd)
	}))
}
