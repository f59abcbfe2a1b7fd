package domain_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
)

// admin is an admin of partner p; verified marks its commands as carrying a valid code.
func admin(p string) domain.Actor {
	return domain.Actor{Name: "admin-" + p, Role: domain.RolePartner, PartnerID: p}
}

func adminMeta(p string, verified bool) domain.Meta {
	return domain.Meta{Actor: admin(p), RequestID: "req-test", Admin: true, Verified: verified}
}

func customerMeta(id string) domain.Meta {
	return domain.Meta{Actor: domain.Actor{Name: "cust-" + id, Role: domain.RoleCustomer}, RequestID: "req-test", CustomerID: id}
}

func setVerif(m domain.Meta, partner string, on bool) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.SetVerification(ctx, domain.SetVerification{Meta: m, PartnerID: partner, Enabled: on})
	}
}

func freezeM(m domain.Meta, customer string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.FreezeCustomer(ctx, domain.FreezeCustomer{Meta: m, CustomerID: customer, Reason: "overdue invoice", FreezeType: acct})
	}
}

func unfreezeM(m domain.Meta, customer string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.UnfreezeCustomer(ctx, domain.UnfreezeCustomer{Meta: m, CustomerID: customer, Reason: "paid", UnfreezeType: acct})
	}
}

func batchM(m domain.Meta, ids ...string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		res, err := s.UnfreezeCustomers(ctx, domain.UnfreezeCustomers{Meta: m, CustomerIDs: ids, Reason: "paid", UnfreezeType: acct})
		return domain.Result{Position: res.Position}, err
	}
}

func delegM(m domain.Meta, reseller string, fr bool) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.SetDelegation(ctx, domain.SetDelegation{Meta: m, ResellerID: reseller, Freeze: fr})
	}
}

func requestDis(m domain.Meta, customer string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.RequestDisassociation(ctx, domain.RequestDisassociation{Meta: m, CustomerID: customer, Reason: "moving to another partner"})
	}
}

func answerDis(m domain.Meta, customer string, accept bool) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.AnswerDisassociation(ctx, domain.AnswerDisassociation{Meta: m, CustomerID: customer, Reason: "agreed", Accept: accept})
	}
}

func TestRule19_VerificationSwitch(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{
			name: "an admin switches it on with a valid code",
			when: setVerif(adminMeta("dist-1", true), "dist-1", true),
			then: []string{domain.EventPartnerVerificationSet},
			check: func(f *fixture, res domain.Result) {
				if !f.partner("dist-1").VerificationRequired {
					t.Error("dist-1 does not require verification")
				}
				if m := metaOf(t, res.Events[0]); m.Verification != "totp" || !m.ActorAdmin {
					t.Errorf("metadata %+v: want verification totp and actor_admin", m)
				}
			},
		},
		{name: "switching on needs a code", when: setVerif(adminMeta("dist-1", false), "dist-1", true), code: domain.CodeVerificationRequired, rule: "rule 19"},
		{name: "only an admin", when: setVerif(domain.Meta{Actor: op("dist-1"), Verified: true}, "dist-1", true), code: domain.CodeForbidden, rule: "rule 19"},
		{name: "only of its own partner (a reseller's distributor may not)", when: setVerif(adminMeta("dist-1", true), "res-1", true), code: domain.CodeForbidden, rule: "rule 19"},
		{name: "another channel's partner is not found", when: setVerif(adminMeta("dist-1", true), "dist-2", true), code: domain.CodeNotFound},
		{name: "the platform does not switch a partner's codes", when: setVerif(domain.Meta{Actor: platform, Verified: true}, "dist-1", true), code: domain.CodeForbidden},
		{
			name:  "switching off needs a code",
			given: []cmd{setVerif(adminMeta("dist-1", true), "dist-1", true)},
			when:  setVerif(adminMeta("dist-1", false), "dist-1", false), code: domain.CodeVerificationRequired,
		},
		{
			name:  "off again with a code",
			given: []cmd{setVerif(adminMeta("dist-1", true), "dist-1", true)},
			when:  setVerif(adminMeta("dist-1", true), "dist-1", false),
			then:  []string{domain.EventPartnerVerificationSet},
		},
		{
			name:  "setting what it is appends nothing",
			given: []cmd{setVerif(adminMeta("dist-1", true), "dist-1", true)},
			when:  setVerif(adminMeta("dist-1", true), "dist-1", true),
			then:  nil,
		},
		{
			name:  "a frozen partner cannot switch (rule 3)",
			given: []cmd{freezeP(platform, "dist-1")},
			when:  setVerif(adminMeta("dist-1", true), "dist-1", true), code: domain.CodeActorFrozen,
		},
	})
}

