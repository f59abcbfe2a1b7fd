package main

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"
)

// sweep is one step of a background loop: run appends what has come due and counts it.
type sweep struct {
	run    func(context.Context) (int, error)
	failed string // logged at error with run's error
	done   string // logged at info with the count under unit, when the count is above 0
	unit   string
}

// every runs the sweeps, in order, at once and then every interval (above 0) until ctx is done,
// and then returns nil. A sweep that fails is logged (unless ctx is done) and run again at the next
// tick: a failure never stops the loop.
func every(ctx context.Context, interval time.Duration, log hclog.Logger, sweeps ...sweep) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, sw := range sweeps {
			n, err := sw.run(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error(sw.failed, "error", err)
			case n > 0:
				log.Info(sw.done, sw.unit, n)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sweepInterval is how often the background sweeps run: ReleaseInterval, or a minute.
func (m *Main) sweepInterval() time.Duration {
	if m.ReleaseInterval <= 0 {
		return time.Minute
	}
	return m.ReleaseInterval
}
