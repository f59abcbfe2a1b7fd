package domain

// The retention sweep (rule 8): the system actor releases the resources of every customer whose
// ACCOUNT_AND_RESOURCE retention ran out, once per such freeze, in every channel of the log.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ReleaseExpiredResources appends customer.resources_released (system actor) for every customer whose
// ACCOUNT_AND_RESOURCE retention ran out by the clock's now (rule 8), and returns how many. Each
// release is decided in its channel like any command, so it happens exactly once, also across
// restarts and instances. Channels are those this Service has loaded plus, when the log is a
// GlobalReader, every channel stream in the log (scanned incrementally).
func (s *Service) ReleaseExpiredResources(ctx context.Context) (int, error) {
	if gr, ok := s.log.(GlobalReader); ok {
		if err := s.scanChannels(ctx, gr); err != nil {
			return 0, err
		}
	}
	now := s.now()
	s.mu.Lock()
	streams := make([]string, 0, len(s.workers))
	for st, w := range s.workers {
		if strings.HasPrefix(st, ChannelStreamPrefix) && !w.parkedNotDue(now) { // not in memory and nothing due: not loaded for nothing
			streams = append(streams, st)
		}
	}
	s.mu.Unlock()
	slices.Sort(streams)
	total := 0
	for _, st := range streams {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		r := newRequest(Meta{Actor: SystemActor, RequestID: "retention-" + st}, "", func(c *Channel, e *emitter) error {
			ids := make([]string, 0, len(c.due))
			for id, d := range c.due {
				if !e.now.Before(d) {
					ids = append(ids, id)
				}
			}
			slices.Sort(ids)
			for _, id := range ids {
				if pend, err := c.decideReleaseResources(id, e.now); err == nil {
					e.emit(pend...)
				}
			}
			return nil
		})
		if err := s.execUnused(st, r); err != nil {
			return total, err
		}
		total += len(r.events)
	}
	return total, nil
}

func (s *Service) scanChannels(ctx context.Context, gr GlobalReader) error {
	s.mu.Lock()
	after := s.scanned
	s.mu.Unlock()
	for {
		evs, err := gr.ReadAll(ctx, after, 4096)
		if err != nil {
			return fmt.Errorf("scanning the log after %q: %w", after, err)
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			if strings.HasPrefix(ev.Stream, ChannelStreamPrefix) {
				s.sawEvent(s.worker(ev.Stream), &ev)
			}
		}
		after = evs[len(evs)-1].Position
	}
	s.mu.Lock()
	s.scanned = after
	s.mu.Unlock()
	return nil
}

// ReleaseReason is the reason recorded on customer.resources_released.
const ReleaseReason = "retention period ended (rule 8)"

// decideReleaseResources releases customer id's resources if its retention ran out by now (rule 8).
func (c *Channel) decideReleaseResources(id string, now time.Time) ([]pendingEvent, error) {
	cu := c.customers[id]
	if cu == nil {
		return nil, Errorf(CodeNotFound, "customer %q not found", id)
	}
	if !cu.Frozen || cu.FreezeType != FreezeAccountAndResource || cu.RetentionDeadline.IsZero() {
		return nil, Errorf(CodeConflict, "rule 8: customer %q has no ACCOUNT_AND_RESOURCE freeze awaiting resource release", id)
	}
	if now.Before(cu.RetentionDeadline) {
		return nil, Errorf(CodeConflict, "rule 8: customer %q's retention runs until %s", id, cu.RetentionDeadline.Format(time.RFC3339Nano))
	}
	return []pendingEvent{{EventCustomerResourcesRelease, &CustomerResourcesReleased{CustomerID: id, FrozenAt: cu.ResourceFrozenAt, Reason: ReleaseReason, Resources: c.bills[id].releasable()}}}, nil
}