func TestRule19_CriticalOperationsNeedACode(t *testing.T) {
	on := []cmd{setVerif(adminMeta("dist-1", true), "dist-1", true)}
	plain := domain.Meta{Actor: op("dist-1"), RequestID: "req-test"}
	verified := plain
	verified.Verified = true
	runRuleCases(t, []ruleCase{
		{name: "freeze without a code", given: on, when: freezeM(plain, "c-d"), code: domain.CodeVerificationRequired, rule: "rule 19"},
		{
			name: "freeze with a code: recorded as verified", given: on, when: unfreezeM(verified, "c-d"),
			then: []string{domain.EventCustomerUnfrozen},
			check: func(f *fixture, res domain.Result) {
				if m := metaOf(t, res.Events[0]); m.Verification != domain.VerificationTOTP {
					t.Errorf("verification %q, want totp", m.Verification)
				}
			},
		},
		{name: "batch without a code", given: on, when: batchM(plain, "c-d", "c-r1"), code: domain.CodeVerificationRequired},
		{name: "batch with a code", given: on, when: batchM(verified, "c-d", "c-r1"), then: []string{domain.EventCustomerUnfrozen, domain.EventCustomerUnfrozen}},
		{name: "delegation without a code", given: on, when: delegM(plain, "res-1", true), code: domain.CodeVerificationRequired},
		{name: "partner freeze without a code", given: on, when: func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.FreezePartner(ctx, domain.FreezePartner{Meta: plain, PartnerID: "res-1", Reason: "hold"})
		}, code: domain.CodeVerificationRequired},
		{name: "another partner's principals are not asked", given: on, when: unfreeze(op("dist-2"), "c-r3", acct), then: []string{domain.EventCustomerUnfrozen}},
		{name: "a reseller of the partner is a partner of its own: not asked", given: append(on, delegM(verified, "res-2", true)), when: unfreeze(op("res-2"), "c-r2", acct), then: []string{domain.EventCustomerUnfrozen}},
		{name: "off: no code needed", when: unfreezeM(plain, "c-d"), then: []string{domain.EventCustomerUnfrozen}},
		{name: "associating is not critical", given: on, when: assoc(op("dist-1"), "c-new", "dist-1"), then: []string{domain.EventIDReserved, domain.EventCustomerAssociated, domain.EventCustomerFrozen}},
	})
}

// TestRule19_RacesHoldInLogOrder: the switch and unverified freezes race; in the log, no unverified
// critical event of dist-1's principals follows the switch (the validator replays it).
func TestRule19_RacesHoldInLogOrder(t *testing.T) {
	for round := 0; round < 20; round++ {
		f := newFixture(t)
		f.must(world...)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = setVerif(adminMeta("dist-1", true), "dist-1", true)(f.ctx, f.svc)
		}()
		for _, id := range []string{"c-d", "c-r1"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := unfreeze(op("dist-1"), id, acct)(f.ctx, f.svc)
				if err != nil && domain.ErrorCode(err) != domain.CodeVerificationRequired {
					t.Errorf("unfreeze %s: %v", id, err)
				}
			}()
		}
		wg.Wait()
		f.validate()
	}
}

