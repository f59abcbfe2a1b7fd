package projections

import (
	"context"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
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
