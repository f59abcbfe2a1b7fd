package domain_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
)

var t0 = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

var (
	platform = domain.Actor{Name: "ops-platform", Role: domain.RolePlatform}
	auditor  = domain.Actor{Name: "aud-1", Role: domain.RoleAuditor}
	reader   = domain.Actor{Name: "reader-1", Role: domain.RoleReader, PartnerID: "dist-1"}
)

// op is an operator of partner p.
func op(p string) domain.Actor {
	return domain.Actor{Name: "ops-" + p, Role: domain.RolePartner, PartnerID: p}
}

func meta(a domain.Actor) domain.Meta { return domain.Meta{Actor: a, RequestID: "req-test"} }

// cmd is a command run through the service.
type cmd func(ctx context.Context, s *domain.Service) (domain.Result, error)

func reg(a domain.Actor, id string, typ domain.PartnerType, parent string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.RegisterPartner(ctx, domain.RegisterPartner{Meta: meta(a), PartnerID: id, Name: "Partner " + id, Type: typ, ParentID: parent})
	}
}

func assoc(a domain.Actor, customer, partner string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.AssociateCustomer(ctx, domain.AssociateCustomer{Meta: meta(a), CustomerID: customer, Name: "Customer " + customer, PartnerID: partner, Tags: []string{"gold"}})
	}
}

func freeze(a domain.Actor, customer string, ft domain.FreezeType) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.FreezeCustomer(ctx, domain.FreezeCustomer{Meta: meta(a), CustomerID: customer, Reason: "overdue invoice", FreezeType: ft})
	}
}

func freezeWhy(a domain.Actor, customer, reason string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.FreezeCustomer(ctx, domain.FreezeCustomer{Meta: meta(a), CustomerID: customer, Reason: reason, FreezeType: domain.FreezeAccountAndResource})
	}
}

func unfreeze(a domain.Actor, customer string, ft domain.FreezeType) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.UnfreezeCustomer(ctx, domain.UnfreezeCustomer{Meta: meta(a), CustomerID: customer, Reason: "paid", UnfreezeType: ft})
	}
}

func unfreezeWhy(a domain.Actor, customer, reason string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.UnfreezeCustomer(ctx, domain.UnfreezeCustomer{Meta: meta(a), CustomerID: customer, Reason: reason, UnfreezeType: domain.FreezeAccount})
	}
}

func freezeP(a domain.Actor, id string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.FreezePartner(ctx, domain.FreezePartner{Meta: meta(a), PartnerID: id, Reason: "compliance hold"})
	}
}

func freezePWhy(a domain.Actor, id, reason string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.FreezePartner(ctx, domain.FreezePartner{Meta: meta(a), PartnerID: id, Reason: reason})
	}
}

func unfreezeP(a domain.Actor, id string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.UnfreezePartner(ctx, domain.UnfreezePartner{Meta: meta(a), PartnerID: id, Reason: "hold lifted"})
	}
}

func deleg(a domain.Actor, reseller string, fr, budget bool) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.SetDelegation(ctx, domain.SetDelegation{Meta: meta(a), ResellerID: reseller, Freeze: fr, Budget: budget})
	}
}

// world is the channel layout most tests start from:
//
//	dist-1 (distributor): res-1, res-2 (resellers); customers c-d (dist-1 direct), c-r1 (res-1), c-r2 (res-2)
//	dist-2 (distributor): res-3; customer c-r3 (res-3)
//	sp-1 (solution provider): customer c-s
var world = []cmd{
	reg(platform, "dist-1", domain.PartnerDistributor, ""),
	reg(platform, "dist-2", domain.PartnerDistributor, ""),
	reg(platform, "sp-1", domain.PartnerSolutionProvider, ""),
	reg(op("dist-1"), "res-1", domain.PartnerReseller, ""),
	reg(platform, "res-2", domain.PartnerReseller, "dist-1"),
	reg(op("dist-2"), "res-3", domain.PartnerReseller, "dist-2"),
	assoc(op("dist-1"), "c-d", "dist-1"),
	assoc(op("dist-1"), "c-r1", "res-1"),
	assoc(op("res-2"), "c-r2", "res-2"),
	assoc(op("res-3"), "c-r3", "res-3"),
	assoc(op("sp-1"), "c-s", "sp-1"),
}

