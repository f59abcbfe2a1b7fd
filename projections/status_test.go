package projections

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func mustStatus(t *testing.T, m *ReadModels, id string, a AsOf) CustomerStatus {
	t.Helper()
	s, err := m.Status(id, a)
	if err != nil {
		t.Fatalf("Status(%s): %v", id, err)
	}
	return s
}

func checkState(t *testing.T, s CustomerStatus, own, ownType, origin, eff, effType, effOrigin string) {
	t.Helper()
	got := []string{s.State, deref(s.FreezeType), deref(s.Origin), s.EffectiveState, deref(s.EffectiveFreezeType), deref(s.EffectiveOrigin)}
	want := []string{own, ownType, origin, eff, effType, effOrigin}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: state %v, want %v", s.CustomerID, got, want)
		}
	}
}

// Rules 1, 2, 7 and 8 as the read models show them, and the status shape.
func TestStatusCascadeAndManager(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	l.registerPartner("res-1", domain.PartnerReseller, "dist-1")
	l.registerPartner("sp-1", domain.PartnerSolutionProvider, "")
	l.associate("c-1", "res-1", "dist-1", []string{"gold"}, "li")
	l.associate("c-2", "dist-1", "", nil, "")
	pos := l.associate("c-3", "sp-1", "", nil, "")
	m := openModels(t, l.store, t.TempDir())
	waitFor(t, m, pos)

	// Rule 1: new customers start frozen (ACCOUNT, association); rule 2: managers.
	s1 := mustStatus(t, m, "c-1", AsOf{})
	checkState(t, s1, "FROZEN", "ACCOUNT", "association", "FROZEN", "ACCOUNT", "association")
	if s1.ManagedBy != "dist-1" || s1.DistributorID != "dist-1" || s1.PartnerID != "res-1" || s1.AccountManager != "li" || len(s1.Tags) != 1 || s1.Tags[0] != "gold" {
		t.Fatalf("c-1 = %+v", s1)
	}
	if s1.FrozenBy == nil || *s1.FrozenBy != "ops-res-1" || s1.Reason == nil || *s1.Reason != "new customer" || s1.RetentionDeadline != nil {
		t.Fatalf("c-1 freeze fields = %+v", s1)
	}
	if s := mustStatus(t, m, "c-2", AsOf{}); s.ManagedBy != "dist-1" || s.DistributorID != "dist-1" {
		t.Fatalf("c-2 = %+v", s)
	}
	if s := mustStatus(t, m, "c-3", AsOf{}); s.ManagedBy != "sp-1" || s.DistributorID != "" {
		t.Fatalf("c-3 = %+v", s)
	}
	// The JSON shape has every key of docs/HTTP-API.md's example, nulls included.
	raw, _ := json.Marshal(s1)
	for _, k := range []string{"customer_id", "name", "partner_id", "distributor_id", "managed_by", "state", "freeze_type", "origin", "reason", "frozen_by", "frozen_at", "effective_state", "effective_freeze_type", "effective_origin", "resources_released", "retention_deadline", "tags", "account_manager", "associated_at", "position"} {
		if !strings.Contains(string(raw), `"`+k+`":`) {
			t.Fatalf("status JSON lacks %q: %s", k, raw)
		}
	}
	if !strings.Contains(string(raw), `"retention_deadline":null`) || !strings.Contains(string(raw), `"associated_at":"2026-11-01T08:00`) {
		t.Fatalf("status JSON: %s", raw)
	}

	// Delegation moves the manager to the reseller (rule 2, 6).
	p := l.delegate("res-1", true, domain.PermissionFreeze)
	waitFor(t, m, p)
	if s := mustStatus(t, m, "c-1", AsOf{}); s.ManagedBy != "res-1" || s.Position != p.String() {
		t.Fatalf("after delegation: managed_by %s position %s, want res-1 %s", s.ManagedBy, s.Position, p)
	}
	l.unfreeze("c-1", "res-1", opsOf("res-1"), domain.FreezeAccount, "paid")
	p = l.freeze("c-2", "dist-1", opsOf("dist-1"), domain.FreezeAccountAndResource, "", "abuse")
	waitFor(t, m, p)
	checkState(t, mustStatus(t, m, "c-1", AsOf{}), "ACTIVE", "<nil>", "<nil>", "ACTIVE", "<nil>", "<nil>")
	s2 := mustStatus(t, m, "c-2", AsOf{})
	checkState(t, s2, "FROZEN", "ACCOUNT_AND_RESOURCE", "manual", "FROZEN", "ACCOUNT_AND_RESOURCE", "manual")
	if s2.RetentionDeadline == nil || s2.Position != p.String() || s2.FrozenAt == nil {
		t.Fatalf("c-2 = %+v", s2)
	}
	fa, err1 := time.Parse(leaf.TimeFormat, *s2.FrozenAt)
	rd, err2 := time.Parse(leaf.TimeFormat, *s2.RetentionDeadline)
	if err1 != nil || err2 != nil || rd.Sub(fa) != DefaultRetention || fa.Before(t0) {
		t.Fatalf("c-2 frozen_at %q retention_deadline %q: %v %v", *s2.FrozenAt, *s2.RetentionDeadline, err1, err2)
	}

	// Rule 7: freezing the distributor freezes everything below it in effect; own states stay.
	pf := l.freezePartner("dist-1", platform, "contract breach")
	waitFor(t, m, pf)
	s1 = mustStatus(t, m, "c-1", AsOf{})
	checkState(t, s1, "ACTIVE", "<nil>", "<nil>", "FROZEN", "ACCOUNT_AND_RESOURCE", "partner")
	if s1.Position != pf.String() {
		t.Fatalf("c-1 position %s, want the partner freeze %s", s1.Position, pf)
	}
	checkState(t, mustStatus(t, m, "c-2", AsOf{}), "FROZEN", "ACCOUNT_AND_RESOURCE", "manual", "FROZEN", "ACCOUNT_AND_RESOURCE", "partner")
	checkState(t, mustStatus(t, m, "c-3", AsOf{}), "FROZEN", "ACCOUNT", "association", "FROZEN", "ACCOUNT", "association")
	rp, err := m.Partner("res-1", AsOf{})
	if err != nil || rp.Frozen || !rp.EffectiveFrozen || rp.Delegation == nil || !rp.Delegation.Freeze || rp.Delegation.Budget || rp.ParentID != "dist-1" {
		t.Fatalf("res-1 = %+v, %v", rp, err)
	}
	dp, err := m.Partner("dist-1", AsOf{})
	if err != nil || !dp.Frozen || !dp.EffectiveFrozen || dp.Delegation != nil || deref(dp.FrozenReason) != "contract breach" || deref(dp.FrozenBy) != "ops-platform" || dp.Position != pf.String() {
		t.Fatalf("dist-1 = %+v, %v", dp, err)
	}

	// Unfreezing restores each customer's own state; rule 8: release is sticky.
	l.release("c-2", "dist-1")
	pu := l.unfreezePartner("dist-1", platform, "resolved")
	waitFor(t, m, pu)
	checkState(t, mustStatus(t, m, "c-1", AsOf{}), "ACTIVE", "<nil>", "<nil>", "ACTIVE", "<nil>", "<nil>")
	s2 = mustStatus(t, m, "c-2", AsOf{})
	checkState(t, s2, "FROZEN", "ACCOUNT_AND_RESOURCE", "manual", "FROZEN", "ACCOUNT_AND_RESOURCE", "manual")
	if !s2.ResourcesReleased || s2.RetentionDeadline != nil {
		t.Fatalf("c-2 after release = %+v", s2)
	}
	pu = l.unfreeze("c-2", "dist-1", opsOf("dist-1"), domain.FreezeAccountAndResource, "ok")
	waitFor(t, m, pu)
	if s := mustStatus(t, m, "c-2", AsOf{}); s.State != "ACTIVE" || !s.ResourcesReleased {
		t.Fatalf("c-2 after unfreeze = %+v", s)
	}

	// A frozen reseller cascades to its customers only.
	pf = l.freezePartner("res-1", opsOf("dist-1"), "reseller overdue")
	waitFor(t, m, pf)
	checkState(t, mustStatus(t, m, "c-1", AsOf{}), "ACTIVE", "<nil>", "<nil>", "FROZEN", "ACCOUNT_AND_RESOURCE", "partner")
	checkState(t, mustStatus(t, m, "c-2", AsOf{}), "ACTIVE", "<nil>", "<nil>", "ACTIVE", "<nil>", "<nil>")

	if _, err := m.Status("nope", AsOf{}); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("unknown customer: %v", err)
	}
	if _, err := m.Partner("nope", AsOf{}); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("unknown partner: %v", err)
	}
}

