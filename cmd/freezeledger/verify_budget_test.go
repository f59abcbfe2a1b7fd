package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// TestVerifyRejectsForgedBudgetEvents: a writer with access to the store (not the domain) appends
// an event the budget rules do not permit; the audit log signs it like any other, so the hashes and
// the signature verify, but `freezeledger verify` replays the rules and fails, on the export and on
// the bundle, naming the forged event's line: a budget freeze by the system while the customer's
// spend is at 80 % of its budget (rule 17), and a 75 % threshold event a second time (rule 16).
func TestVerifyRejectsForgedBudgetEvents(t *testing.T) {
	for _, c := range []struct {
		name, typ string
		data      func(threshold map[string]any) any
		rule      string
	}{
		{"budget freeze below 100 %", domain.EventCustomerFrozen, func(map[string]any) any {
			return domain.CustomerFrozen{CustomerID: "c-a", FreezeType: domain.FreezeAccount, Origin: domain.OriginBudget, Reason: "budget exhausted: 1,000.00 of 1,000.00"}
		}, "rule 17"},
		{"threshold twice", domain.EventBudgetThresholdReached, func(threshold map[string]any) any { return threshold }, "rule 16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ts := startServerIn(t, dir, withBilling(standardPrincipals), nil)
			ts.setupHierarchy()
			ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "ok", "unfreeze_type": "ACCOUNT"})
			ts.must(200, "PUT", "/v1/customers/c-a/budget", "op-dist-a", map[string]any{"type": "monthly", "amount": "1000", "on_exhaustion": "freeze"})
			ts.must(200, "POST", "/v1/usage", "bill", map[string]any{"records": []map[string]any{
				{"record_id": "v-1", "customer_id": "c-a", "amount": "800", "time": time.Now().UTC().Format(time.RFC3339Nano)}}})
			h := ts.must(200, "GET", "/v1/customers/c-a/budget/history", "op-dist-a", nil).json(t)
			var threshold map[string]any
			for _, e := range h["events"].([]any) {
				if e := e.(map[string]any); e["type"] == domain.EventBudgetThresholdReached {
					threshold = e["data"].(map[string]any)
				}
			}
			if threshold == nil || threshold["threshold"] != float64(75) {
				t.Fatalf("no 75 %% threshold in the budget history: %v", h)
			}

			// The forgery: straight into dist-a's channel stream, as the system.
			data, _ := json.Marshal(c.data(threshold))
			meta, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: domain.SystemActor, Time: time.Now().UTC(), RequestID: "forged"})
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
				want := fmt.Sprintf("line %d", forged)
				t.Logf("verify %s: exit %d: %s", args[0], code, strings.TrimSpace(e.String()))
				if code != 1 || !strings.Contains(e.String(), want) || !strings.Contains(e.String(), c.rule) {
					t.Errorf("verify %s: exit %d, want 1 naming %s and %s\nstdout: %s\nstderr: %s", args[0], code, want, c.rule, o.String(), e.String())
				}
			}
			// With the rules off the same bundle verifies: the failure is the rules', not the hashes'.
			o.Reset()
			e.Reset()
			if code := runVerify(ctx, []string{"--bundle", bundle, "--public-key", key, "--no-rules"}, &o, &e); code != 0 {
				t.Errorf("verify --no-rules: exit %d: %s", code, e.String())
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
