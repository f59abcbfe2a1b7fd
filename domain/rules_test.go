package domain_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

const (
	acct = domain.FreezeAccount
	anr  = domain.FreezeAccountAndResource
)

func TestRule01_AssociationFreezesByDefault(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{
			name: "distributor associates its direct customer: associated then frozen ACCOUNT/association in one append",
			when: assoc(op("dist-1"), "c-new", "dist-1"),
			then: []string{domain.EventIDReserved, domain.EventCustomerAssociated, domain.EventCustomerFrozen},
			check: func(f *fixture, res domain.Result) {
				if len(res.Events) != 2 {
					t.Fatalf("result has %d events, want 2", len(res.Events))
				}
				a, fr := res.Events[0], res.Events[1]
				if a.Stream != fr.Stream || fr.Revision != a.Revision+1 || a.Stream != domain.ChannelStream("dist-1") {
					t.Errorf("associated %s@%d and frozen %s@%d are not adjacent in the channel", a.Stream, a.Revision, fr.Stream, fr.Revision)
				}
				d := decode[domain.CustomerFrozen](t, fr)
				if d.FreezeType != acct || d.Origin != domain.OriginAssociation || d.RetentionDeadline != nil {
					t.Errorf("association freeze = %+v", d)
				}
				cu := f.customer("c-new")
				if !cu.Frozen || cu.FreezeType != acct || cu.Origin != domain.OriginAssociation {
					t.Errorf("customer state %+v", cu)
				}
			},
		},
		{
			name: "distributor associates for its reseller: distributor_id is recorded",
			when: assoc(op("dist-1"), "c-new", "res-1"),
			then: []string{domain.EventIDReserved, domain.EventCustomerAssociated, domain.EventCustomerFrozen},
			check: func(f *fixture, res domain.Result) {
				d := decode[domain.CustomerAssociated](t, res.Events[0])
				if d.PartnerID != "res-1" || d.DistributorID != "dist-1" {
					t.Errorf("associated %+v", d)
				}
			},
		},
		{
			name: "a reseller associates its own customer",
			when: assoc(op("res-1"), "c-new", "res-1"),
			then: []string{domain.EventIDReserved, domain.EventCustomerAssociated, domain.EventCustomerFrozen},
		},
		{
			name: "a reseller cannot associate for its distributor",
			when: assoc(op("res-1"), "c-new", "dist-1"),
			code: domain.CodeForbidden, rule: "rule 2",
		},
		{
			name: "unknown partner",
			when: assoc(op("dist-1"), "c-new", "nobody"),
			code: domain.CodeNotFound,
		},
		{
			name: "invalid customer ID",
			when: assoc(op("dist-1"), "bad id!", "dist-1"),
			code: domain.CodeInvalid,
		},
	})
}