// TestRule19_ValidatorNamesAForgedUnverifiedFreeze: an unverified freeze by dist-1's principal,
// written after the switch by a forger, fails verification naming the event.
func TestRule19_ValidatorNamesAForgedUnverifiedFreeze(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(setVerif(adminMeta("dist-1", true), "dist-1", true))
	verified := domain.Meta{Actor: op("dist-1"), Verified: true}
	f.must(unfreezeM(verified, "c-d"))
	f.validate()
	evs := f.log.All()
	last := evs[len(evs)-1]
	var m map[string]any
	if err := json.Unmarshal(last.Metadata, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "verification")
	forged := last
	forged.ID = uuid.New()
	forged.Metadata, _ = json.Marshal(m)
	forged.Type = domain.EventCustomerFrozen
	forged.Revision++
	forged.Position = "forged"
	forged.Data, _ = json.Marshal(domain.CustomerFrozen{CustomerID: "c-d", FreezeType: acct, Origin: domain.OriginManual, Reason: "forged"})
	err := domain.ValidateHistory(append(evs, forged), domain.HistoryOptions{Retention: f.opts.Retention})
	var v *domain.Violation
	if !errors.As(err, &v) || v.EventID != forged.ID || v.Rule != "rule 19" {
		t.Fatalf("validator: %v; want a rule 19 violation naming event %s", err, forged.ID)
	}
	// The same event with verification recorded is accepted.
	m["verification"] = "totp"
	forged.Metadata, _ = json.Marshal(m)
	if err := domain.ValidateHistory(append(evs, forged), domain.HistoryOptions{Retention: f.opts.Retention}); err != nil {
		t.Fatalf("a verified freeze: %v", err)
	}
}

func TestRule20_Disassociation(t *testing.T) {
	adm := adminMeta("dist-1", false)
	cust := customerMeta("c-d")
	runRuleCases(t, []ruleCase{
		{
			name: "the partner's admin requests; it lapses in 7 days", when: requestDis(adm, "c-d"),
			then: []string{domain.EventDisassociationRequested},
			check: func(f *fixture, res domain.Result) {
				d := decode[domain.DisassociationRequested](t, res.Events[0])
				if !d.ExpiresAt.Equal(t0.Add(7 * 24 * time.Hour)) {
					t.Errorf("expires_at %s", d.ExpiresAt)
				}
				if cu := f.customer("c-d"); cu.Disassociation == nil || cu.Disassociation.State != domain.DisassociationStatePending {
					t.Errorf("disassociation %+v", cu.Disassociation)
				}
			},
		},
		{name: "the customer requests", when: requestDis(cust, "c-d"), then: []string{domain.EventDisassociationRequested}},
		{name: "a customer only for itself", when: requestDis(customerMeta("c-r1"), "c-d"), code: domain.CodeNotFound},
		{name: "a non-admin is refused", when: requestDis(meta(op("dist-1")), "c-d"), code: domain.CodeForbidden, rule: "rule 20"},
		{name: "the distributor of a reseller's customer is refused", when: requestDis(adminMeta("dist-1", false), "c-r1"), code: domain.CodeForbidden, rule: "rule 20"},
		{name: "the platform is refused", when: requestDis(domain.Meta{Actor: platform}, "c-d"), code: domain.CodeForbidden},
		{name: "another channel's customer is not found", when: requestDis(adminMeta("dist-2", false), "c-d"), code: domain.CodeNotFound},
		{name: "refused while a manual freeze stands", given: []cmd{unfreeze(op("dist-1"), "c-d", acct), freeze(op("dist-1"), "c-d", acct)}, when: requestDis(adm, "c-d"), code: domain.CodeConflict, rule: "rule 20"},
		{name: "refused while a request is pending", given: []cmd{requestDis(cust, "c-d")}, when: requestDis(adm, "c-d"), code: domain.CodeConflict, rule: "rule 20"},
		{name: "refused within 90 days of the last request", given: []cmd{requestDis(cust, "c-d"), answerDis(adm, "c-d", false)}, when: requestDis(cust, "c-d"), code: domain.CodeConflict, rule: "90 days"},
		{name: "the requester cannot answer", given: []cmd{requestDis(cust, "c-d")}, when: answerDis(cust, "c-d", true), code: domain.CodeForbidden},
		{name: "a non-admin cannot answer", given: []cmd{requestDis(cust, "c-d")}, when: answerDis(meta(op("dist-1")), "c-d", true), code: domain.CodeForbidden},
		{name: "nothing to answer", when: answerDis(cust, "c-d", true), code: domain.CodeConflict},
		{name: "the other side rejects", given: []cmd{requestDis(adm, "c-d")}, when: answerDis(cust, "c-d", false), then: []string{domain.EventDisassociationRejected}},
		{
			name: "the other side accepts: the association and its freeze end", given: []cmd{requestDis(cust, "c-d")}, when: answerDis(adm, "c-d", true),
			then: []string{domain.EventDisassociationAccepted},
			check: func(f *fixture, res domain.Result) {
				if d := decode[domain.DisassociationAccepted](t, res.Events[0]); d.ReservationRevision != 0 {
					t.Errorf("releases reservation %d, want 0", d.ReservationRevision)
				}
				if _, _, _, err := f.svc.Customer(f.ctx, "c-d"); domain.ErrorCode(err) != domain.CodeNotFound {
					t.Errorf("a disassociated customer: %v, want not_found", err)
				}
				var cu domain.Customer
				_ = f.svc.QueryChannel(f.ctx, domain.ChannelStream("dist-1"), func(c *domain.Channel) { cu, _ = c.Customer("c-d") })
				if !cu.Disassociated || cu.Frozen {
					t.Errorf("after acceptance %+v", cu)
				}
			},
		},
		{name: "acceptance refused while a manual freeze stands", given: []cmd{unfreeze(op("dist-1"), "c-d", acct), requestDis(cust, "c-d"), freeze(op("dist-1"), "c-d", acct)}, when: answerDis(adm, "c-d", true), code: domain.CodeConflict, rule: "manual freeze"},
		{name: "a verification-requiring admin needs a code", given: []cmd{setVerif(adminMeta("dist-1", true), "dist-1", true)}, when: requestDis(adm, "c-d"), code: domain.CodeVerificationRequired},
		{name: "a customer needs no code", given: []cmd{setVerif(adminMeta("dist-1", true), "dist-1", true)}, when: requestDis(cust, "c-d"), then: []string{domain.EventDisassociationRequested}},
	})
}

