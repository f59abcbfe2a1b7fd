package projections

import (
	"context"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
	"github.com/freezeledger/freezeledger/eventstore"
)

// TestRule20_StatusAndTimeTravel: the status shows the request while pending, associated false
// after acceptance (own freeze and cascade ended, no manager, out of the partner's search), the past
// as it was (as_of), and a re-association elsewhere afresh; all of it the same after a checkpoint.
func TestRule20_StatusAndTimeTravel(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	l.registerPartner("dist-2", domain.PartnerDistributor, "")
	l.associate("c-1", "dist-1", "", nil, "")
	customer := domain.Actor{Name: "cust-c-1", Role: domain.RoleCustomer}
	admin := domain.Actor{Name: "admin-dist-1", Role: domain.RolePartner, PartnerID: "dist-1"}
	reqPos := l.append(l.channel("dist-1"), customer, ev{domain.EventDisassociationRequested, domain.DisassociationRequested{CustomerID: "c-1", Reason: "leaving", ExpiresAt: l.now.Add(7 * 24 * 3600e9)}})
	frozenP := l.freezePartner("dist-1", platform, "hold")
	accPos := l.append(l.channel("dist-1"), admin, ev{domain.EventDisassociationAccepted, domain.DisassociationAccepted{CustomerID: "c-1", Reason: "agreed"}})
	dir := t.TempDir()
	m := openModels(t, l.store, dir)
	waitFor(t, m, accPos)

	check := func(m *ReadModels) {
		t.Helper()
		at := func(p eventstore.Position) AsOf { return AsOf{Position: &p} }
		pending := mustStatus(t, m, "c-1", at(reqPos))
		if !pending.Associated || pending.Disassociation == nil || pending.Disassociation.State != domain.DisassociationStatePending ||
			pending.Disassociation.RequestedBy.Role != "customer" || pending.Disassociation.AnsweredAt != nil || pending.Position != reqPos.String() {
			t.Errorf("pending: %+v %+v", pending, pending.Disassociation)
		}
		if s := mustStatus(t, m, "c-1", at(frozenP)); s.EffectiveState != domain.StateFrozen || !s.Associated {
			t.Errorf("under the frozen partner before acceptance: %+v", s)
		}
		done := mustStatus(t, m, "c-1", AsOf{})
		if done.Associated || done.State != domain.StateActive || done.EffectiveState != domain.StateActive || done.ManagedBy != "" ||
			done.Disassociation == nil || done.Disassociation.State != domain.DisassociationStateAccepted || deref(done.Disassociation.AnswerReason) != "agreed" {
			t.Errorf("accepted: %+v %+v", done, done.Disassociation)
		}
		list, _, err := m.SearchCustomers(SearchFilter{Scope: "dist-1"})
		if err != nil || len(list) != 0 {
			t.Errorf("dist-1's search after acceptance: %v, %v", list, err)
		}
		h, err := m.History(context.Background(), HistoryQuery{Kind: HistoryCustomer, ID: "c-1"})
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, e := range h.Events {
			types = append(types, e.Type)
		}
		if got := strings.Join(types, ","); !strings.HasSuffix(got, ","+domain.EventDisassociationRequested+","+domain.EventDisassociationAccepted) {
			t.Errorf("the customer's history: %s", got)
		}
		tl, err := m.Timeline("c-1")
		if err != nil {
			t.Fatal(err)
		}
		last := tl.Intervals[len(tl.Intervals)-1]
		if last.EffectiveState != domain.StateActive || last.Cause.EventType != domain.EventDisassociationAccepted {
			t.Errorf("timeline's last interval %+v", last)
		}
	}
	check(m)
	if err := m.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	// Re-association by another partner, read by models restored from the checkpoint.
	m2 := openModels(t, l.store, dir)
	pos := l.associate("c-1", "dist-2", "", nil, "")
	waitFor(t, m2, pos)
	s := mustStatus(t, m2, "c-1", AsOf{})
	if !s.Associated || s.PartnerID != "dist-2" || s.State != domain.StateFrozen || s.ManagedBy != "dist-2" {
		t.Errorf("re-associated: %+v", s)
	}
	if s.Disassociation == nil || s.Disassociation.State != domain.DisassociationStateAccepted {
		t.Errorf("the earlier disassociation is still shown: %+v", s.Disassociation)
	}
	list, _, _ := m2.SearchCustomers(SearchFilter{Scope: "dist-2"})
	if len(list) != 1 {
		t.Errorf("dist-2's search: %d customers", len(list))
	}
}

// TestRule19_PartnerVerificationRequired: the switch shows on the partner, as of each moment.
func TestRule19_PartnerVerificationRequired(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	admin := domain.Actor{Name: "admin-dist-1", Role: domain.RolePartner, PartnerID: "dist-1"}
	on := l.append(l.channel("dist-1"), admin, ev{domain.EventPartnerVerificationSet, domain.PartnerVerificationSet{PartnerID: "dist-1", Enabled: true}})
	off := l.append(l.channel("dist-1"), admin, ev{domain.EventPartnerVerificationSet, domain.PartnerVerificationSet{PartnerID: "dist-1", Enabled: false}})
	m := openModels(t, l.store, t.TempDir())
	waitFor(t, m, off)
	for _, tc := range []struct {
		at   AsOf
		want bool
	}{{AsOf{Position: &on}, true}, {AsOf{}, false}} {
		p, err := m.Partner("dist-1", tc.at)
		if err != nil || p.VerificationRequired != tc.want {
			t.Errorf("as of %v: %+v, %v; want verification_required %v", tc.at, p, err, tc.want)
		}
	}
}

