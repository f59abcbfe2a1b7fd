package httpapi

import (
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections"
)

// The billing filters of GET /v1/customers: good values reach the search in canonical form, bad
// ones are 400 invalid naming the parameter.
func TestSearchParamsBilling(t *testing.T) {
	f, err := parseSearch(map[string]string{
		"mtd_spend_min": "10", "mtd_spend_max": "1000000000000", "budget_usage_min": "81.2", "budget_usage_max": "100.00",
		"budget_type": "none", "resource_expires_before": "2026-12-01T08:00:00+08:00", "resource_expires_after": "0001-01-01T00:00:00Z",
	})
	want := projections.SearchFilter{MTDSpendMin: "10.00", MTDSpendMax: "1000000000000.00", BudgetUsageMin: "81.20", BudgetUsageMax: "100.00",
		BudgetType: "none", ResourceExpiresBefore: "2026-12-01T00:00:00Z", ResourceExpiresAfter: "0001-01-01T00:00:00Z"}
	if err != nil || f.MTDSpendMin != want.MTDSpendMin || f.MTDSpendMax != want.MTDSpendMax || f.BudgetUsageMin != want.BudgetUsageMin ||
		f.BudgetUsageMax != want.BudgetUsageMax || f.BudgetType != want.BudgetType || f.ResourceExpiresBefore != want.ResourceExpiresBefore ||
		f.ResourceExpiresAfter != want.ResourceExpiresAfter {
		t.Fatalf("parseSearch = %+v, %v; want %+v", f, err, want)
	}
	for _, bt := range []string{"monthly", "one_time"} {
		if f, err := parseSearch(map[string]string{"budget_type": bt}); err != nil || f.BudgetType != bt {
			t.Errorf("budget_type=%s: %+v, %v", bt, f, err)
		}
	}
	for param, bad := range map[string][]string{
		"mtd_spend_min":           {"-1", "abc", "1.001", "1e3", "NaN", "1,000", " 1", "1000000000000.01", "99999999999999999999999"},
		"mtd_spend_max":           {"+5", "0x10", ".5", "5.", "Infinity"},
		"budget_usage_min":        {"-0.01", "75%", "81.205", "nan"},
		"budget_usage_max":        {"1e2", "100.", "1000000000001"},
		"budget_type":             {"weekly", "MONTHLY", "one-time", "None"},
		"resource_expires_before": {"soon", "2026-13-01T00:00:00Z", "2026-11-31", "1700000000"},
		"resource_expires_after":  {"2026-11-30T25:00:00Z", "yesterday"},
	} {
		for _, v := range bad {
			_, err := parseSearch(map[string]string{param: v})
			if domain.ErrorCode(err) != domain.CodeInvalid || !strings.Contains(err.Error(), param) {
				t.Errorf("%s=%q: %v, want invalid naming %s", param, v, err, param)
			}
		}
	}
}