func TestRule02_OnlyTheManagerFreezes(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "distributor freezes its direct customer", when: freeze(op("dist-1"), "c-d", anr), then: []string{domain.EventCustomerFrozen}},
		{name: "solution provider freezes its customer", when: freeze(op("sp-1"), "c-s", anr), then: []string{domain.EventCustomerFrozen}},
		{name: "distributor manages a reseller's customer without delegation", when: freeze(op("dist-1"), "c-r1", anr), then: []string{domain.EventCustomerFrozen}},
		{name: "reseller without the freeze permission is refused", when: freeze(op("res-1"), "c-r1", anr), code: domain.CodeForbidden, rule: "rule 2"},
		{name: "reseller with the freeze permission manages", given: []cmd{deleg(op("dist-1"), "res-1", true, false)}, when: unfreeze(op("res-1"), "c-r1", acct), then: []string{domain.EventCustomerUnfrozen}},
		{name: "distributor no longer manages once it delegated", given: []cmd{deleg(op("dist-1"), "res-1", true, false)}, when: freeze(op("dist-1"), "c-r1", anr), code: domain.CodeForbidden, rule: "rule 2"},
		{name: "budget permission alone does not delegate freezing", given: []cmd{deleg(op("dist-1"), "res-1", false, true)}, when: freeze(op("res-1"), "c-r1", anr), code: domain.CodeForbidden, rule: "rule 2"},
		{name: "another reseller of the same distributor cannot see it", given: []cmd{deleg(op("dist-1"), "res-2", true, false)}, when: freeze(op("res-2"), "c-r1", anr), code: domain.CodeNotFound},
		{name: "another channel's partner cannot see it", when: freeze(op("dist-2"), "c-d", anr), code: domain.CodeNotFound},
		{name: "the platform manages partners, not customers", when: freeze(platform, "c-d", anr), code: domain.CodeForbidden, rule: "rule 2"},
		{name: "the platform cannot associate customers", when: assoc(platform, "c-new", "dist-1"), code: domain.CodeForbidden, rule: "rule 2"},
		{name: "auditors cannot write", when: freeze(auditor, "c-d", anr), code: domain.CodeForbidden},
		{name: "readers cannot write", when: unfreeze(reader, "c-d", acct), code: domain.CodeForbidden},
		{name: "an actor of an unregistered partner", when: freeze(op("ghost"), "c-d", anr), code: domain.CodeForbidden},
		{name: "unknown customer", when: freeze(op("dist-1"), "c-none", anr), code: domain.CodeNotFound},
	})
}

func TestRule03_FrozenPartnerCannotAct(t *testing.T) {
	delegated := []cmd{deleg(op("dist-1"), "res-1", true, false)}
	runRuleCases(t, []ruleCase{
		{name: "frozen reseller cannot unfreeze its customer", given: append(slicesClone(delegated), freezeP(op("dist-1"), "res-1")), when: unfreeze(op("res-1"), "c-r1", acct), code: domain.CodeActorFrozen, rule: "rule 3"},
		{name: "frozen reseller cannot freeze", given: append(slicesClone(delegated), freezeP(platform, "res-1")), when: freeze(op("res-1"), "c-r1", anr), code: domain.CodeActorFrozen, rule: "rule 3"},
		{name: "frozen reseller cannot associate", given: []cmd{freezeP(op("dist-1"), "res-1")}, when: assoc(op("res-1"), "c-new", "res-1"), code: domain.CodeActorFrozen, rule: "rule 3"},
		{name: "frozen distributor cannot freeze customers", given: []cmd{freezeP(platform, "dist-1")}, when: freeze(op("dist-1"), "c-d", anr), code: domain.CodeActorFrozen, rule: "rule 3"},
		{name: "frozen distributor cannot register resellers", given: []cmd{freezeP(platform, "dist-1")}, when: reg(op("dist-1"), "res-9", domain.PartnerReseller, ""), code: domain.CodeActorFrozen, rule: "rule 3"},
		{name: "frozen distributor cannot grant", given: []cmd{freezeP(platform, "dist-1")}, when: deleg(op("dist-1"), "res-1", true, false), code: domain.CodeActorFrozen, rule: "rule 3"},
		{name: "frozen distributor cannot revoke", given: append(slicesClone(delegated), freezeP(platform, "dist-1")), when: deleg(op("dist-1"), "res-1", false, false), code: domain.CodeActorFrozen, rule: "rule 3"},
		{name: "frozen distributor cannot unfreeze its reseller", given: []cmd{freezeP(op("dist-1"), "res-1"), freezeP(platform, "dist-1")}, when: unfreezeP(op("dist-1"), "res-1"), code: domain.CodeActorFrozen, rule: "rule 3"},
		{name: "reseller of a frozen distributor is effectively frozen", given: append(slicesClone(delegated), freezeP(platform, "dist-1")), when: unfreeze(op("res-1"), "c-r1", acct), code: domain.CodeActorFrozen, rule: "rule 3"},
		{name: "frozen solution provider cannot act", given: []cmd{freezeP(platform, "sp-1")}, when: unfreeze(op("sp-1"), "c-s", acct), code: domain.CodeActorFrozen, rule: "rule 3"},
		{name: "unfrozen again, it acts", given: append(slicesClone(delegated), freezeP(op("dist-1"), "res-1"), unfreezeP(platform, "res-1")), when: unfreeze(op("res-1"), "c-r1", acct), then: []string{domain.EventCustomerUnfrozen}},
	})
}