type fixture struct {
	t     *testing.T
	ctx   context.Context
	log   *domaintest.MemoryLog
	clock *domaintest.Clock
	svc   *domain.Service
	opts  domain.Options
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), log: domaintest.NewMemoryLog(), clock: domaintest.NewClock(t0)}
	f.opts = domain.Options{Clock: f.clock, Retention: 15 * 24 * time.Hour}
	f.svc = domain.NewService(f.log, f.opts)
	return f
}

// restart replaces the service by a new one on the same log (a process restart).
func (f *fixture) restart() { f.svc = domain.NewService(f.log, f.opts) }

func (f *fixture) must(cmds ...cmd) {
	f.t.Helper()
	for i, c := range cmds {
		if _, err := c(f.ctx, f.svc); err != nil {
			f.t.Fatalf("given command %d: %v", i, err)
		}
	}
}

// validate checks the whole log with the history validator.
func (f *fixture) validate() {
	f.t.Helper()
	if err := domain.ValidateHistory(f.log.All(), domain.HistoryOptions{Retention: f.opts.Retention}); err != nil {
		f.t.Fatalf("history validator rejects the service's own log: %v", err)
	}
}

func (f *fixture) customer(id string) domain.Customer {
	f.t.Helper()
	cu, _, _, err := f.svc.Customer(f.ctx, id)
	if err != nil {
		f.t.Fatalf("customer %s: %v", id, err)
	}
	return cu
}

func (f *fixture) partner(id string) domain.Partner {
	f.t.Helper()
	p, _, err := f.svc.Partner(f.ctx, id)
	if err != nil {
		f.t.Fatalf("partner %s: %v", id, err)
	}
	return p
}

// ruleCase is a given-when-then case: given commands that succeed, when a command, then either the
// event types it appends (in log order, reservation streams included) or a refusal code, whose
// message must mention rule (if set).
type ruleCase struct {
	name   string
	given  []cmd
	when   cmd
	then   []string
	code   domain.Code
	rule   string
	check  func(f *fixture, res domain.Result)
	noBase bool // do not start from world
}

func runRuleCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if !tc.noBase {
				f.must(world...)
			}
			f.must(tc.given...)
			before := len(f.log.All())
			res, err := tc.when(f.ctx, f.svc)
			after := f.log.All()[before:]
			if tc.code != "" {
				var de *domain.Error
				if !errors.As(err, &de) || de.Code != tc.code {
					t.Fatalf("then refused with %q: got %v (%T)", tc.code, err, err)
				}
				if tc.rule != "" && !strings.Contains(de.Message, tc.rule) {
					t.Errorf("refusal message %q does not name %s", de.Message, tc.rule)
				}
				if len(after) != 0 {
					t.Errorf("a refusal appended %d events (first %s)", len(after), after[0].Type)
				}
			} else {
				if err != nil {
					t.Fatalf("then %v: got error %v", tc.then, err)
				}
				var got []string
				for _, ev := range after {
					got = append(got, ev.Type)
				}
				if strings.Join(got, ",") != strings.Join(tc.then, ",") {
					t.Fatalf("then events %v, got %v", tc.then, got)
				}
				if len(after) > 0 && res.Position != after[len(after)-1].Position && !res.Replayed {
					t.Errorf("result position %q, want the last event's %q", res.Position, after[len(after)-1].Position)
				}
			}
			if tc.check != nil {
				tc.check(f, res)
			}
			f.validate()
		})
	}
}

func decode[T any](t *testing.T, ev domain.StoredEvent) *T {
	t.Helper()
	v, err := domain.DecodeData(ev.Type, ev.Data)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := v.(*T)
	if !ok {
		t.Fatalf("event %s decodes to %T", ev.Type, v)
	}
	return p
}

func metaOf(t *testing.T, ev domain.StoredEvent) domain.Metadata {
	t.Helper()
	var m domain.Metadata
	if err := jsonUnmarshal(ev.Metadata, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
