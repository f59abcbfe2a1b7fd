package domain_test

import (
	"testing"

	"github.com/freezeledger/freezeledger/domain"
)

// TestManagerOf: rule 2's manager (and rule 14's, the same function with the budget permission):
// a distributor's or solution provider's own customer is its partner's; a reseller's customer is the
// distributor's unless the distributor delegated the permission, then the reseller's.
func TestManagerOf(t *testing.T) {
	for _, tc := range []struct {
		partner, distributor string
		delegated            bool
		want                 string
	}{
		{"dist-1", "", false, "dist-1"},
		{"sp-1", "", true, "sp-1"},
		{"res-1", "dist-1", false, "dist-1"},
		{"res-1", "dist-1", true, "res-1"},
	} {
		if got := domain.ManagerOf(tc.partner, tc.distributor, tc.delegated); got != tc.want {
			t.Errorf("ManagerOf(%q, %q, %v) = %q, want %q", tc.partner, tc.distributor, tc.delegated, got, tc.want)
		}
	}
	d := domain.Delegation{Budget: true}
	if d.Has(domain.PermissionFreeze) || !d.Has(domain.PermissionBudget) || d.Has("other") {
		t.Errorf("Delegation{Budget: true}.Has: freeze %v budget %v other %v", d.Has(domain.PermissionFreeze), d.Has(domain.PermissionBudget), d.Has("other"))
	}
}