// TestRule03_RacesHoldInLogOrder races a reseller's freeze against its own unfreezes of customers,
// and a delegation revoke against the reseller's freezes: in the log, no event by the reseller may
// follow its freeze or the revoke (the validator checks exactly that).
func TestRule03_RacesHoldInLogOrder(t *testing.T) {
	for round := 0; round < 20; round++ {
		f := newFixture(t)
		f.must(world...)
		f.must(deleg(op("dist-1"), "res-1", true, false))
		var ids []string
		for i := 0; i < 8; i++ {
			id := "c-x" + string(rune('a'+i))
			ids = append(ids, id)
			f.must(assoc(op("res-1"), id, "res-1"))
		}
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = unfreeze(op("res-1"), id, acct)(f.ctx, f.svc)
				_, _ = freeze(op("res-1"), id, anr)(f.ctx, f.svc)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if round%2 == 0 {
				_, _ = freezeP(op("dist-1"), "res-1")(f.ctx, f.svc)
			} else {
				_, _ = deleg(op("dist-1"), "res-1", false, false)(f.ctx, f.svc)
			}
		}()
		wg.Wait()
		f.validate()
		// After the freeze or revoke, the reseller is refused.
		if _, err := freeze(op("res-1"), ids[0], anr)(f.ctx, f.svc); domain.ErrorCode(err) == "" {
			t.Fatalf("round %d: reseller still acts after its freeze/revoke", round)
		}
	}
}

func TestRule04_ReasonRequired(t *testing.T) {
	long := strings.Repeat("é", 257)
	runRuleCases(t, []ruleCase{
		{name: "empty reason", when: freezeWhy(op("dist-1"), "c-d", ""), code: domain.CodeInvalid, rule: "rule 4"},
		{name: "blank reason", when: freezeWhy(op("dist-1"), "c-d", " \t\n "), code: domain.CodeInvalid, rule: "rule 4"},
		{name: "257 characters", when: freezeWhy(op("dist-1"), "c-d", long), code: domain.CodeInvalid, rule: "rule 4"},
		{name: "unfreeze without reason", when: unfreezeWhy(op("dist-1"), "c-d", "  "), code: domain.CodeInvalid, rule: "rule 4"},
		{name: "partner freeze without reason", when: freezePWhy(platform, "dist-1", ""), code: domain.CodeInvalid, rule: "rule 4"},
		{
			name: "256 characters after trimming, stored trimmed",
			when: freezeWhy(op("dist-1"), "c-d", "  "+long[:len(long)-2]+"  "),
			then: []string{domain.EventCustomerFrozen},
			check: func(f *fixture, res domain.Result) {
				if r := decode[domain.CustomerFrozen](t, res.Events[0]).Reason; r != long[:len(long)-2] {
					t.Errorf("reason stored as %q", r)
				}
			},
		},
	})
}

