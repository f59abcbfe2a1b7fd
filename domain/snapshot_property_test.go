package domain_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
)

// The snapshot property: random histories through the command service, with every phase 2 event
// type (billing, budgets and their system follow-ups, quotas, verification, personal data,
// disassociations and their lapse), are snapshotted at a random revision, decoded and caught up
// with the rest of their log; the state is then the one a replay of the whole log gives, field by
// field (domain.SnapshotReplayDiffForTest).

// snapCustomers are the customers the snapshot property acts on: world's three in dist-1's
// channel, one with personal data, and one associated later (and again after a disassociation).
var snapCustomers = []string{"c-d", "c-r1", "c-r2", "c-p", "c-n"}

// snapManager is the partner managing each of snapCustomers.
var snapManager = map[string]string{"c-d": "dist-1", "c-r1": "res-1", "c-r2": "res-2", "c-p": "dist-1", "c-n": "dist-1"}

// phase2Types are the event types the property's histories must contain between them.
var phase2Types = []string{
	domain.EventUsageRecorded, domain.EventResourceReported, domain.EventResourceRemoved, domain.EventBudgetSet,
	domain.EventBudgetRemoved, domain.EventBudgetThresholdReached, domain.EventBudgetReset, domain.EventPartnerQuotaSet,
	domain.EventCustomerPersonalDataChanged, domain.EventCustomerPersonalDataErased, domain.EventPartnerVerificationSet,
	domain.EventDisassociationRequested, domain.EventDisassociationAccepted, domain.EventDisassociationRejected,
	domain.EventDisassociationLapsed, domain.EventCustomerResourcesRelease,
}

// drawSnapCommand draws one command of the snapshot property, from a plausible actor (verified,
// so that rule 19 lets most through); clock moves run the time-driven jobs.
func drawSnapCommand(t *rapid.T, label string, clock *domaintest.Clock) cmd {
	cust := rapid.SampledFrom(snapCustomers).Draw(t, label+" customer")
	mgr := snapManager[cust]
	m := domain.Meta{Actor: op(mgr), RequestID: label, Verified: true, Admin: true,
		IdempotencyKey: rapid.SampledFrom([]string{"", "", "", "k1", "k2"}).Draw(t, label+" key")}
	if rapid.IntRange(0, 3).Draw(t, label+" by dist-1") == 0 {
		m.Actor = op("dist-1")
	}
	ft := rapid.SampledFrom([]domain.FreezeType{acct, anr}).Draw(t, label+" type")
	now := clock.Now()
	switch rapid.IntRange(0, 16).Draw(t, label+" command") {
	case 0:
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.FreezeCustomer(ctx, domain.FreezeCustomer{Meta: m, CustomerID: cust, Reason: "overdue", FreezeType: ft})
		}
	case 1:
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.UnfreezeCustomer(ctx, domain.UnfreezeCustomer{Meta: m, CustomerID: cust, Reason: "paid", UnfreezeType: ft})
		}
	case 2, 3:
		id := rapid.SampledFrom([]string{"u-1", "u-2", "u-3", "u-4", "u-5", "u-6"}).Draw(t, label+" record")
		amount := rapid.SampledFrom([]string{"1.00", "80.00", "250.00", "900.00"}).Draw(t, label+" amount")
		at := now.Add(rapid.SampledFrom([]time.Duration{-2 * time.Hour, -time.Minute, 0, 3 * time.Minute}).Draw(t, label+" when"))
		return usage(rec(id, cust, amount, at))
	case 4:
		spec := domain.BudgetSpec{
			Type:         rapid.SampledFrom([]domain.BudgetType{domain.BudgetMonthly, domain.BudgetOneTime}).Draw(t, label+" budget type"),
			Amount:       propMoney(rapid.SampledFrom([]string{"100.00", "300.00", "1000.00"}).Draw(t, label+" budget")),
			OnExhaustion: rapid.SampledFrom([]domain.Exhaustion{domain.ExhaustionFreeze, domain.ExhaustionAlert}).Draw(t, label+" policy"),
		}
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.SetBudget(ctx, domain.SetBudget{Meta: m, CustomerID: cust, Budget: spec})
		}
	case 5:
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.RemoveBudget(ctx, domain.RemoveBudget{Meta: m, CustomerID: cust})
		}
	case 6:
		rid := rapid.SampledFrom([]string{"vm-1", "vm-2", "saas-1"}).Draw(t, label+" resource")
		product := domain.ProductCloud
		if rid == "saas-1" {
			product = domain.ProductMarketplaceSaaS
		}
		var exp *time.Time
		if rapid.Bool().Draw(t, label+" expires") {
			e := now.Add(30 * 24 * time.Hour)
			exp = &e
		}
		return resource(cust, rid, product, exp)
	case 7:
		rid := rapid.SampledFrom([]string{"vm-1", "vm-2", "saas-1"}).Draw(t, label+" resource")
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.RemoveResource(ctx, domain.RemoveResource{Meta: meta(billing), CustomerID: cust, ResourceID: rid})
		}
	case 8:
		res := rapid.SampledFrom([]string{"res-1", "res-2"}).Draw(t, label+" reseller")
		mq := rapid.SampledFrom([]string{"0", "500.00", "2000.00"}).Draw(t, label+" quota")
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.SetQuota(ctx, domain.SetQuota{Meta: domain.Meta{Actor: op("dist-1"), RequestID: label, Verified: true}, ResellerID: res, Monthly: propMoney(mq), OneTime: propMoney(mq)})
		}
	case 9:
		p := rapid.SampledFrom([]string{"dist-1", "res-1"}).Draw(t, label+" partner")
		return setVerif(adminMeta(p, true), p, rapid.Bool().Draw(t, label+" on"))
	case 10:
		if rapid.IntRange(0, 3).Draw(t, label+" erase") == 0 {
			return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
				return s.ErasePersonalData(ctx, domain.ErasePersonalData{Meta: adminMeta(snapManager[cust], true), CustomerID: cust, Reason: "erasure request"})
			}
		}
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.ChangePersonalData(ctx, domain.ChangePersonalData{Meta: m, CustomerID: cust, Personal: domain.SealedPersonal{KeyID: testKeyID, Email: sealed("email")}})
		}
	case 11:
		if rapid.Bool().Draw(t, label+" by the customer") {
			return requestDis(customerMeta(cust), cust)
		}
		return requestDis(adminMeta(mgr, true), cust)
	case 12, 16:
		accept := rapid.Bool().Draw(t, label+" accept")
		if rapid.Bool().Draw(t, label+" by the customer") {
			return answerDis(customerMeta(cust), cust, accept)
		}
		return answerDis(adminMeta(mgr, true), cust, accept)
	case 13:
		d := rapid.SampledFrom([]time.Duration{time.Minute, 2 * time.Hour, 8 * 24 * time.Hour, 91 * 24 * time.Hour, -1}).Draw(t, label+" advance")
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			if d < 0 { // to the next month, for the budget reset
				next := time.Date(now.Year(), now.Month()+1, 1, 0, 1, 0, 0, time.UTC)
				d = next.Sub(now)
			}
			clock.Advance(d)
			for _, job := range []func(context.Context) (int, error){s.ReleaseExpiredResources, s.ResetBudgets, s.LapseDisassociations} {
				if _, err := job(ctx); err != nil {
					return domain.Result{}, err
				}
			}
			return domain.Result{}, nil
		}
	case 14:
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.SetDelegation(ctx, domain.SetDelegation{Meta: domain.Meta{Actor: op("dist-1"), RequestID: label, Verified: true}, ResellerID: "res-1",
				Freeze: rapid.Bool().Draw(t, label+" freeze perm"), Budget: rapid.Bool().Draw(t, label+" budget perm")})
		}
	}
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.AssociateCustomer(ctx, domain.AssociateCustomer{Meta: domain.Meta{Actor: op("dist-1"), RequestID: label, Verified: true}, CustomerID: cust, Name: "Customer " + cust, PartnerID: "dist-1",
			Personal: &domain.SealedPersonal{KeyID: testKeyID, Mobile: sealed("mobile")}})
	}
}

