package domain

// The Service's budget commands (rules 14 to 18): setting and removing budgets, singly and in
// batches, a distributor's quotas, and the monthly reset job.

import (
	"context"
	"slices"
	"time"
)

// setBudgetIn emits customer id's budget setting and its follow-ups, and, with unfreeze, the
// customer's unfreeze by the same actor (rule 17). Nothing is emitted when it refuses.
func (c *Channel) setBudgetIn(e *emitter, a Actor, id string, spec BudgetSpec, unfreeze bool, reason string) error {
	pend, err := c.decideSetBudget(a, id, spec, e.now)
	if err != nil {
		return err
	}
	var unfr []pendingEvent
	if unfreeze {
		cu := c.customers[id]
		if unfr, err = c.decideUnfreezeCustomer(a, id, reason, cu.FreezeType); err != nil {
			return err
		}
		if err := c.checkBudgetUnfreeze(id, spec, e.now); err != nil {
			return err
		}
	}
	e.emit(pend...)
	e.emit(asSystem(c.budgetFollowUps(id, false))...)
	e.emit(unfr...)
	return nil
}

// SetBudget sets a customer's budget (rules 14, 15, 18), with its follow-ups (rules 16, 17) and, if
// asked, the customer's unfreeze in the same append (rule 17). It is a critical operation (rule 19).
func (s *Service) SetBudget(ctx context.Context, cmd SetBudget) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	hash := commandHash(cmd.Meta, "SetBudget", plain)
	stream, err := s.actorChannel(ctx, cmd.Actor)
	if err != nil {
		return Result{}, err
	}
	if stream == "" {
		_, err := NewChannel("").decideSetBudget(cmd.Actor, cmd.CustomerID, cmd.Budget, s.now())
		if err == nil {
			err = Errorf(CodeForbidden, "actor %q has no channel to act in", cmd.Actor.Name)
		}
		return Result{}, err
	}
	if err := s.checkKey(cmd.Meta, hash); err != nil {
		return Result{}, err
	}
	r := newRequest(cmd.Meta, hash, func(c *Channel, e *emitter) error {
		if err := c.checkVerification(cmd.Meta); err != nil { // a critical operation (rule 19)
			return err
		}
		return c.setBudgetIn(e, cmd.Actor, cmd.CustomerID, cmd.Budget, cmd.Unfreeze, cmd.Reason)
	})
	if err := s.exec(stream, r); err != nil {
		return Result{}, err
	}
	return s.resultOf(ctx, stream, r)
}

// RemoveBudget removes a customer's budget (rule 15); a budget freeze stays until lifted. It is a
// critical operation (rule 19).
func (s *Service) RemoveBudget(ctx context.Context, cmd RemoveBudget) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.actorChannel(ctx, cmd.Actor)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "RemoveBudget", plain), verifiedCommand(cmd.Meta, func(c *Channel, _ time.Time) ([]pendingEvent, error) {
		return c.decideRemoveBudget(cmd.Actor, cmd.CustomerID)
	}))
}

// SetBudgets sets one budget on up to MaxBatch customers, one result each (rule 11); like every
// batch it is a critical operation (rule 19, checked by batchEmit).
func (s *Service) SetBudgets(ctx context.Context, cmd SetBudgets) (BatchResult, error) {
	plain := cmd
	plain.Meta = Meta{}
	hash := commandHash(cmd.Meta, "SetBudgets", plain)
	if err := cmd.Budget.check(); err != nil {
		return BatchResult{}, err
	}
	return s.batchEmit(ctx, cmd.Meta, hash, cmd.CustomerIDs, func(c *Channel, e *emitter, id string) error {
		return c.setBudgetIn(e, cmd.Actor, id, cmd.Budget, false, "")
	})
}

// SetQuota sets a reseller's quotas (rule 18). Setting the quotas it has appends nothing. It is a
// critical operation (rule 19).
func (s *Service) SetQuota(ctx context.Context, cmd SetQuota) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.actorChannel(ctx, cmd.Actor)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "SetQuota", plain), verifiedCommand(cmd.Meta, func(c *Channel, _ time.Time) ([]pendingEvent, error) {
		return c.decideSetQuota(cmd.Actor, cmd.ResellerID, cmd.Monthly, cmd.OneTime)
	}))
}

// ResetBudgets applies the monthly reset (rule 17) by the clock's now: for every customer whose
// monthly budget counts a month that has ended, the system appends budget.reset and its follow-ups
// (the unfreeze of a budget freeze, thresholds the new month already reached). It returns how many
// budgets it reset. Like ReleaseExpiredResources it is decided in each channel as a command, so it
// is idempotent and safe on several instances (the expected revision decides), and it covers every
// channel of a GlobalReader log.
func (s *Service) ResetBudgets(ctx context.Context) (int, error) {
	return s.sweep(ctx, "budget-reset", true, nil, func(c *Channel, e *emitter) int {
		ids := make([]string, 0)
		for id, b := range c.bills {
			if b.resetDue(e.now) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		n := 0
		for _, id := range ids {
			if pend, err := c.decideBudgetReset(id, e.now); err == nil {
				e.emit(pend...)
				e.emit(c.budgetFollowUps(id, true)...)
				n++
			}
		}
		return n
	})
}