// TestRule20_AcceptanceEndsTheBudget: the billing read model agrees with the domain that an
// accepted disassociation ends the customer's budget: status and budget reads show budget null
// (and the budget as it was before, as of then), the reseller's allocated sum drops, the budget
// history ends with the acceptance; the same after a checkpoint round trip.
func TestRule20_AcceptanceEndsTheBudget(t *testing.T) {
	l := newLedger(t)
	clock := domaintest.NewClock(t0)
	svc := domain.NewService(eventstore.DomainLog(l.store), domain.Options{Clock: clock})
	ctx := context.Background()
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
	must(svc.AssociateCustomer(ctx, domain.AssociateCustomer{Meta: m(opsOf("dist-1")), CustomerID: "c-2", Name: "C2", PartnerID: "res-1"}))
	must(svc.AssociateCustomer(ctx, domain.AssociateCustomer{Meta: m(opsOf("dist-1")), CustomerID: "c-3", Name: "C3", PartnerID: "res-1"}))
	must(svc.SetDelegation(ctx, domain.SetDelegation{Meta: m(opsOf("dist-1")), ResellerID: "res-1", Budget: true}))
	must(svc.SetQuota(ctx, domain.SetQuota{Meta: m(opsOf("dist-1")), ResellerID: "res-1", Monthly: money("500"), OneTime: money("0")}))
	must(svc.SetBudget(ctx, domain.SetBudget{Meta: m(opsOf("res-1")), CustomerID: "c-2", Budget: domain.BudgetSpec{Type: domain.BudgetMonthly, Amount: money("300"), OnExhaustion: domain.ExhaustionFreeze}}))
	set, err := svc.SetBudget(ctx, domain.SetBudget{Meta: m(opsOf("res-1")), CustomerID: "c-3", Budget: domain.BudgetSpec{Type: domain.BudgetMonthly, Amount: money("100"), OnExhaustion: domain.ExhaustionAlert}})
	must(set, err)
	if res, err := svc.RecordUsage(ctx, domain.RecordUsage{Meta: m(domain.Actor{Name: "billing", Role: domain.RoleBilling}), Records: []domain.UsageInput{{RecordID: "r1", CustomerID: "c-2", Amount: money("10"), Time: t0}}}); err != nil || res.Items[0].Err != nil {
		t.Fatalf("usage: %+v, %v", res, err)
	}
	adminMeta := domain.Meta{Actor: opsOf("res-1"), Admin: true}
	must(svc.RequestDisassociation(ctx, domain.RequestDisassociation{Meta: adminMeta, CustomerID: "c-2", Reason: "leaving"}))
	acc, err := svc.AnswerDisassociation(ctx, domain.AnswerDisassociation{Meta: domain.Meta{Actor: domain.Actor{Name: "cust-c-2", Role: domain.RoleCustomer}, CustomerID: "c-2"}, CustomerID: "c-2", Reason: "agreed", Accept: true})
	must(acc, err)
	var domainQuota domain.Quota
	if err := svc.QueryChannel(ctx, domain.ChannelStream("dist-1"), func(c *domain.Channel) {
		for _, p := range c.Partners() {
			if p.ID == "res-1" {
				domainQuota = p.Quota
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rm := openModels(t, l.store, dir)
	accPos, _ := eventstore.ParsePosition(acc.Position)
	setPos, _ := eventstore.ParsePosition(set.Position)
	waitFor(t, rm, accPos)
	check := func(rm *ReadModels) {
		t.Helper()
		if st := mustStatus(t, rm, "c-2", AsOf{Position: &accPos}); st.Budget != nil || st.Associated {
			t.Errorf("status after acceptance: budget %+v, associated %v; want no budget", st.Budget, st.Associated)
		}
		if st := mustStatus(t, rm, "c-2", AsOf{}); st.Budget != nil {
			t.Errorf("status now: budget %+v", st.Budget)
		}
		if b, err := rm.Budget("c-2", AsOf{}); err != nil || b.Budget != nil {
			t.Errorf("budget after acceptance: %+v, %v", b, err)
		}
		if b, err := rm.Budget("c-2", AsOf{Position: &setPos}); err != nil || b.Budget == nil || b.Budget.Amount != "300.00" {
			t.Errorf("budget as of before the acceptance: %+v, %v", b, err)
		}
		q, err := rm.Quota("res-1")
		if err != nil || q.MonthlyAllocated != "100.00" || q.MonthlyAllocated != domainQuota.MonthlyAllocated.String() {
			t.Errorf("quota %+v, %v; want 100.00 allocated (c-3's), as the domain says (%s)", q, err, domainQuota.MonthlyAllocated)
		}
		h, err := rm.BudgetHistory(ctx, "c-2", "", 100)
		if err != nil || len(h.Events) == 0 || h.Events[len(h.Events)-1].Type != domain.EventDisassociationAccepted {
			t.Errorf("budget history %+v, %v; want it to end with the acceptance", h.Events, err)
		}
		if h, err := rm.BudgetHistory(ctx, "c-3", "", 100); err != nil || len(h.Events) != 1 {
			t.Errorf("c-3's budget history %+v, %v", h.Events, err)
		}
	}
	check(rm)
	if err := rm.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	check(openModels(t, l.store, dir))
}
