package domain

// The Service's billing-feed commands (rules 12 and 13): usage batches, routed record by record to
// the channel holding each customer and decided there in parallel, and resource reports. Follow-ups
// the system appends (thresholds, budget freezes, a due monthly reset) are emitted in the same
// append as the records that caused them.

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bySystem marks a pending event the system actor appends, inside a command of another actor (the
// emitter unwraps it: see emitter.emit).
type bySystem struct{ data any }

func asSystem(pend []pendingEvent) []pendingEvent {
	for i := range pend {
		pend[i].Data = bySystem{pend[i].Data}
	}
	return pend
}

// emitUsage emits the decided groups of a usage request: for each customer, a due monthly reset
// first (with its follow-ups), then its records, then their follow-ups.
func (c *Channel) emitUsage(e *emitter, groups []*UsageRecorded) {
	for _, g := range groups {
		// resetDue first: decideBudgetReset's answer for most customers is a formatted refusal.
		if c.bills[g.CustomerID].resetDue(e.now) {
			if pend, err := c.decideBudgetReset(g.CustomerID, e.now); err == nil {
				e.emit(asSystem(pend)...)
				e.emit(asSystem(c.budgetFollowUps(g.CustomerID, true))...)
			}
		}
		e.emit(pendingEvent{EventUsageRecorded, g})
		e.emit(asSystem(c.budgetFollowUps(g.CustomerID, false))...)
	}
}

// RecordUsage records a batch of usage records (rule 12): one result per record, in order. A
// record of an unknown customer is not_found; a record already recorded with the same content is a
// duplicate (ok, nothing appended); with other content a conflict. Errors for the whole batch: an
// empty or oversize batch (invalid), an actor that is not the billing system (forbidden).
func (s *Service) RecordUsage(ctx context.Context, cmd RecordUsage) (UsageResult, error) {
	if n := len(cmd.Records); n == 0 || n > MaxUsageBatch {
		return UsageResult{}, Errorf(CodeInvalid, "rule 12: a usage batch takes 1 to %d records, not %d", MaxUsageBatch, n)
	}
	if err := checkBilling(cmd.Actor); err != nil {
		return UsageResult{}, err
	}
	plain := cmd
	plain.Meta = Meta{}
	hash := commandHash(cmd.Meta, "RecordUsage", plain)
	items := make([]UsageItem, len(cmd.Records))
	byStream := map[string][]int{}
	var streams []string
	// The channels of the customers the directory knows, under one lock for the batch; the others
	// are looked up one by one (CustomerChannel).
	known := make([]string, len(cmd.Records))
	s.mu.Lock()
	for i, rec := range cmd.Records {
		known[i] = s.customers[rec.CustomerID]
	}
	s.mu.Unlock()
	now := s.now()
	for i, rec := range cmd.Records {
		items[i].RecordID = rec.RecordID
		if err := checkUsageRecord(rec, now); err != nil {
			items[i].Err = err
			continue
		}
		st := known[i]
		if st == "" {
			var err error
			if st, err = s.CustomerChannel(ctx, rec.CustomerID); err != nil {
				if ErrorCode(err) == "" {
					return UsageResult{}, err
				}
				items[i].Err = err
				continue
			}
		}
		if _, ok := byStream[st]; !ok {
			streams = append(streams, st)
		}
		byStream[st] = append(byStream[st], i)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(streams))
	positions := make([]string, len(streams))
	for k, st := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			positions[k], errs[k] = s.recordUsageIn(ctx, st, cmd, hash, byStream[st], items)
		}()
	}
	wg.Wait()
	out := UsageResult{Items: items}
	for k := range streams {
		if errs[k] != nil {
			return UsageResult{}, errs[k]
		}
		out.Position = laterPosition(out.Position, positions[k])
	}
	return out, nil
}

