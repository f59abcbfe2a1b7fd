package domain

// The retention sweep (rule 8): the system actor releases the resources of every customer whose
// ACCOUNT_AND_RESOURCE retention ran out, once per such freeze, in every channel of the log.

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// ReleaseExpiredResources appends customer.resources_released (system actor) for every customer whose
// ACCOUNT_AND_RESOURCE retention ran out by the clock's now (rule 8), and returns how many. Each
// release is decided in its channel like any command, so it happens exactly once, also across
// restarts and instances. Channels are those this Service has loaded plus, when the log is a
// GlobalReader, every channel stream in the log (scanned incrementally).
func (s *Service) ReleaseExpiredResources(ctx context.Context) (int, error) {
	// A channel not in memory with nothing due is not loaded for nothing (parkedNotDue).
	return s.sweep(ctx, "retention", false, (*worker).parkedNotDue, func(c *Channel, e *emitter) int {
		n := 0
		for _, id := range dueIDs(c.due, e.now) {
			if pend, err := c.decideReleaseResources(id, e.now); err == nil {
				e.emit(pend...)
				n += len(pend)
			}
		}
		return n
	})
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