func TestOperations(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	l.registerPartner("res-1", domain.PartnerReseller, "dist-1")
	l.associate("c-1", "res-1", "dist-1", nil, "")
	l.associate("c-2", "res-1", "dist-1", nil, "")
	l.unfreeze("c-2", "res-1", opsOf("dist-1"), domain.FreezeAccount, "ok")
	l.freeze("c-2", "res-1", opsOf("dist-1"), domain.FreezeAccountAndResource, "", "fraud")
	l.associate("c-3", "res-1", "dist-1", nil, "")
	pos := l.unfreeze("c-3", "res-1", opsOf("dist-1"), domain.FreezeAccount, "ok")
	m := openModels(t, l.store, t.TempDir())
	waitFor(t, m, pos)

	allowed := func(id, mode, product string) string {
		t.Helper()
		ops, err := m.Operations(id, OperationsQuery{BillingMode: mode, Product: product})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range ops.Operations {
			if o.Allowed {
				out = append(out, o.Operation)
			} else if o.Reason == "" {
				t.Fatalf("%s %s: denial of %s without reason", id, mode, o.Operation)
			}
			single, err := m.CheckOperation(id, o.Operation, OperationsQuery{BillingMode: mode, Product: product})
			if err != nil || single.Allowed != o.Allowed || single.Reason != o.Reason {
				t.Fatalf("CheckOperation(%s, %s) = %+v, %v; list says %+v", id, o.Operation, single, err, o)
			}
		}
		return strings.Join(out, ",")
	}
	// DOMAIN.md's table.
	for _, c := range []struct{ id, mode, product, want string }{
		{"c-3", BillingYearlyMonthly, "", "view,rename,unsubscribe,purchase,modify_spec,renew,change_billing_mode,operate,delete"},
		{"c-3", BillingPayPerUse, "", "view,rename,purchase,modify_spec,change_billing_mode,operate,delete"},
		{"c-1", BillingYearlyMonthly, "", "view,rename,unsubscribe"},
		{"c-1", BillingPayPerUse, "", "view,rename"},
		{"c-2", BillingYearlyMonthly, "", "view"},
		{"c-2", BillingPayPerUse, "", "view"},
		// Rule 9: SaaS and licences feel only the account-level part of a resource freeze.
		{"c-2", BillingYearlyMonthly, ProductMarketplaceSaaS, "view,rename,unsubscribe"},
		{"c-2", BillingYearlyMonthly, ProductMarketplaceLicence, "view,rename,unsubscribe"},
		{"c-2", BillingYearlyMonthly, ProductMarketplaceImage, "view"},
		{"c-2", BillingPayPerUse, ProductMarketplacePayPerUse, "view"},
		{"c-1", BillingYearlyMonthly, ProductMarketplaceSaaS, "view,rename,unsubscribe"},
	} {
		if got := allowed(c.id, c.mode, c.product); got != c.want {
			t.Errorf("%s %s %q: allowed %s, want %s", c.id, c.mode, c.product, got, c.want)
		}
	}
	// Own denial names the freeze.
	chk, _ := m.CheckOperation("c-2", OpRename, OperationsQuery{})
	if chk.Allowed || chk.Freeze == nil || chk.Freeze.Source != "customer" || chk.Freeze.FreezeType != "ACCOUNT_AND_RESOURCE" || deref(chk.Freeze.Reason) != "fraud" || deref(chk.Freeze.FrozenBy) != "ops-dist-1" || !strings.Contains(chk.Reason, "fraud") {
		t.Fatalf("c-2 rename = %+v", chk)
	}
	// Inherited denial names the partner.
	pf := l.freezePartner("res-1", opsOf("dist-1"), "reseller overdue")
	waitFor(t, m, pf)
	if got := allowed("c-3", BillingYearlyMonthly, ""); got != "view" {
		t.Fatalf("c-3 under frozen reseller: %s", got)
	}
	chk, _ = m.CheckOperation("c-3", OpUnsubscribe, OperationsQuery{})
	if chk.Allowed || chk.Freeze == nil || chk.Freeze.Source != "partner" || chk.Freeze.PartnerID != "res-1" || chk.Freeze.Origin != "partner" || deref(chk.Freeze.Reason) != "reseller overdue" {
		t.Fatalf("c-3 unsubscribe = %+v", chk)
	}
	// Before the partner freeze (time travel) it was allowed.
	before := eventstore.Position{Commit: pf.Commit - 1, Prepare: pf.Prepare - 1}
	if chk, _ := m.CheckOperation("c-3", OpUnsubscribe, OperationsQuery{AsOf: AsOf{Position: &before}}); !chk.Allowed {
		t.Fatalf("as of %s: %+v", before, chk)
	}
	if _, err := m.CheckOperation("c-3", "fly", OperationsQuery{}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("unknown op: %v", err)
	}
	if _, err := m.Operations("c-3", OperationsQuery{BillingMode: "weekly"}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("unknown billing mode: %v", err)
	}
	chk, _ = m.CheckOperation("c-3", OpRenew, OperationsQuery{BillingMode: BillingPayPerUse})
	if chk.Allowed || chk.Freeze != nil || !strings.Contains(chk.Reason, "does not apply") {
		t.Fatalf("renew pay-per-use = %+v", chk)
	}
}