// TestRule20_LapseAfterSevenDays: an unanswered request lapses (system) after 7 days, once; an
// answer after the expiry is refused; 90 days after the request another may be made.
func TestRule20_LapseAfterSevenDays(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(requestDis(customerMeta("c-d"), "c-d"))
	f.clock.Advance(7*24*time.Hour - time.Millisecond)
	if n, err := f.svc.LapseDisassociations(f.ctx); err != nil || n != 0 {
		t.Fatalf("before 7 days: %d lapsed, %v", n, err)
	}
	f.clock.Advance(time.Millisecond)
	if _, err := answerDis(adminMeta("dist-1", false), "c-d", true)(f.ctx, f.svc); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("an answer at the expiry: %v, want conflict", err)
	}
	f.restart()
	if n, err := f.svc.LapseDisassociations(f.ctx); err != nil || n != 1 {
		t.Fatalf("at 7 days: %d lapsed, %v; want 1", n, err)
	}
	if n, err := f.svc.LapseDisassociations(f.ctx); err != nil || n != 0 {
		t.Fatalf("again: %d lapsed, %v; want 0", n, err)
	}
	evs := f.log.All()
	last := evs[len(evs)-1]
	if last.Type != domain.EventDisassociationLapsed || metaOf(t, last).Actor != domain.SystemActor {
		t.Fatalf("last event %s by %+v", last.Type, metaOf(t, last).Actor)
	}
	f.clock.Advance(83*24*time.Hour - time.Millisecond)
	if _, err := requestDis(customerMeta("c-d"), "c-d")(f.ctx, f.svc); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("89.99 days after the request: %v, want conflict", err)
	}
	f.clock.Advance(time.Millisecond)
	f.must(requestDis(customerMeta("c-d"), "c-d"))
	f.validate()
}

