package console

import "testing"

func TestParseFeatures(t *testing.T) {
	f, err := parseFeatures([]byte(phase1Doc))
	if err != nil {
		t.Fatal(err)
	}
	if f.Budget || f.Timeline || f.Bundle || !f.SearchParams["name"] || !f.SearchParams["tag"] || f.SearchParams["association_type"] {
		t.Errorf("phase-1 document: %+v", f)
	}
	f, err = parseFeatures([]byte(budgetDoc))
	if err != nil || !f.Budget || !f.BudgetRead || f.BatchBudget {
		t.Errorf("budget document: %+v, %v", f, err)
	}
	if f, err := parseFeatures([]byte("not json")); err == nil || f.SearchParams == nil {
		t.Errorf("a bad document: %+v, %v", f, err)
	}
}