func propMoney(s string) domain.Money {
	m, err := domain.ParseMoney("amount", s)
	if err != nil {
		panic(err)
	}
	return m
}

// TestPropertySnapshotIsTheReplay: for random histories of every channel, a snapshot at a random
// revision plus the events after it gives the state a replay of the whole log gives (every field,
// with and without a key TTL); between them the histories hold every phase 2 event type.
func TestPropertySnapshotIsTheReplay(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		log, clock := domaintest.NewMemoryLog(), domaintest.NewClock(t0)
		svc := domain.NewService(log, domain.Options{Clock: clock, Retention: time.Hour})
		given := append(slices.Clone(world),
			assocPersonal(op("dist-1"), "c-p", "dist-1", withMobile()),
			quota(op("dist-1"), "res-1", "1000.00", "1000.00"),
			deleg(op("dist-1"), "res-1", true, true))
		for i, c := range given {
			if _, err := c(ctx, svc); err != nil {
				t.Fatalf("given command %d: %v", i, err)
			}
		}
		for i := range rapid.IntRange(5, 80).Draw(t, "steps") {
			label := fmt.Sprintf("step %d", i)
			_, err := drawSnapCommand(t, label, clock)(ctx, svc)
			checkOutcome(t, label, err)
		}
		streams := map[string][]domain.StoredEvent{}
		var names []string
		for _, ev := range log.All() {
			if len(ev.Stream) > len(domain.ChannelStreamPrefix) && ev.Stream[:len(domain.ChannelStreamPrefix)] == domain.ChannelStreamPrefix {
				if streams[ev.Stream] == nil {
					names = append(names, ev.Stream)
				}
				streams[ev.Stream] = append(streams[ev.Stream], ev)
				mu.Lock()
				seen[ev.Type]++
				mu.Unlock()
			}
		}
		for _, st := range names {
			evs := streams[st]
			at := rapid.IntRange(0, len(evs)-1).Draw(t, st+" snapshot revision")
			ttl := rapid.SampledFrom([]time.Duration{0, time.Hour}).Draw(t, st+" key TTL")
			diffs, err := domain.SnapshotReplayDiffForTest(evs, at, ttl)
			if err != nil {
				t.Fatalf("%s, snapshot at revision %d of %d: %v", st, at, len(evs), err)
			}
			if len(diffs) > 0 {
				t.Fatalf("%s, snapshot at revision %d of %d: the state differs from a replay in %v", st, at, len(evs), diffs)
			}
		}
	})
	t.Logf("event types: %v", seen)
	for _, typ := range phase2Types {
		if seen[typ] == 0 {
			t.Errorf("no history held a %s event: the generator must reach it", typ)
		}
	}
}
