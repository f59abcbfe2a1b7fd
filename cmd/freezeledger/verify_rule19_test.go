package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
	"github.com/freezeledger/freezeledger/httpapi/verification"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// TestVerifyRejectsForgedUnverifiedEvents: while dist-a's verification codes are on, a writer with
// access to the store (not the domain) appends a critical event by dist-a's operator that carries
// no verification: a freeze, and a budget setting. The audit log signs it like any other, so hashes
// and signature verify, but `freezeledger verify` replays rule 19 and fails, on the export and on
// the bundle, naming the forged event's line. The same event recorded as verified passes.
func TestVerifyRejectsForgedUnverifiedEvents(t *testing.T) {
	for _, c := range []struct {
		name, typ string
		data      any
		verified  bool
	}{
		{"unverified freeze", domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: "c-a", FreezeType: domain.FreezeAccount, Origin: domain.OriginManual, Reason: "forged"}, false},
		{"unverified budget", domain.EventBudgetSet, domain.BudgetSet{CustomerID: "c-a", Type: domain.BudgetMonthly, Amount: 100_00, OnExhaustion: domain.ExhaustionAlert, Period: "2026-11"}, false},
		{"the same freeze, verified", domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: "c-a", FreezeType: domain.FreezeAccount, Origin: domain.OriginManual, Reason: "forged"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := domaintest.NewClock(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
			dir := t.TempDir()
			ts := startServerPhase2(t, dir, func(m *Main) { m.Clock = clock })
			ts.setupHierarchy()
			secret := enrolHTTP(t, ts, clock, "adm-dist-a")
			ts.must(200, "PUT", "/v1/partners/dist-a/verification", "adm-dist-a", map[string]any{"enabled": true}, "X-Verification-Code", codeNow(t, secret, clock))
			clock.Advance(verification.Period)
			ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "adm-dist-a", map[string]any{"reason": "ok", "unfreeze_type": "ACCOUNT"}, "X-Verification-Code", codeNow(t, secret, clock))

			// The forgery: straight into dist-a's channel stream, as dist-a's operator.
			md := domain.Metadata{SchemaVersion: 1, Actor: domain.Actor{Name: "op-dist-a", Role: domain.RolePartner, PartnerID: "dist-a"}, Time: clock.Now(), RequestID: "forged"}
			if c.verified {
				md.Verification = domain.VerificationTOTP
			}
			data, _ := json.Marshal(c.data)
			meta, _ := json.Marshal(md)
			bundle, export, key, forged := forgeAndExport(t, ts, dir, c.typ, data, meta)
			ctx := context.Background()
			var o, e bytes.Buffer
			for _, args := range [][]string{
				{"--bundle", bundle, "--public-key", key},
				{"--export", export, "--checkpoint", filepath.Join(bundle, leaf.BundleCheckpoint), "--public-key", key},
			} {
				o.Reset()
				e.Reset()
				code := runVerify(ctx, args, &o, &e)
				if c.verified {
					if code != 0 {
						t.Errorf("verify %s of a verified event: exit %d: %s", args[0], code, e.String())
					}
					continue
				}
				want := fmt.Sprintf("line %d", forged)
				if code != 1 || !strings.Contains(e.String(), want) || !strings.Contains(e.String(), "rule 19") {
					t.Errorf("verify %s: exit %d, want 1 naming %s and rule 19\nstdout: %s\nstderr: %s", args[0], code, want, o.String(), e.String())
				}
			}
		})
	}
}