func TestRule05_UnfreezeTypeMustMatch(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "unfreeze ACCOUNT_AND_RESOURCE of an ACCOUNT freeze", when: unfreeze(op("dist-1"), "c-d", anr), code: domain.CodeTypeMismatch, rule: "rule 5"},
		{name: "unfreeze ACCOUNT of an ACCOUNT_AND_RESOURCE freeze", given: []cmd{freeze(op("dist-1"), "c-d", anr)}, when: unfreeze(op("dist-1"), "c-d", acct), code: domain.CodeTypeMismatch, rule: "rule 5"},
		{name: "matching unfreeze", when: unfreeze(op("dist-1"), "c-d", acct), then: []string{domain.EventCustomerUnfrozen}},
		{
			name: "upgrade ACCOUNT to ACCOUNT_AND_RESOURCE",
			when: freeze(op("dist-1"), "c-d", anr), then: []string{domain.EventCustomerFrozen},
			check: func(f *fixture, res domain.Result) {
				d := decode[domain.CustomerFrozen](t, res.Events[0])
				if d.PreviousFreezeType != acct || d.Origin != domain.OriginManual || d.RetentionDeadline == nil || !d.RetentionDeadline.Equal(t0.Add(15*24*time.Hour)) {
					t.Errorf("upgrade event %+v", d)
				}
			},
		},
		{name: "freezing with the type it has is a conflict", when: freeze(op("dist-1"), "c-d", acct), code: domain.CodeConflict, rule: "rule 5"},
		{name: "downgrading is a conflict", given: []cmd{freeze(op("dist-1"), "c-d", anr)}, when: freeze(op("dist-1"), "c-d", acct), code: domain.CodeConflict, rule: "rule 5"},
		{name: "unfreezing an active customer is a conflict", given: []cmd{unfreeze(op("dist-1"), "c-d", acct)}, when: unfreeze(op("dist-1"), "c-d", acct), code: domain.CodeConflict, rule: "rule 5"},
		{name: "default freeze type is ACCOUNT", given: []cmd{unfreeze(op("dist-1"), "c-d", acct)}, when: freeze(op("dist-1"), "c-d", ""), then: []string{domain.EventCustomerFrozen}},
		{name: "unknown freeze type", given: []cmd{unfreeze(op("dist-1"), "c-d", acct)}, when: freeze(op("dist-1"), "c-d", "SOFT"), code: domain.CodeInvalid},
		{
			name: "an Idempotency-Key retry is not a conflict",
			given: []cmd{func(ctx context.Context, s *domain.Service) (domain.Result, error) {
				return s.FreezeCustomer(ctx, domain.FreezeCustomer{Meta: domain.Meta{Actor: op("dist-1"), IdempotencyKey: "k1"}, CustomerID: "c-d", Reason: "r", FreezeType: anr})
			}},
			when: func(ctx context.Context, s *domain.Service) (domain.Result, error) {
				return s.FreezeCustomer(ctx, domain.FreezeCustomer{Meta: domain.Meta{Actor: op("dist-1"), IdempotencyKey: "k1"}, CustomerID: "c-d", Reason: "r", FreezeType: anr})
			},
			then: nil,
			check: func(f *fixture, res domain.Result) {
				if !res.Replayed || len(res.Events) != 1 || res.Position == "" {
					t.Errorf("retry result %+v", res)
				}
			},
		},
	})
}

func TestRule06_OnlyTheDistributorDelegates(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{
			name: "distributor grants freeze: no freeze state changes",
			when: deleg(op("dist-1"), "res-1", true, false), then: []string{domain.EventPartnerDelegationGranted},
			check: func(f *fixture, res domain.Result) {
				if d := decode[domain.PartnerDelegationGranted](t, res.Events[0]); len(d.Permissions) != 1 || d.Permissions[0] != domain.PermissionFreeze {
					t.Errorf("granted %+v", d)
				}
				if p := f.partner("res-1"); !p.Delegation.Freeze || p.Delegation.Budget {
					t.Errorf("delegation %+v", p.Delegation)
				}
				if cu := f.customer("c-r1"); !cu.Frozen || cu.Origin != domain.OriginAssociation {
					t.Errorf("delegation changed customer state: %+v", cu)
				}
			},
		},
		{name: "grant both", when: deleg(op("dist-1"), "res-1", true, true), then: []string{domain.EventPartnerDelegationGranted}},
		{name: "swap: one grant and one revoke", given: []cmd{deleg(op("dist-1"), "res-1", true, false)}, when: deleg(op("dist-1"), "res-1", false, true), then: []string{domain.EventPartnerDelegationGranted, domain.EventPartnerDelegationRevoked}},
		{name: "revoke", given: []cmd{deleg(op("dist-1"), "res-1", true, true)}, when: deleg(op("dist-1"), "res-1", false, false), then: []string{domain.EventPartnerDelegationRevoked}},
		{name: "setting what it has appends nothing", given: []cmd{deleg(op("dist-1"), "res-1", true, false)}, when: deleg(op("dist-1"), "res-1", true, false), then: nil,
			check: func(f *fixture, res domain.Result) {
				if res.Position == "" {
					t.Error("a no-op returns the channel's position")
				}
			}},
		{name: "the reseller cannot grant itself", when: deleg(op("res-1"), "res-1", true, false), code: domain.CodeForbidden, rule: "rule 6"},
		{name: "another distributor cannot", when: deleg(op("dist-2"), "res-1", true, false), code: domain.CodeNotFound},
		{name: "the platform cannot", when: deleg(platform, "res-1", true, false), code: domain.CodeForbidden, rule: "rule 6"},
		{name: "not a reseller", when: deleg(op("dist-1"), "dist-1", true, false), code: domain.CodeForbidden, rule: "rule 6"},
	})
}

