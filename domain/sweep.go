// The Service's time-driven jobs (rules 8, 17 and 20: retention release, the monthly budget reset,
// the lapse of unanswered disassociations) share one sweep over the channels.

package domain

import (
	"context"
	"slices"
	"strings"
	"time"
)

// sweep runs one time-driven job in every channel: the channel streams this Service has loaded
// plus, when the log is a GlobalReader, every channel stream in the log (scanned incrementally),
// less those skip (if set) says have nothing due at now. decide runs in each channel as a command
// of the system actor, so each outcome is decided once, also across restarts and instances (the
// expected revision decides), and may run again after a concurrent write; it returns how many things
// it did there, and sweep returns their sum. A sweep with counts false does not count as a use of
// the channels it visits (channel residency).
func (s *Service) sweep(ctx context.Context, job string, counts bool, skip func(w *worker, now time.Time) bool, decide func(c *Channel, e *emitter) int) (int, error) {
	if gr, ok := s.log.(GlobalReader); ok {
		if err := s.scanChannels(ctx, gr); err != nil {
			return 0, err
		}
	}
	now := s.now()
	s.mu.Lock()
	streams := make([]string, 0, len(s.workers))
	for st, w := range s.workers {
		if strings.HasPrefix(st, ChannelStreamPrefix) && (skip == nil || !skip(w, now)) {
			streams = append(streams, st)
		}
	}
	s.mu.Unlock()
	slices.Sort(streams)
	exec := s.execUnused
	if counts {
		exec = s.exec
	}
	total := 0
	for _, st := range streams {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		r := newRequest(Meta{Actor: SystemActor, RequestID: job + "-" + st}, "", func(c *Channel, e *emitter) error {
			n = decide(c, e)
			return nil
		})
		if err := exec(st, r); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// dueIDs returns the IDs of m whose time is due by now, sorted (a sweep decides them in ID order).
func dueIDs(m map[string]time.Time, now time.Time) []string {
	ids := make([]string, 0, len(m))
	for id, at := range m {
		if !now.Before(at) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
