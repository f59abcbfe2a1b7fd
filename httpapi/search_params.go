package httpapi

import (
	"time"
	"unicode/utf8"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections"
)

// searchParam is one query parameter of GET /v1/customers: how it is checked and where it goes in
// the search. Every bad value is a 400 invalid naming the parameter. Each row sets a
// projections.SearchFilter field that a projections customerFilter serves.
type searchParam struct {
	name string
	set  func(v string, f *projections.SearchFilter) error
}

func idParam(name string, dst func(*projections.SearchFilter) *string) func(string, *projections.SearchFilter) error {
	return func(v string, f *projections.SearchFilter) error {
		if !domain.ValidID(v) {
			return errorf(domain.CodeInvalid, "%s is not a valid ID", name)
		}
		*dst(f) = v
		return nil
	}
}

func textParam(name string, dst func(*projections.SearchFilter) *string) func(string, *projections.SearchFilter) error {
	return func(v string, f *projections.SearchFilter) error {
		if utf8.RuneCountInString(v) > 256 || !printable(v) {
			return errorf(domain.CodeInvalid, "%s must be at most 256 printable characters", name)
		}
		*dst(f) = v
		return nil
	}
}

func boolParam(name string, dst func(*projections.SearchFilter) **bool) func(string, *projections.SearchFilter) error {
	return func(v string, f *projections.SearchFilter) error {
		b, err := parseBool(name, v)
		*dst(f) = b
		return err
	}
}

func timeParam(name string, dst func(*projections.SearchFilter) *string) func(string, *projections.SearchFilter) error {
	return func(v string, f *projections.SearchFilter) error {
		t, err := parseTime(name, v)
		*dst(f) = t.Format(time.RFC3339Nano)
		return err
	}
}

// moneyParam is a decimal amount (domain.ParseMoney), kept in its canonical form.
func moneyParam(name string, dst func(*projections.SearchFilter) *string) func(string, *projections.SearchFilter) error {
	return func(v string, f *projections.SearchFilter) error {
		m, err := domain.ParseMoney(name, v)
		*dst(f) = m.String()
		return err
	}
}

// percentParam is a budget usage percentage ("81.20", projections.ParsePercent), kept in its
// canonical form.
func percentParam(name string, dst func(*projections.SearchFilter) *string) func(string, *projections.SearchFilter) error {
	return func(v string, f *projections.SearchFilter) error {
		p, err := projections.ParsePercent(name, v)
		*dst(f) = domain.Money(p).String()
		return err
	}
}

var searchParams = []searchParam{
	{"frozen", boolParam("frozen", func(f *projections.SearchFilter) **bool { return &f.Frozen })},
	{"auto_frozen", boolParam("auto_frozen", func(f *projections.SearchFilter) **bool { return &f.AutoFrozen })},
	{"associated", boolParam("associated", func(f *projections.SearchFilter) **bool { return &f.Associated })},
	{"freeze_type", func(v string, f *projections.SearchFilter) error {
		f.FreezeType = v
		return checkFreezeType("freeze_type", v, false)
	}},
	{"origin", func(v string, f *projections.SearchFilter) error {
		switch domain.Origin(v) {
		case domain.OriginAssociation, domain.OriginManual, domain.OriginBudget, domain.OriginPartner:
			f.Origin = v
			return nil
		}
		return errorf(domain.CodeInvalid, "origin must be association, manual, budget or partner")
	}},
	{"association_type", func(v string, f *projections.SearchFilter) error {
		switch v {
		case projections.AssociationDirect, projections.AssociationReseller:
			f.AssociationType = v
			return nil
		}
		return errorf(domain.CodeInvalid, "association_type must be direct or reseller")
	}},
	{"partner_id", idParam("partner_id", func(f *projections.SearchFilter) *string { return &f.PartnerID })},
	{"distributor_id", idParam("distributor_id", func(f *projections.SearchFilter) *string { return &f.DistributorID })},
	{"managed_by", idParam("managed_by", func(f *projections.SearchFilter) *string { return &f.ManagedBy })},
	{"customer_id", func(v string, f *projections.SearchFilter) error {
		if !domain.ValidID(v) { // a prefix of an ID is itself a valid ID
			return errorf(domain.CodeInvalid, "customer_id (a prefix of customer IDs) is not a valid ID prefix")
		}
		f.CustomerIDPrefix = v
		return nil
	}},
	{"tag", textParam("tag", func(f *projections.SearchFilter) *string { return &f.Tag })},
	{"name", textParam("name", func(f *projections.SearchFilter) *string { return &f.Name })},
	{"account_manager", textParam("account_manager", func(f *projections.SearchFilter) *string { return &f.AccountManager })},
	{"associated_after", timeParam("associated_after", func(f *projections.SearchFilter) *string { return &f.AssociatedAfter })},
	{"associated_before", timeParam("associated_before", func(f *projections.SearchFilter) *string { return &f.AssociatedBefore })},
	{"as_of", func(v string, f *projections.SearchFilter) error {
		a, err := projections.ParseAsOf(v)
		f.AsOf = a
		return err
	}},
	{"limit", func(v string, f *projections.SearchFilter) error {
		n, err := parseLimit(v)
		f.Limit = n
		return err
	}},
	{"cursor", func(v string, f *projections.SearchFilter) error {
		if len(v) > 1024 {
			return errorf(domain.CodeInvalid, "cursor is not one this server issued")
		}
		f.Cursor = v
		return nil
	}},
	// Phase 2: spend, budgets and resources (rules 12 to 17), personal data (rules 19 to 21).
	{"mtd_spend_min", moneyParam("mtd_spend_min", func(f *projections.SearchFilter) *string { return &f.MTDSpendMin })},
	{"mtd_spend_max", moneyParam("mtd_spend_max", func(f *projections.SearchFilter) *string { return &f.MTDSpendMax })},
	{"budget_usage_min", percentParam("budget_usage_min", func(f *projections.SearchFilter) *string { return &f.BudgetUsageMin })},
	{"budget_usage_max", percentParam("budget_usage_max", func(f *projections.SearchFilter) *string { return &f.BudgetUsageMax })},
	{"budget_type", func(v string, f *projections.SearchFilter) error {
		switch v {
		case string(domain.BudgetMonthly), string(domain.BudgetOneTime), projections.BudgetTypeNone:
			f.BudgetType = v
			return nil
		}
		return errorf(domain.CodeInvalid, "budget_type must be monthly, one_time or none")
	}},
	{"resource_expires_before", timeParam("resource_expires_before", func(f *projections.SearchFilter) *string { return &f.ResourceExpiresBefore })},
	{"resource_expires_after", timeParam("resource_expires_after", func(f *projections.SearchFilter) *string { return &f.ResourceExpiresAfter })},
	{"account_name", accountNameParam},
	{"mobile", mobileParam},
}

// searchParamNames lists the parameters GET /v1/customers accepts, min_position included.
func searchParamNames() []string {
	out := []string{"min_position"}
	for _, p := range searchParams {
		out = append(out, p.name)
	}
	return out
}

// parseSearch builds the search of a query; the parameters are checked in searchParams order, so
// the first bad one is named.
func parseSearch(q map[string]string) (projections.SearchFilter, error) {
	var f projections.SearchFilter
	for _, p := range searchParams {
		v := q[p.name]
		if v == "" { // an empty parameter does not filter (as before these filters)
			continue
		}
		if err := p.set(v, &f); err != nil {
			return f, err
		}
	}
	return f, nil
}