func TestRule07_PartnerFreezes(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{
			name: "platform freezes a distributor; its customers' own state is unchanged",
			when: freezeP(platform, "dist-1"), then: []string{domain.EventPartnerFrozen},
			check: func(f *fixture, _ domain.Result) {
				if p := f.partner("dist-1"); !p.Frozen || p.FrozenReason != "compliance hold" {
					t.Errorf("partner %+v", p)
				}
				if cu := f.customer("c-d"); cu.FreezeType != acct || cu.Origin != domain.OriginAssociation {
					t.Errorf("customer's own state rewritten: %+v", cu)
				}
			},
		},
		{name: "platform freezes a solution provider", when: freezeP(platform, "sp-1"), then: []string{domain.EventPartnerFrozen}},
		{name: "platform freezes a reseller", when: freezeP(platform, "res-3"), then: []string{domain.EventPartnerFrozen}},
		{name: "distributor freezes its reseller", when: freezeP(op("dist-1"), "res-1"), then: []string{domain.EventPartnerFrozen}},
		{name: "distributor unfreezes its reseller", given: []cmd{freezeP(platform, "res-1")}, when: unfreezeP(op("dist-1"), "res-1"), then: []string{domain.EventPartnerUnfrozen}},
		{name: "distributor cannot freeze another's reseller", when: freezeP(op("dist-1"), "res-3"), code: domain.CodeNotFound},
		{name: "distributor cannot freeze itself", when: freezeP(op("dist-1"), "dist-1"), code: domain.CodeForbidden, rule: "rule 7"},
		{name: "reseller cannot freeze partners", when: freezeP(op("res-1"), "res-2"), code: domain.CodeForbidden, rule: "rule 7"},
		{name: "already frozen is a conflict", given: []cmd{freezeP(platform, "dist-2")}, when: freezeP(platform, "dist-2"), code: domain.CodeConflict},
		{name: "unfreezing a partner that is not frozen", when: unfreezeP(platform, "dist-2"), code: domain.CodeConflict},
		{name: "unknown partner", when: freezeP(platform, "nobody"), code: domain.CodeNotFound},
	})
}