// TestRule20_ReassociationByAnotherPartner: after acceptance another partner associates the
// customer afresh, frozen by default (rule 1); the old channel keeps its history.
func TestRule20_ReassociationByAnotherPartner(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(requestDis(customerMeta("c-d"), "c-d"), answerDis(adminMeta("dist-1", false), "c-d", true))
	res, err := assoc(op("dist-2"), "c-d", "dist-2")(f.ctx, f.svc)
	if err != nil {
		t.Fatalf("re-association by dist-2: %v", err)
	}
	if d := decode[domain.CustomerFrozen](t, res.Events[1]); d.Origin != domain.OriginAssociation {
		t.Errorf("re-association freeze %+v", d)
	}
	if cu := f.customer("c-d"); cu.PartnerID != "dist-2" || !cu.Frozen {
		t.Errorf("customer %+v", cu)
	}
	// The old partner no longer acts on it.
	if _, err := unfreeze(op("dist-1"), "c-d", acct)(f.ctx, f.svc); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("the old partner unfreezes: %v, want not_found", err)
	}
	f.restart()
	if cu := f.customer("c-d"); cu.PartnerID != "dist-2" {
		t.Errorf("after a restart: %+v", cu)
	}
	f.validate()
}

// TestRule20_AcceptanceRacesAnAssociation: acceptance and another partner's association attempts
// race; the reservation is released exactly once (by the acceptance), at most one association
// wins, and the log validates.
func TestRule20_AcceptanceRacesAnAssociation(t *testing.T) {
	for round := 0; round < 20; round++ {
		f := newFixture(t)
		f.opts.ReservationGrace = time.Nanosecond // make takeovers of any claim possible at once
		f.restart()
		f.must(world...)
		f.must(requestDis(customerMeta("c-d"), "c-d"))
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := answerDis(adminMeta("dist-1", false), "c-d", true)(f.ctx, f.svc); err != nil {
				t.Errorf("accept: %v", err)
			}
		}()
		for _, p := range []string{"dist-2", "sp-1"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := assoc(op(p), "c-d", p)(f.ctx, f.svc)
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else if domain.ErrorCode(err) != domain.CodeConflict {
					t.Errorf("associate by %s: %v", p, err)
				}
			}()
		}
		wg.Wait()
		if won > 1 {
			t.Fatalf("%d associations won", won)
		}
		released := 0
		for _, ev := range f.log.All() {
			switch ev.Type {
			case domain.EventDisassociationAccepted:
				released++
			case domain.EventIDReservationReleased:
				if strings.Contains(string(ev.Data), `"id":"c-d"`) && strings.Contains(string(ev.Data), `"reservation_revision":0`) {
					released++
				}
			}
		}
		if released != 1 {
			t.Fatalf("reservation 0 of c-d released %d times", released)
		}
		f.validate()
	}
}

// budgetM sets a monthly budget of amount with a freeze policy on customer, as m.
func budgetM(m domain.Meta, customer, amount string, unfreeze bool) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		a, err := domain.ParseMoney("amount", amount)
		if err != nil {
			return domain.Result{}, err
		}
		cmd := domain.SetBudget{Meta: m, CustomerID: customer, Budget: domain.BudgetSpec{Type: domain.BudgetMonthly, Amount: a, OnExhaustion: domain.ExhaustionFreeze}, Unfreeze: unfreeze}
		if unfreeze {
			cmd.Reason = "budget raised"
		}
		return s.SetBudget(ctx, cmd)
	}
}

func budgetsM(m domain.Meta, ids ...string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		res, err := s.SetBudgets(ctx, domain.SetBudgets{Meta: m, CustomerIDs: ids, Budget: domain.BudgetSpec{Type: domain.BudgetMonthly, Amount: 100_00, OnExhaustion: domain.ExhaustionAlert}})
		if err == nil {
			for _, it := range res.Items {
				if it.Err != nil {
					return domain.Result{Position: res.Position}, it.Err
				}
			}
		}
		return domain.Result{Position: res.Position}, err
	}
}

func removeBudgetM(m domain.Meta, customer string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.RemoveBudget(ctx, domain.RemoveBudget{Meta: m, CustomerID: customer})
	}
}

func quotaM(m domain.Meta, reseller, monthly string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		q, err := domain.ParseMoney("monthly_quota", monthly)
		if err != nil {
			return domain.Result{}, err
		}
		return s.SetQuota(ctx, domain.SetQuota{Meta: m, ResellerID: reseller, Monthly: q})
	}
}

