package domain_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// Phase 2 fixtures: the billing system, usage records, budgets and quotas.

var billing = domain.Actor{Name: "billing-1", Role: domain.RoleBilling}

func money(t testing.TB, s string) domain.Money {
	t.Helper()
	m, err := domain.ParseMoney("amount", s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func rec(id, customer, amount string, at time.Time) domain.UsageInput {
	m, err := domain.ParseMoney("amount", amount)
	if err != nil {
		panic(err)
	}
	return domain.UsageInput{RecordID: id, CustomerID: customer, Amount: m, Time: at}
}

func usage(recs ...domain.UsageInput) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		res, err := s.RecordUsage(ctx, domain.RecordUsage{Meta: meta(billing), Records: recs})
		if err != nil {
			return domain.Result{}, err
		}
		for _, it := range res.Items {
			if it.Err != nil {
				return domain.Result{Position: res.Position}, it.Err
			}
		}
		return domain.Result{Position: res.Position}, nil
	}
}

func budget(a domain.Actor, customer string, typ domain.BudgetType, amount string, policy domain.Exhaustion) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		m, err := domain.ParseMoney("amount", amount)
		if err != nil {
			return domain.Result{}, err
		}
		return s.SetBudget(ctx, domain.SetBudget{Meta: meta(a), CustomerID: customer, Budget: domain.BudgetSpec{Type: typ, Amount: m, OnExhaustion: policy}})
	}
}

func quota(a domain.Actor, reseller, monthly, oneTime string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		m, _ := domain.ParseMoney("monthly_quota", monthly)
		o, _ := domain.ParseMoney("one_time_quota", oneTime)
		return s.SetQuota(ctx, domain.SetQuota{Meta: meta(a), ResellerID: reseller, Monthly: m, OneTime: o})
	}
}

func resource(customer, id string, product domain.ProductKind, expires *time.Time) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.ReportResource(ctx, domain.ReportResource{Meta: meta(billing), Resource: domain.ResourceReported{
			CustomerID: customer, ResourceID: id, Service: "ecs", BillingMode: domain.BillingPayPerUse, Product: product, ExpiresAt: expires}})
	}
}

// billingOf reads customer id's billing state from its channel.
func (f *fixture) billingOf(id string) *domain.CustomerBilling {
	f.t.Helper()
	_, _, ch, err := f.svc.Customer(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	var b *domain.CustomerBilling
	if err := f.svc.QueryChannel(f.ctx, ch, func(c *domain.Channel) { b = c.Billing(id) }); err != nil {
		f.t.Fatal(err)
	}
	return b
}

// typesAfter is the event types appended after the first n events of the log.
func (f *fixture) typesAfter(n int) []string {
	var out []string
	for _, ev := range f.log.All()[n:] {
		out = append(out, ev.Type)
	}
	return out
}

type contextT = context.Context

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
