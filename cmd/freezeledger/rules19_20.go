package main

// Serve's parts of rules 19 and 20: the TOTP store (--verification-dir) and the loop that records
// unanswered disassociation requests as lapsed.

import (
	"context"

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
	return every(ctx, m.sweepInterval(), log,
		sweep{run: svc.LapseDisassociations, failed: "recording lapsed disassociation requests", done: "disassociation requests lapsed", unit: "customers"})
}