func eraseM(m domain.Meta, customer string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.ErasePersonalData(ctx, domain.ErasePersonalData{Meta: m, CustomerID: customer, Reason: "right to erasure request #7"})
	}
}

// TestRule19_BudgetsQuotasAndErasureNeedACode: setting or removing a budget (single, with its
// unfreeze, and batch), setting a quota and erasing personal data are critical operations.
func TestRule19_BudgetsQuotasAndErasureNeedACode(t *testing.T) {
	on := []cmd{setVerif(adminMeta("dist-1", true), "dist-1", true)}
	plain := domain.Meta{Actor: op("dist-1"), RequestID: "req-test"}
	verified := plain
	verified.Verified = true
	withBudget := append(slicesClone(on), budgetM(verified, "c-d", "100", false))
	withPersonal := append(slicesClone(on), assocPersonal(op("dist-1"), "c-p", "dist-1", withMobile()))
	recordedVerified := func(f *fixture, res domain.Result) {
		for _, ev := range res.Events {
			if m := metaOf(t, ev); m.Actor.Role == domain.RolePartner && m.Verification != domain.VerificationTOTP {
				t.Errorf("%s by %s: verification %q, want totp", ev.Type, m.Actor.Name, m.Verification)
			}
		}
	}
	runRuleCases(t, []ruleCase{
		{name: "budget set without a code", given: on, when: budgetM(plain, "c-d", "100", false), code: domain.CodeVerificationRequired, rule: "rule 19"},
		{name: "budget set with a code", given: on, when: budgetM(verified, "c-d", "100", false), then: []string{domain.EventBudgetSet}, check: recordedVerified},
		{name: "budget set with its unfreeze without a code", given: on, when: budgetM(plain, "c-d", "100", true), code: domain.CodeVerificationRequired, rule: "rule 19"},
		{name: "budget set with its unfreeze with a code", given: on, when: budgetM(verified, "c-d", "100", true), then: []string{domain.EventBudgetSet, domain.EventCustomerUnfrozen}, check: recordedVerified},
		{name: "budget removal without a code", given: withBudget, when: removeBudgetM(plain, "c-d"), code: domain.CodeVerificationRequired, rule: "rule 19"},
		{name: "budget removal with a code", given: withBudget, when: removeBudgetM(verified, "c-d"), then: []string{domain.EventBudgetRemoved}, check: recordedVerified},
		{name: "budget batch without a code", given: on, when: budgetsM(plain, "c-d", "c-r1"), code: domain.CodeVerificationRequired, rule: "rule 19"},
		{name: "budget batch with a code", given: on, when: budgetsM(verified, "c-d", "c-r1"), then: []string{domain.EventBudgetSet, domain.EventBudgetSet}, check: recordedVerified},
		{name: "quota without a code", given: on, when: quotaM(plain, "res-1", "500"), code: domain.CodeVerificationRequired, rule: "rule 19"},
		{name: "quota with a code", given: on, when: quotaM(verified, "res-1", "500"), then: []string{domain.EventPartnerQuotaSet}, check: recordedVerified},
		{name: "erasure without a code", given: withPersonal, when: eraseM(adminMeta("dist-1", false), "c-p"), code: domain.CodeVerificationRequired, rule: "rule 19"},
		{name: "erasure with a code", given: withPersonal, when: eraseM(adminMeta("dist-1", true), "c-p"), then: []string{domain.EventCustomerPersonalDataErased}, check: recordedVerified},
		{name: "the platform's erasure is not asked", given: withPersonal, when: eraseM(domain.Meta{Actor: platform, RequestID: "req-test"}, "c-p"), then: []string{domain.EventCustomerPersonalDataErased}},
		{name: "off: a budget needs no code", when: budgetM(plain, "c-d", "100", false), then: []string{domain.EventBudgetSet}},
		{name: "another partner's budget is not asked", given: on, when: budgetM(domain.Meta{Actor: op("sp-1")}, "c-s", "100", false), then: []string{domain.EventBudgetSet}},
	})
}

