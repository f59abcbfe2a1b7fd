package projections

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
	"github.com/freezeledger/freezeledger/eventstore"
)

// TestBillingReadModel drives the real command service (budgets, usage, resources, quotas) and
// checks the status, budget, resources and quota reads, as of now and of the past, against what
// the domain decided; then that a checkpoint round trip and a rebuild give the same bytes.
func TestBillingReadModel(t *testing.T) {
	l := newLedger(t)
	clock := domaintest.NewClock(t0)
	svc := domain.NewService(eventstore.DomainLog(l.store), domain.Options{Clock: clock})
	ctx := context.Background()
	billing := domain.Actor{Name: "billing", Role: domain.RoleBilling}
	m := func(a domain.Actor) domain.Meta { return domain.Meta{Actor: a} }
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	money := func(s string) domain.Money { v, _ := domain.ParseMoney("a", s); return v }
	must(svc.RegisterPartner(ctx, domain.RegisterPartner{Meta: m(platform), PartnerID: "dist-1", Name: "D", Type: domain.PartnerDistributor}))
	must(svc.RegisterPartner(ctx, domain.RegisterPartner{Meta: m(opsOf("dist-1")), PartnerID: "res-1", Name: "R", Type: domain.PartnerReseller}))
	must(svc.AssociateCustomer(ctx, domain.AssociateCustomer{Meta: m(opsOf("dist-1")), CustomerID: "c-1", Name: "C", PartnerID: "dist-1"}))
	must(svc.AssociateCustomer(ctx, domain.AssociateCustomer{Meta: m(opsOf("dist-1")), CustomerID: "c-2", Name: "C2", PartnerID: "res-1"}))
	must(svc.UnfreezeCustomer(ctx, domain.UnfreezeCustomer{Meta: m(opsOf("dist-1")), CustomerID: "c-1", Reason: "ok", UnfreezeType: domain.FreezeAccount}))
	must(svc.SetDelegation(ctx, domain.SetDelegation{Meta: m(opsOf("dist-1")), ResellerID: "res-1", Budget: true}))
	must(svc.SetQuota(ctx, domain.SetQuota{Meta: m(opsOf("dist-1")), ResellerID: "res-1", Monthly: money("500"), OneTime: money("0")}))
	must(svc.SetBudget(ctx, domain.SetBudget{Meta: m(opsOf("res-1")), CustomerID: "c-2", Budget: domain.BudgetSpec{Type: domain.BudgetMonthly, Amount: money("300"), OnExhaustion: domain.ExhaustionAlert}}))
	must(svc.SetBudget(ctx, domain.SetBudget{Meta: m(opsOf("dist-1")), CustomerID: "c-1", Budget: domain.BudgetSpec{Type: domain.BudgetMonthly, Amount: money("1000"), OnExhaustion: domain.ExhaustionFreeze}}))
	exp := t0.Add(40 * 24 * time.Hour)
	must(svc.ReportResource(ctx, domain.ReportResource{Meta: m(billing), Resource: domain.ResourceReported{CustomerID: "c-1", ResourceID: "vm-1", Service: "ecs", BillingMode: domain.BillingYearlyMonthly, Product: domain.ProductCloud, ExpiresAt: &exp}}))
	must(svc.ReportResource(ctx, domain.ReportResource{Meta: m(billing), Resource: domain.ResourceReported{CustomerID: "c-1", ResourceID: "saas-1", Service: "crm", BillingMode: domain.BillingPayPerUse, Product: domain.ProductMarketplaceSaaS}}))
	half, _ := svc.RecordUsage(ctx, domain.RecordUsage{Meta: m(billing), Records: []domain.UsageInput{{RecordID: "r1", CustomerID: "c-1", Amount: money("800"), Time: t0}}})
	must(svc.RecordUsage(ctx, domain.RecordUsage{Meta: m(billing), Records: []domain.UsageInput{{RecordID: "r2", CustomerID: "c-1", Amount: money("220"), Time: t0}}}))

	rm, err := Open(l.store, t.TempDir(), Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := l.store.Head(ctx)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = rm.Run(runCtx) }()
	waitFor(t, rm, head)

	st, err := rm.Status("c-1", AsOf{})
	if err != nil {
		t.Fatal(err)
	}
	if st.MTDSpend != "1020.00" || st.Currency != "USD" || st.Resources != 2 || st.EarliestExpiry == nil || *st.EarliestExpiry != fmtTime(exp.UnixNano()) {
		t.Errorf("status billing fields: %+v", st)
	}
	if st.State != "FROZEN" || st.Origin == nil || *st.Origin != "budget" || *st.Reason != "budget exhausted: 1,020.00 of 1,000.00" {
		t.Errorf("status after the budget freeze: %+v", st)
	}
	if b := st.Budget; b == nil || b.CountedSpend != "1020.00" || b.UsagePercent != "102.00" || !b.Exhausted || len(b.ThresholdsReached) != 3 || b.Period == nil || *b.Period != "2026-11" {
		t.Errorf("status budget %+v", st.Budget)
	}
	pos, _ := eventstore.ParsePosition(half.Position)
	past, err := rm.Budget("c-1", AsOf{Position: &pos})
	if err != nil {
		t.Fatal(err)
	}
	if past.MTDSpend != "800.00" || past.Budget == nil || len(past.Budget.ThresholdsReached) != 1 || past.Budget.Exhausted {
		t.Errorf("budget as of the first record: %+v %+v", past, past.Budget)
	}
	q, err := rm.Quota("res-1")
	if err != nil || q.MonthlyQuota != "500.00" || q.MonthlyAllocated != "300.00" || q.OneTimeAllocated != "0.00" {
		t.Errorf("quota %+v, %v", q, err)
	}
	page, err := rm.Resources("c-1", AsOf{}, "", 1)
	if err != nil || len(page.Resources) != 1 || page.NextCursor != "saas-1" || page.Resources[0].AffectedByFreeze {
		t.Errorf("resources page 1: %+v, %v (an ACCOUNT freeze affects no resource)", page, err)
	}
	ops, err := rm.ResourceOperations("c-1", "vm-1", AsOf{})
	if err != nil || ops.BillingMode != BillingYearlyMonthly {
		t.Fatalf("resource operations: %+v, %v", ops, err)
	}
	hist, err := rm.BudgetHistory(ctx, "c-1", "", 3)
	if err != nil || len(hist.Events) != 3 || hist.NextCursor == "" || hist.Events[0].Type != domain.EventBudgetSet {
		t.Fatalf("budget history page 1: %+v, %v", hist, err)
	}
	hist, err = rm.BudgetHistory(ctx, "c-1", hist.NextCursor, 3)
	if err != nil || len(hist.Events) != 2 || hist.NextCursor != "" || hist.Events[1].Type != domain.EventCustomerFrozen { // 100, the budget freeze
		t.Errorf("budget history page 2: %+v, %v", hist, err)
	}

	// The checkpoint round trip and a rebuild give the same state.
	dir := t.TempDir()
	a, _ := Open(l.store, dir, Options{Clock: clock})
	if err := a.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := Open(l.store, dir, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var ba, bb bytes.Buffer
	if err := writeState(&ba, a.st); err != nil {
		t.Fatal(err)
	}
	if err := writeState(&bb, b.st); err != nil {
		t.Fatal(err)
	}
	if b.Events() != a.Events() || !bytes.Equal(ba.Bytes(), bb.Bytes()) {
		t.Error("the checkpoint does not restore the billing model")
	}
	if st2, _ := b.Status("c-1", AsOf{}); st2.MTDSpend != st.MTDSpend || st2.Budget == nil || st2.Budget.CountedSpend != st.Budget.CountedSpend {
		t.Errorf("after a restart from the checkpoint: %+v", st2)
	}
}

// TestReleasedResourcesStayUnusableAfterUnfreeze is the fix of issue 14: after ResourcesReleased
// and an unfreeze, operate, renew and delete were allowed on the released resources.
func TestReleasedResourcesStayUnusableAfterUnfreeze(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	l.associate("c-1", "dist-1", "", nil, "")
	ch := l.channel("dist-1")
	l.append(ch, opsOf("dist-1"), ev{domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: "c-1", FreezeType: domain.FreezeAccountAndResource, PreviousFreezeType: domain.FreezeAccount, Origin: domain.OriginManual, Reason: "x"}})
	l.append(ch, domain.SystemActor, ev{domain.EventCustomerResourcesRelease, domain.CustomerResourcesReleased{CustomerID: "c-1", Reason: domain.ReleaseReason}})
	l.append(ch, opsOf("dist-1"), ev{domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-1", UnfreezeType: domain.FreezeAccountAndResource, Reason: "paid"}})
	rm := openModels(t, l.store, t.TempDir())
	head, _ := l.store.Head(context.Background())
	waitFor(t, rm, head)
	for _, product := range []string{ProductCloud, ProductMarketplaceImage} {
		for _, op := range []string{OpOperate, OpRenew, OpDelete} {
			c, err := rm.CheckOperation("c-1", op, OperationsQuery{Product: product})
			if err != nil || c.Allowed || c.Reason == "" {
				t.Errorf("%s on a released %q resource after the unfreeze: %+v, %v", op, product, c, err)
			}
		}
		for _, op := range []string{OpView, OpRename, OpPurchase} {
			if c, _ := rm.CheckOperation("c-1", op, OperationsQuery{Product: product}); !c.Allowed {
				t.Errorf("%s (the account's) denied after the unfreeze: %+v", op, c)
			}
		}
	}
	if c, _ := rm.CheckOperation("c-1", OpOperate, OperationsQuery{Product: ProductMarketplaceSaaS}); !c.Allowed {
		t.Errorf("a SaaS product was never released: %+v", c)
	}
}