func TestRule08_ResourcesReleasedOnceAfterRetention(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(freeze(op("dist-1"), "c-d", anr), freeze(op("sp-1"), "c-s", anr), freeze(op("dist-1"), "c-r1", anr))
	f.clock.Advance(24 * time.Hour)
	f.must(unfreeze(op("dist-1"), "c-r1", anr)) // lifted within retention: never released

	if n, err := f.svc.ReleaseExpiredResources(f.ctx); err != nil || n != 0 {
		t.Fatalf("before the deadline: released %d, %v", n, err)
	}
	f.clock.Advance(14*24*time.Hour - time.Second)
	if n, _ := f.svc.ReleaseExpiredResources(f.ctx); n != 0 {
		t.Fatalf("one second before the deadline: released %d", n)
	}
	f.clock.Advance(time.Second)
	f.restart() // the channels are not loaded: the log scan finds them
	n, err := f.svc.ReleaseExpiredResources(f.ctx)
	if err != nil || n != 2 {
		t.Fatalf("at the deadline: released %d, %v; want 2", n, err)
	}
	for _, again := range []bool{false, true} {
		if again {
			f.restart()
		}
		if n, _ := f.svc.ReleaseExpiredResources(f.ctx); n != 0 {
			t.Fatalf("released again (restart %v): %d", again, n)
		}
	}
	var rel []domain.StoredEvent
	for _, ev := range f.log.All() {
		if ev.Type == domain.EventCustomerResourcesRelease {
			rel = append(rel, ev)
		}
	}
	if len(rel) != 2 {
		t.Fatalf("%d release events", len(rel))
	}
	for _, ev := range rel {
		m := metaOf(t, ev)
		if m.Actor != domain.SystemActor {
			t.Errorf("released by %+v", m.Actor)
		}
		if d := decode[domain.CustomerResourcesReleased](t, ev); !d.FrozenAt.Equal(t0) {
			t.Errorf("frozen_at %v", d.FrozenAt)
		}
	}
	// Unfreezing restores the account; the resources stay released.
	f.must(unfreeze(op("dist-1"), "c-d", anr))
	if cu := f.customer("c-d"); cu.Frozen || !cu.ResourcesReleased {
		t.Errorf("after unfreeze: %+v", cu)
	}
	// A new ACCOUNT_AND_RESOURCE freeze is a new retention period.
	f.must(freeze(op("dist-1"), "c-d", anr))
	f.clock.Advance(15 * 24 * time.Hour)
	if n, _ := f.svc.ReleaseExpiredResources(f.ctx); n != 1 {
		t.Fatalf("second period: released %d", n)
	}
	f.validate()
}

func TestRule08_ConcurrentReleasersReleaseOnce(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(freeze(op("dist-1"), "c-d", anr), freeze(op("dist-1"), "c-r1", anr))
	f.clock.Advance(16 * 24 * time.Hour)
	other := domain.NewService(f.log, f.opts) // a second instance on the same log
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i, s := range []*domain.Service{f.svc, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := s.ReleaseExpiredResources(f.ctx)
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		}()
	}
	wg.Wait()
	if counts[0]+counts[1] != 2 {
		t.Fatalf("released %v, want 2 in total", counts)
	}
	f.validate()
}

func TestRule09_ReadSideKeepsWhatMarketplaceNeeds(t *testing.T) {
	// Rule 9 is applied by the read models; the domain must keep the freeze type and the
	// resources-released flag on the customer for them.
	f := newFixture(t)
	f.must(world...)
	f.must(freeze(op("dist-1"), "c-d", anr))
	f.clock.Advance(15 * 24 * time.Hour)
	if _, err := f.svc.ReleaseExpiredResources(f.ctx); err != nil {
		t.Fatal(err)
	}
	cu := f.customer("c-d")
	if cu.FreezeType != anr || !cu.ResourcesReleased || !cu.ResourceFrozenAt.Equal(t0) {
		t.Fatalf("customer %+v", cu)
	}
}

func TestRule10_OneChannelPerCustomer(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "another channel associates an associated customer", when: assoc(op("dist-2"), "c-d", "dist-2"), code: domain.CodeConflict, rule: "rule 10"},
		{name: "the same channel associates it again", when: assoc(op("dist-1"), "c-r1", "res-2"), code: domain.CodeConflict, rule: "rule 10"},
		{name: "partner IDs are unique across channels", when: reg(op("dist-2"), "res-1", domain.PartnerReseller, ""), code: domain.CodeConflict, rule: "rule 10"},
		{name: "a distributor cannot take a reseller's ID", when: reg(platform, "res-3", domain.PartnerDistributor, ""), code: domain.CodeConflict, rule: "rule 10"},
		{name: "a registered distributor again", when: reg(platform, "dist-1", domain.PartnerSolutionProvider, ""), code: domain.CodeConflict, rule: "rule 10"},
	})
}