// TestRule19_ValidatorNamesAForgedUnverifiedBudget: a budget.set by dist-1's principal without
// verification, written after the switch by a forger, fails validation naming the event; so do a
// forged unverified budget removal, quota and erasure.
func TestRule19_ValidatorNamesAForgedUnverifiedBudget(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(assocPersonal(op("dist-1"), "c-p", "dist-1", withMobile()))
	f.must(setVerif(adminMeta("dist-1", true), "dist-1", true))
	verified := domain.Meta{Actor: op("dist-1"), Verified: true}
	f.must(budgetM(verified, "c-d", "100", false))
	f.validate()
	evs := f.log.All()
	last := evs[len(evs)-1]
	if last.Type != domain.EventBudgetSet {
		t.Fatalf("last event %s, want budget.set", last.Type)
	}
	var m map[string]any
	if err := json.Unmarshal(last.Metadata, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "verification")
	unverified, _ := json.Marshal(m)
	m["actor_admin"] = true
	unverifiedAdmin, _ := json.Marshal(m)
	forge := func(typ string, md []byte, data any) domain.StoredEvent {
		ev := last
		ev.ID = uuid.New()
		ev.Type = typ
		ev.Metadata = md
		ev.Revision++
		ev.Position = "forged"
		ev.Data, _ = json.Marshal(data)
		return ev
	}
	for _, forged := range []domain.StoredEvent{
		forge(domain.EventBudgetSet, unverified, domain.BudgetSet{CustomerID: "c-r1", Type: domain.BudgetMonthly, Amount: 50_00, OnExhaustion: domain.ExhaustionAlert, Period: domain.Period(t0)}),
		forge(domain.EventBudgetRemoved, unverified, domain.BudgetRemoved{CustomerID: "c-d"}),
		forge(domain.EventPartnerQuotaSet, unverified, domain.PartnerQuotaSet{PartnerID: "res-1", MonthlyQuota: 500_00}),
		forge(domain.EventCustomerPersonalDataErased, unverifiedAdmin, domain.CustomerPersonalDataErased{CustomerID: "c-p", KeyID: testKeyID, Reason: "forged"}),
	} {
		err := domain.ValidateHistory(append(evs[:len(evs):len(evs)], forged), domain.HistoryOptions{Retention: f.opts.Retention})
		var v *domain.Violation
		if !errors.As(err, &v) || v.EventID != forged.ID || v.Rule != "rule 19" {
			t.Errorf("forged unverified %s: %v; want a rule 19 violation naming event %s", forged.Type, err, forged.ID)
		}
		// The same event with verification recorded is accepted: only the missing code is wrong.
		var fm map[string]any
		_ = json.Unmarshal(forged.Metadata, &fm)
		fm["verification"] = domain.VerificationTOTP
		forged.Metadata, _ = json.Marshal(fm)
		if err := domain.ValidateHistory(append(evs[:len(evs):len(evs)], forged), domain.HistoryOptions{Retention: f.opts.Retention}); err != nil {
			t.Errorf("a verified %s: %v", forged.Type, err)
		}
	}
}

