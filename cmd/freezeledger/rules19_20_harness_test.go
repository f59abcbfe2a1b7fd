package main

import (
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi"
)

// phase2Principals are the principals of rules 19 and 20 the tenancy matrix and the rule tests add
// to the standard ones: partner admins and customers of the test hierarchy.
var phase2Principals = []httpapi.Principal{
	{Name: "adm-dist-a", Role: domain.RolePartner, PartnerID: "dist-a", Admin: true},
	{Name: "adm-dist-b", Role: domain.RolePartner, PartnerID: "dist-b", Admin: true},
	{Name: "cust-a", Role: domain.RoleCustomer, CustomerID: "c-a"},
	{Name: "cust-a1", Role: domain.RoleCustomer, CustomerID: "c-a1"},
	{Name: "cust-b", Role: domain.RoleCustomer, CustomerID: "c-b"},
	{Name: "adm-sp-c", Role: domain.RolePartner, PartnerID: "sp-c", Admin: true},
	{Name: "cust-c", Role: domain.RoleCustomer, CustomerID: "c-c"},
}

// customerOf is the customer each customer principal is.
var customerOf = map[string]string{"cust-a": "c-a", "cust-a1": "c-a1", "cust-b": "c-b", "cust-c": "c-c"}

// startServerPhase2 starts serve with the standard and the phase-2 principals in dir.
func startServerPhase2(t *testing.T, dir string, tweak func(*Main)) *testServer {
	t.Helper()
	tokens := map[string]string{}
	for _, p := range phase2Principals {
		tok, err := httpapi.CreatePrincipalFull(PrincipalsFile(dir), p)
		if err != nil {
			t.Fatal(err)
		}
		tokens[p.Name] = tok
	}
	ts := startServerIn(t, dir, withBilling(standardPrincipals), tweak)
	for n, tok := range tokens {
		ts.tokens[n] = tok
	}
	return ts
}

// notCustomer is a tenancy matrix expectation: status for every role but customer, 403 for a
// customer principal (which calls only its own customer's routes).
func notCustomer(status int) func(who string) int {
	return func(who string) int {
		if matrixPrincipals[who].role == "customer" {
			return 403
		}
		return status
	}
}