func TestRule10_RacingAssociationsOneWins(t *testing.T) {
	for round := 0; round < 10; round++ {
		f := newFixture(t)
		f.must(world...)
		actors := []domain.Actor{op("dist-1"), op("dist-2"), op("sp-1"), op("res-2"), op("res-3")}
		partners := []string{"dist-1", "dist-2", "sp-1", "res-2", "res-3"}
		other := domain.NewService(f.log, f.opts)
		var wg sync.WaitGroup
		errs := make([]error, len(actors))
		for i := range actors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := f.svc
				if i%2 == 1 {
					s = other
				}
				_, errs[i] = assoc(actors[i], "c-race", partners[i])(f.ctx, s)
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch domain.ErrorCode(err) {
			case "":
				if err != nil {
					t.Fatal(err)
				}
				wins++
			case domain.CodeConflict:
			default:
				t.Fatalf("unexpected %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d associations won: %v", round, wins, errs)
		}
		f.validate()
	}
}

// A crash (or a failed append) between the reservation and the channel append leaves an orphan
// reservation: the same channel reuses it, another channel takes it over once it is older than the
// grace period, and the original holder's late association is then refused.
func TestRule10_OrphanReservations(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	fail := true
	f.log.BeforeAppend = func(stream string, _ []domain.NewEvent) error {
		if fail && stream == domain.ChannelStream("dist-1") {
			return domain.ErrStoreUnavailable
		}
		return nil
	}
	if _, err := assoc(op("dist-1"), "c-o", "dist-1")(f.ctx, f.svc); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("failed append: %v", err)
	}
	fail = false
	// Another channel, within the grace period: conflict.
	if _, err := assoc(op("dist-2"), "c-o", "dist-2")(f.ctx, f.svc); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("young orphan taken over: %v", err)
	}
	// The same channel retries: it reuses its reservation (no second id.reserved).
	before := len(f.log.All())
	if _, err := assoc(op("dist-1"), "c-o", "dist-1")(f.ctx, f.svc); err != nil {
		t.Fatal(err)
	}
	for _, ev := range f.log.All()[before:] {
		if ev.Type == domain.EventIDReserved {
			t.Errorf("the same channel reserved again")
		}
	}

	// A second orphan, by dist-1, later taken over by dist-2.
	fail = true
	if _, err := assoc(op("dist-1"), "c-o2", "dist-1")(f.ctx, f.svc); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("failed append: %v", err)
	}
	fail = false
	f.clock.Advance(time.Minute)
	f.restart()
	res, err := assoc(op("dist-2"), "c-o2", "dist-2")(f.ctx, f.svc)
	if err != nil {
		t.Fatalf("takeover: %v", err)
	}
	if res.Events[0].Stream != domain.ChannelStream("dist-2") {
		t.Fatalf("associated in %s", res.Events[0].Stream)
	}
	var released bool
	for _, ev := range f.log.All() {
		if ev.Type == domain.EventIDReservationReleased && ev.Stream == domain.ChannelStream("dist-1") {
			released = true
		}
	}
	if !released {
		t.Error("the takeover did not release the reservation in the holder's channel")
	}
	if _, err := assoc(op("dist-1"), "c-o2", "dist-1")(f.ctx, f.svc); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("the original holder associates after the takeover: %v", err)
	}
	f.validate()
}