// TestRule20_AcceptanceEndsTheBudget: "freezes and budgets end with the association". A reseller's
// customer with a budget charged to the reseller's quota is disassociated: its budget is gone, the
// reseller's allocated sum drops (its quota may then be lowered), no reset or threshold follows,
// the old channel may set no budget on it, and the billing feed's records and resources for it are
// not_found (it is no partner's customer any more); after a restart the same; the log validates.
func TestRule20_AcceptanceEndsTheBudget(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(deleg(op("dist-1"), "res-1", false, true), quota(op("dist-1"), "res-1", "100", "0"),
		budget(op("res-1"), "c-r1", domain.BudgetMonthly, "60", domain.ExhaustionFreeze),
		budget(op("dist-1"), "c-d", domain.BudgetMonthly, "50", domain.ExhaustionAlert),
		usage(rec("u-1", "c-r1", "10", f.clock.Now())))
	if p := f.partner("res-1"); p.Quota.MonthlyAllocated != money(t, "60") {
		t.Fatalf("allocated %s before, want 60.00", p.Quota.MonthlyAllocated)
	}
	f.must(requestDis(adminMeta("res-1", false), "c-r1"), answerDis(customerMeta("c-r1"), "c-r1", true))
	f.must(requestDis(customerMeta("c-d"), "c-d"), answerDis(adminMeta("dist-1", false), "c-d", true))
	check := func(when string) {
		t.Helper()
		for _, id := range []string{"c-r1", "c-d"} {
			var b *domain.CustomerBilling
			if err := f.svc.QueryChannel(f.ctx, domain.ChannelStream("dist-1"), func(c *domain.Channel) { b = c.Billing(id) }); err != nil {
				t.Fatal(err)
			}
			if bu, ok := b.Budget(); ok {
				t.Errorf("%s: %s still has a budget %+v", when, id, bu)
			}
		}
		if p := f.partner("res-1"); p.Quota.MonthlyAllocated != 0 || p.Quota.Monthly != money(t, "100") {
			t.Errorf("%s: res-1's quota %+v, want 100.00 with nothing allocated", when, p.Quota)
		}
	}
	check("after acceptance")
	f.restart()
	check("after a restart")

	// The old channel sets no budget on it, and the billing feed finds no such customer.
	for name, c := range map[string]cmd{
		"the reseller's budget":         budget(op("res-1"), "c-r1", domain.BudgetMonthly, "10", domain.ExhaustionAlert),
		"the distributor's budget":      budget(op("dist-1"), "c-d", domain.BudgetMonthly, "10", domain.ExhaustionAlert),
		"a budget removal":              removeBudgetM(meta(op("dist-1")), "c-d"),
		"a usage record":                usage(rec("u-2", "c-r1", "1", f.clock.Now())),
		"a resource":                    resource("c-d", "vm-1", domain.ProductCloud, nil),
		"an erasure by the old partner": erase(op("dist-1"), true, "c-d"),
	} {
		if _, err := c(f.ctx, f.svc); codeOf(err) != domain.CodeNotFound {
			t.Errorf("%s after disassociation: %v, want not_found", name, err)
		}
	}
	// The quota is free again: the distributor may lower it to 0.
	f.must(quota(op("dist-1"), "res-1", "0", "0"))
	// No monthly reset follows for a budget that ended.
	f.clock.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if n, err := f.svc.ResetBudgets(f.ctx); err != nil || n != 0 {
		t.Errorf("reset after disassociation: %d, %v; want 0", n, err)
	}
	f.validate()

	// The validator agrees: a budget or a usage record forged into the old channel after the
	// acceptance fails, naming the event.
	evs := f.log.All()
	var last domain.StoredEvent
	for _, ev := range evs {
		if ev.Stream == domain.ChannelStream("dist-1") {
			last = ev
		}
	}
	forge := func(typ string, a domain.Actor, data any) domain.StoredEvent {
		ev := last
		ev.ID, ev.Type, ev.Revision, ev.Position = uuid.New(), typ, last.Revision+1, "forged"
		ev.Metadata, _ = json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: a, RequestID: "forged", Time: f.clock.Now()})
		ev.Data, _ = json.Marshal(data)
		return ev
	}
	for _, forged := range []domain.StoredEvent{
		forge(domain.EventBudgetSet, op("dist-1"), domain.BudgetSet{CustomerID: "c-d", Type: domain.BudgetMonthly, Amount: 10_00, OnExhaustion: domain.ExhaustionAlert, Period: "2026-12"}),
		forge(domain.EventUsageRecorded, billing, domain.UsageRecorded{CustomerID: "c-r1", Records: []domain.UsageRecord{{RecordID: "u-9", Amount: 1_00, Time: f.clock.Now()}}}),
	} {
		err := domain.ValidateHistory(append(evs[:len(evs):len(evs)], forged), domain.HistoryOptions{Retention: f.opts.Retention})
		var v *domain.Violation
		if !errors.As(err, &v) || v.EventID != forged.ID || !strings.Contains(v.Reason, "not found") {
			t.Errorf("forged %s after disassociation: %v; want a not_found violation naming event %s", forged.Type, err, forged.ID)
		}
	}
}
