package main

// Serve's parts of rules 19 and 20: the TOTP store (--verification-dir) and the loop that records
// unanswered disassociation requests as lapsed.

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi/verification"
)

// openVerification opens the TOTP store on the serve's clock.
func (m *Main) openVerification() (*verification.Store, error) {
	clock := m.clock()
	return verification.Open(m.cfg.verificationDir, verification.Options{Now: clock.Now})
}

// lapseLoop appends customer.disassociation_lapsed for every request unanswered for 7 days (rule
// 20), at start and then every ReleaseInterval (the retention sweep's interval).
func (m *Main) lapseLoop(ctx context.Context, svc *domain.Service, log hclog.Logger) error {
	every := m.ReleaseInterval
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := svc.LapseDisassociations(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("recording lapsed disassociation requests", "error", err)
		case n > 0:
			log.Info("disassociation requests lapsed", "customers", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