// An association refused after its claim (the actor was frozen in between) gives the reservation
// back in its channel; a later attempt by the same channel claims the ID anew.
func TestRule10_RefusedAfterClaim(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	once := true
	f.log.BeforeAppend = func(stream string, _ []domain.NewEvent) error {
		if once && stream == domain.ReservationStream("customer", "c-x") {
			once = false
			if _, err := freezeP(platform, "res-1")(f.ctx, f.svc); err != nil {
				t.Error(err)
			}
		}
		return nil
	}
	if _, err := assoc(op("res-1"), "c-x", "res-1")(f.ctx, f.svc); domain.ErrorCode(err) != domain.CodeActorFrozen {
		t.Fatalf("association racing the actor's freeze: %v", err)
	}
	var released int
	for _, ev := range f.log.All() {
		if ev.Type == domain.EventIDReservationReleased {
			released++
		}
	}
	if released != 1 {
		t.Fatalf("%d reservation releases, want 1", released)
	}
	f.must(unfreezeP(platform, "res-1"))
	if _, err := assoc(op("res-1"), "c-x", "res-1")(f.ctx, f.svc); err != nil {
		t.Fatalf("retry after the release: %v", err)
	}
	f.validate()
}

func TestRule11_Batches(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(unfreeze(op("dist-1"), "c-d", acct))
	br, err := f.svc.FreezeCustomers(f.ctx, domain.FreezeCustomers{Meta: meta(op("dist-1")), CustomerIDs: []string{"c-d", "c-r1", "c-r3", "c-none", "c-r2"}, Reason: "batch", FreezeType: anr})
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Code{"", "", domain.CodeNotFound, domain.CodeNotFound, ""}
	if len(br.Items) != len(want) {
		t.Fatalf("%d items", len(br.Items))
	}
	for i, it := range br.Items {
		if domain.ErrorCode(it.Err) != want[i] || (want[i] == "" && it.Err != nil) {
			t.Errorf("item %d %s: %v, want %q", i, it.CustomerID, it.Err, want[i])
		}
	}
	if br.Position == "" {
		t.Error("no position")
	}
	for _, id := range []string{"c-d", "c-r1", "c-r2"} {
		if cu := f.customer(id); cu.FreezeType != anr {
			t.Errorf("%s not frozen by the batch: %+v", id, cu)
		}
	}
	ub, err := f.svc.UnfreezeCustomers(f.ctx, domain.UnfreezeCustomers{Meta: meta(op("dist-1")), CustomerIDs: []string{"c-d", "c-d", "c-r1"}, Reason: "paid", UnfreezeType: anr})
	if err != nil {
		t.Fatal(err)
	}
	if ub.Items[0].Err != nil || domain.ErrorCode(ub.Items[1].Err) != domain.CodeConflict || ub.Items[2].Err != nil {
		t.Errorf("unfreeze batch items %+v", ub.Items)
	}
	for _, n := range []int{0, 11} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = "c-d"
		}
		if _, err := f.svc.FreezeCustomers(f.ctx, domain.FreezeCustomers{Meta: meta(op("dist-1")), CustomerIDs: ids, Reason: "x"}); domain.ErrorCode(err) != domain.CodeInvalid || !strings.Contains(err.Error(), "rule 11") {
			t.Errorf("batch of %d: %v", n, err)
		}
	}
	f.validate()
}

func slicesClone(c []cmd) []cmd { return append([]cmd(nil), c...) }

// plainLog hides the MemoryLog's GlobalReader: the service then only knows the channels it loaded.
type plainLog struct{ domain.EventLog }

func TestRule08_WithoutGlobalReader(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(freeze(op("dist-1"), "c-d", anr), freeze(op("sp-1"), "c-s", anr))
	f.clock.Advance(15 * 24 * time.Hour)
	svc := domain.NewService(plainLog{f.log}, f.opts)
	if n, err := svc.ReleaseExpiredResources(f.ctx); err != nil || n != 0 {
		t.Fatalf("no channel loaded yet: released %d, %v", n, err)
	}
	if _, _, _, err := svc.Customer(f.ctx, "c-d"); err != nil { // loads dist-1's channel
		t.Fatal(err)
	}
	if n, err := svc.ReleaseExpiredResources(f.ctx); err != nil || n != 1 {
		t.Fatalf("dist-1 loaded: released %d, %v; want 1", n, err)
	}
	f.validate()
}
