package domain

// The Service's disassociation commands (rule 20): the request, the answers, and the lapse sweep.
// A partner admin's command goes to its own channel; a customer's to the channel that holds it,
// looked up afresh (not from the directory's cache: the association may have ended on another
// instance).

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// RequestDisassociation asks to end CustomerID's association (rule 20).
type RequestDisassociation struct {
	Meta
	CustomerID string
	Reason     string
}

// AnswerDisassociation accepts (Accept) or rejects the pending request of CustomerID (rule 20).
type AnswerDisassociation struct {
	Meta
	CustomerID string
	Reason     string
	Accept     bool
}

// disassociationChannel is the channel a disassociation command decides in.
func (s *Service) disassociationChannel(ctx context.Context, m Meta, id string) (string, error) {
	if m.Actor.Role != RoleCustomer {
		return s.actorChannel(ctx, m.Actor)
	}
	if m.CustomerID != id || !ValidID(id) {
		return "", Errorf(CodeNotFound, "customer %q not found", truncateString(id, 80))
	}
	s.mu.Lock()
	delete(s.customers, id)
	s.mu.Unlock()
	return s.CustomerChannel(ctx, id)
}

// RequestDisassociation decides a request: customer.disassociation_requested, lapsing after
// DisassociationAnswerWindow.
func (s *Service) RequestDisassociation(ctx context.Context, cmd RequestDisassociation) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.disassociationChannel(ctx, cmd.Meta, cmd.CustomerID)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "RequestDisassociation", plain), func(c *Channel, now time.Time) ([]pendingEvent, error) {
		return c.decideRequestDisassociation(cmd.Meta, cmd.CustomerID, cmd.Reason, now)
	})
}

// AnswerDisassociation decides an answer: customer.disassociation_accepted (the association ends
// and the customer's rule 10 reservation is released with it) or customer.disassociation_rejected.
func (s *Service) AnswerDisassociation(ctx context.Context, cmd AnswerDisassociation) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.disassociationChannel(ctx, cmd.Meta, cmd.CustomerID)
	if err != nil {
		return Result{}, err
	}
	var rev uint64
	if cmd.Accept && stream != "" && ValidID(cmd.CustomerID) {
		// While the customer is associated in stream, no other reservation can follow this one.
		if rev, err = s.reservationHeld(ctx, cmd.CustomerID, stream); err != nil {
			return Result{}, err
		}
	}
	res, err := s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "AnswerDisassociation", plain), func(c *Channel, now time.Time) ([]pendingEvent, error) {
		return c.decideAnswerDisassociation(cmd.Meta, cmd.CustomerID, cmd.Reason, cmd.Accept, now, rev)
	})
	if err == nil && cmd.Accept {
		s.mu.Lock()
		if s.customers[cmd.CustomerID] == stream {
			delete(s.customers, cmd.CustomerID)
		}
		s.mu.Unlock()
	}
	return res, err
}

// reservationHeld is the revision of the latest id.reserved event of customer id, which must name
// stream (else the customer is not associated there: not_found).
func (s *Service) reservationHeld(ctx context.Context, id, stream string) (uint64, error) {
	rs := kindCustomer.reservationStream(id)
	evs, err := s.log.Read(ctx, rs, 0)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", rs, err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type != EventIDReserved {
			continue
		}
		var d IDReserved
		if json.Unmarshal(evs[i].Data, &d) == nil && d.Channel == stream {
			return evs[i].Revision, nil
		}
		break
	}
	return 0, Errorf(CodeNotFound, "customer %q not found", id)
}

// LapseDisassociations appends customer.disassociation_lapsed (system actor) for every pending
// request unanswered for DisassociationAnswerWindow by the clock's now, once each, in every channel
// (found as ReleaseExpiredResources finds them), and returns how many.
func (s *Service) LapseDisassociations(ctx context.Context) (int, error) {
	return s.sweep(ctx, "lapse", true, nil, func(c *Channel, e *emitter) int {
		n := 0
		for _, id := range dueIDs(c.lapsing, e.now) {
			if pend, err := c.decideLapseDisassociation(id, e.now); err == nil {
				e.emit(pend...)
				n += len(pend)
			}
		}
		return n
	})
}
