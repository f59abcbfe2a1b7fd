package console

import (
	"encoding/json"
	"strings"
)

// features is what the API on this server offers beyond phase 1, read from the OpenAPI document it
// serves (GET /openapi.json, which must describe every route). The console offers an action or a
// section only when the route behind it exists, so it works against the API as it is and fills in
// what other work adds without a change here.
type features struct {
	Budget        bool            // PUT /v1/customers/{id}/budget: the "Set budget" action
	BatchBudget   bool            // PUT /v1/customers/budget
	BudgetRead    bool            // GET /v1/customers/{id}/budget
	Resources     bool            // GET /v1/customers/{id}/resources
	Timeline      bool            // GET /v1/customers/{id}/timeline (with cascades); else built from history
	Bundle        bool            // GET /v1/audit/bundle
	Changes       bool            // GET /v1/changes (not used yet; see docs/CONSOLE.md)
	SearchParams  map[string]bool // the query parameters GET /v1/customers declares
	Verification  bool            // the verification-code routes (rule 19)
	PartnerSearch bool            // GET /v1/partners
}

// parseFeatures reads the features from an OpenAPI 3 document. A document it cannot read gives the
// phase-1 features (no extras) and the error.
func parseFeatures(doc []byte) (features, error) {
	var d struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"components"`
	}
	f := features{SearchParams: map[string]bool{}}
	if err := json.Unmarshal(doc, &d); err != nil {
		return f, err
	}
	has := func(method, path string) bool {
		_, ok := d.Paths[path][method]
		return ok
	}
	f.Budget = has("put", "/v1/customers/{id}/budget")
	f.BatchBudget = has("put", "/v1/customers/budget")
	f.BudgetRead = has("get", "/v1/customers/{id}/budget")
	f.Resources = has("get", "/v1/customers/{id}/resources")
	f.Timeline = has("get", "/v1/customers/{id}/timeline")
	f.Bundle = has("get", "/v1/audit/bundle")
	f.Changes = has("get", "/v1/changes")
	f.Verification = has("post", "/v1/principals/self/totp")
	f.PartnerSearch = has("get", "/v1/partners")
	if raw, ok := d.Paths["/v1/customers"]["get"]; ok {
		var op struct {
			Parameters []struct {
				Ref  string `json:"$ref"`
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		}
		if err := json.Unmarshal(raw, &op); err == nil {
			for _, p := range op.Parameters {
				name, in := p.Name, p.In
				if p.Ref != "" {
					c := d.Components.Parameters[p.Ref[strings.LastIndex(p.Ref, "/")+1:]]
					name, in = c.Name, c.In
				}
				if in == "query" && name != "" {
					f.SearchParams[name] = true
				}
			}
		}
	}
	return f, nil
}