func TestWaitForAndReady(t *testing.T) {
	l := newLedger(t)
	m := openModels(t, l.store, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() { got <- m.WaitFor(ctx, eventstore.Position{Commit: 2, Prepare: 2}) }()
	pos := l.registerPartner("dist-1", domain.PartnerDistributor, "")
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, pos)
	if err := m.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if head, _ := m.Head(ctx); head != m.Applied() || m.Events() != 2 {
		t.Fatalf("head %s applied %s events %d", head, m.Applied(), m.Events())
	}
	short, cancel2 := context.WithCancel(ctx)
	cancel2()
	if err := m.WaitFor(short, eventstore.Position{Commit: 99, Prepare: 99}); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitFor past head with a done context: %v", err)
	}
	// A position not applied yet cannot be read as of.
	future := eventstore.Position{Commit: 99, Prepare: 99}
	if _, err := m.Partner("dist-1", AsOf{Position: &future}); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("as of a future position: %v", err)
	}
}

func TestParseAsOf(t *testing.T) {
	a, err := ParseAsOf("position:42")
	if err != nil || a.Position == nil || a.Position.Commit != 42 {
		t.Fatalf("%+v %v", a, err)
	}
	a, err = ParseAsOf("2026-03-03T10:00:00+01:00")
	if err != nil || a.Time == nil || a.Time.Hour() != 9 {
		t.Fatalf("%+v %v", a, err)
	}
	if a, err := ParseAsOf(""); err != nil || !a.IsNow() {
		t.Fatalf("%+v %v", a, err)
	}
	for _, bad := range []string{"yesterday", "position:", "position:-1", "position:01"} {
		if _, err := ParseAsOf(bad); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("ParseAsOf(%q) = %v", bad, err)
		}
	}
}