// recordUsageIn decides the records at indices idx of cmd in channel stream st, filling items; it
// returns the position of the last event it appended ("" for none).
func (s *Service) recordUsageIn(ctx context.Context, st string, cmd RecordUsage, hash string, idx []int, items []UsageItem) (string, error) {
	recs := make([]UsageInput, len(idx))
	for j, i := range idx {
		recs[j] = cmd.Records[i]
	}
	var outs []usageOutcome
	r := newRequest(cmd.Meta, hash, func(c *Channel, e *emitter) error {
		var groups []*UsageRecorded
		outs, groups = c.decideUsage(cmd.Actor, recs, e.now, map[idemID]idemID{})
		c.emitUsage(e, groups)
		return nil
	})
	if err := s.exec(st, r); err != nil {
		return "", err
	}
	res, err := s.resultOf(ctx, st, r)
	if err != nil {
		return "", err
	}
	if r.replay {
		// The first request with this key recorded the records its events hold; the others were
		// duplicates or refused then: decide them again (without appending) to say which.
		recorded := map[string]idemID{} // record ID -> content, of the records the first request appended
		for _, ev := range res.Events {
			if ev.Type != EventUsageRecorded {
				continue
			}
			if d, err := DecodeData(ev.Type, ev.Data); err == nil {
				u := d.(*UsageRecorded)
				for _, rec := range u.Records {
					recorded[rec.RecordID] = recordContent(u.CustomerID, rec)
				}
			}
		}
		err := s.query(st, func(c *Channel) {
			outs, _ = c.decideUsage(cmd.Actor, recs, s.now(), map[idemID]idemID{})
		})
		if err != nil {
			return "", err
		}
		for j, rec := range recs {
			content, ok := recorded[rec.RecordID]
			switch {
			case ok && content == recordContent(rec.CustomerID, UsageRecord{RecordID: rec.RecordID, Amount: rec.Amount, Time: rec.Time}):
				delete(recorded, rec.RecordID) // the first of its kind was the one appended
				outs[j] = usageOutcome{}
			case outs[j].err == nil && !outs[j].duplicate:
				outs[j].err = Errorf(CodeConflict, "rule 12: record %q was refused in the first request with this idempotency key", rec.RecordID)
			}
		}
	}
	for j, i := range idx {
		items[i].Duplicate, items[i].Err = outs[j].duplicate, outs[j].err
	}
	if len(res.Events) == 0 {
		return "", nil
	}
	return res.Position, nil
}

// laterPosition is the later of two positions as the stores write them (decimal commit positions,
// "commit/prepare" for EventStoreDB); "" is before everything.
func laterPosition(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	ca, _, _ := strings.Cut(a, "/")
	cb, _, _ := strings.Cut(b, "/")
	na, erra := strconv.ParseUint(ca, 10, 64)
	nb, errb := strconv.ParseUint(cb, 10, 64)
	if erra != nil || errb != nil || na == nb {
		if b > a {
			return b
		}
		return a
	}
	if nb > na {
		return b
	}
	return a
}

// ReportResource reports a customer's resource (rule 13). Reporting it exactly as it is appends
// nothing.
func (s *Service) ReportResource(ctx context.Context, cmd ReportResource) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.billingChannel(ctx, cmd.Actor, cmd.Resource.CustomerID)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "ReportResource", plain), func(c *Channel, _ time.Time) ([]pendingEvent, error) {
		return c.decideReportResource(cmd.Actor, cmd.Resource)
	})
}

// RemoveResource reports a resource's removal (rule 13); not_found for a resource not reported.
func (s *Service) RemoveResource(ctx context.Context, cmd RemoveResource) (Result, error) {
	plain := cmd
	plain.Meta = Meta{}
	stream, err := s.billingChannel(ctx, cmd.Actor, cmd.CustomerID)
	if err != nil {
		return Result{}, err
	}
	return s.run(ctx, stream, cmd.Meta, commandHash(cmd.Meta, "RemoveResource", plain), func(c *Channel, _ time.Time) ([]pendingEvent, error) {
		return c.decideRemoveResource(cmd.Actor, cmd.CustomerID, cmd.ResourceID)
	})
}

// billingChannel is the channel of a billing command about customer id.
func (s *Service) billingChannel(ctx context.Context, a Actor, id string) (string, error) {
	if err := checkBilling(a); err != nil {
		return "", err
	}
	return s.CustomerChannel(ctx, id)
}
