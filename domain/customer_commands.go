package domain

// The Service's customer commands: associating customers, freezing and unfreezing them one at a
// time or in batches (rule 11). Each routes to the actor's channel and decides there (the rules are in
// the customer decisions, customer_decisions.go).

import (
	"context"
	"encoding/json"
	"time"
)

// AssociateCustomer associates a new customer with a partner (by the partner itself or the
// distributor of the reseller named): customer.associated and customer.frozen (rule 1), after
// claiming the customer ID (rule 10).
func (s *Service) AssociateCustomer(ctx context.Context, cmd AssociateCustomer) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	hash := commandHash(cmd.Meta, "AssociateCustomer", plain)
	stream, err := s.actorChannel(ctx, cmd.Actor)
	if err != nil {
		return Result{}, err
	}
	return s.claimAndRun(ctx, kindCustomer, cmd.CustomerID, stream, cmd.Meta, hash, func(c *Channel, rev uint64, reserved bool) ([]pendingEvent, error) {
		if !reserved {
			return nil, c.checkAssociate(cmd)
		}
		return c.decideAssociate(cmd, rev)
	})
}

// FreezeCustomer freezes a customer or upgrades its freeze (rules 2 to 5).
func (s *Service) FreezeCustomer(ctx context.Context, cmd FreezeCustomer) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.actorChannel(ctx, cmd.Actor)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "FreezeCustomer", plain), verifiedCommand(cmd.Meta, func(c *Channel, now time.Time) ([]pendingEvent, error) {
		return c.decideFreezeCustomer(cmd.Actor, cmd.CustomerID, cmd.Reason, cmd.FreezeType, now, s.opts.Retention)
	}))
}

// UnfreezeCustomer unfreezes a customer (rules 2 to 5).
func (s *Service) UnfreezeCustomer(ctx context.Context, cmd UnfreezeCustomer) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.actorChannel(ctx, cmd.Actor)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "UnfreezeCustomer", plain), verifiedCommand(cmd.Meta, func(c *Channel, _ time.Time) ([]pendingEvent, error) {
		return c.decideUnfreezeCustomer(cmd.Actor, cmd.CustomerID, cmd.Reason, cmd.UnfreezeType)
	}))
}

// FreezeCustomers freezes up to MaxBatch customers, one result each (rule 11).
func (s *Service) FreezeCustomers(ctx context.Context, cmd FreezeCustomers) (BatchResult, error) {
	plain := cmd
	plain.Meta = Meta{}
	return s.batch(ctx, cmd.Meta, commandHash(cmd.Meta, "FreezeCustomers", plain), cmd.CustomerIDs, func(c *Channel, id string, now time.Time) ([]pendingEvent, error) {
		return c.decideFreezeCustomer(cmd.Actor, id, cmd.Reason, cmd.FreezeType, now, s.opts.Retention)
	})
}

// UnfreezeCustomers unfreezes up to MaxBatch customers, one result each (rule 11).
func (s *Service) UnfreezeCustomers(ctx context.Context, cmd UnfreezeCustomers) (BatchResult, error) {
	plain := cmd
	plain.Meta = Meta{}
	return s.batch(ctx, cmd.Meta, commandHash(cmd.Meta, "UnfreezeCustomers", plain), cmd.CustomerIDs, func(c *Channel, id string, _ time.Time) ([]pendingEvent, error) {
		return c.decideUnfreezeCustomer(cmd.Actor, id, cmd.Reason, cmd.UnfreezeType)
	})
}

func (s *Service) batch(ctx context.Context, m Meta, hash string, ids []string, decide func(c *Channel, id string, now time.Time) ([]pendingEvent, error)) (BatchResult, error) {
	return s.batchEmit(ctx, m, hash, ids, func(c *Channel, e *emitter, id string) error {
		pend, err := decide(c, id, e.now)
		if err == nil {
			e.emit(pend...)
		}
		return err
	})
}

// batchEmit runs a batch whose per-customer decision emits its own events (a refusal emits none).
func (s *Service) batchEmit(ctx context.Context, m Meta, hash string, ids []string, decide func(c *Channel, e *emitter, id string) error) (BatchResult, error) {
	if len(ids) == 0 || len(ids) > MaxBatch {
		return BatchResult{}, Errorf(CodeInvalid, "rule 11: a batch takes 1 to %d customers, not %d", MaxBatch, len(ids))
	}
	if err := checkWriter(m.Actor); err != nil {
		return BatchResult{}, err
	}
	if err := s.checkKey(m, hash); err != nil {
		return BatchResult{}, err
	}
	stream, err := s.actorChannel(ctx, m.Actor)
	if err != nil {
		return BatchResult{}, err
	}
	items := make([]ItemResult, len(ids))
	if stream == "" {
		empty := NewChannel("")
		e := &emitter{c: empty, now: s.now(), newID: s.opts.NewID, req: &request{}} // refusals only; thrown away
		for i, id := range ids {
			err := decide(empty, e, id)
			items[i] = ItemResult{CustomerID: id, Err: err}
		}
		return BatchResult{Items: items}, nil
	}
	r := newRequest(m, hash, func(c *Channel, e *emitter) error {
		if err := c.checkVerification(m); err != nil { // every batch is a critical operation (rule 19)
			return err
		}
		for i, id := range ids {
			items[i] = ItemResult{CustomerID: id, Err: decide(c, e, id)}
		}
		return nil
	})
	if err := s.exec(stream, r); err != nil {
		return BatchResult{}, err
	}
	res, err := s.resultOf(ctx, stream, r)
	if err != nil {
		return BatchResult{}, err
	}
	if r.replay {
		done := map[string]bool{}
		for _, ev := range res.Events {
			done[customerOf(ev)] = true
		}
		for i, id := range ids {
			items[i] = ItemResult{CustomerID: id}
			if !done[id] {
				items[i].Err = Errorf(CodeConflict, "rule 11: customer %q was refused in the first request with this idempotency key, which appended nothing for it", id)
			}
		}
	}
	if len(r.events) > 0 || r.replay {
		s.rememberKey(m, hash)
	}
	out := BatchResult{Items: items, Replayed: res.Replayed}
	if len(res.Events) > 0 {
		out.Position = res.Position
	}
	return out, nil
}

func customerOf(ev StoredEvent) string {
	var d struct {
		CustomerID string `json:"customer_id"`
	}
	_ = json.Unmarshal(ev.Data, &d)
	return d.CustomerID
}
