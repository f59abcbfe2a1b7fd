package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// scopes of the matrix's principals: the partners whose subtree each sees ("" = everything).
var matrixPrincipals = map[string]struct{ role, scope string }{
	"plat":      {"platform", ""},
	"op-dist-a": {"partner", "dist-a"},
	"op-res-a1": {"partner", "res-a1"},
	"op-dist-b": {"partner", "dist-b"},
	"aud":       {"auditor", ""},
	"aud-a":     {"auditor", "dist-a"},
	"rd":        {"reader", ""},
	"rd-a":      {"reader", "dist-a"},
	"rd-res-a1": {"reader", "res-a1"},
	// Rules 19 and 20: a partner admin, and customers (each sees only itself: customerOf).
	"adm-dist-a": {"partner", "dist-a"},
	"cust-a":     {"customer", ""},
	"cust-a1":    {"customer", ""},
	// Rules 12 and 13: the billing system reports usage and resources and does nothing else
	// (billingWant).
	"bill": {"billing", ""},
}

// subtree lists what each scope sees, from the test hierarchy.
var subtree = map[string][]string{
	"dist-a": {"dist-a", "res-a1", "res-a2", "c-a", "c-a1", "c-a2"},
	"res-a1": {"res-a1", "c-a1"},
	"dist-b": {"dist-b", "res-b1", "c-b", "c-b1"},
}

func sees(who, target string) bool {
	switch matrixPrincipals[who].role {
	case "customer":
		return customerOf[who] == target
	case "billing":
		return strings.HasPrefix(target, "c-") // it reports for every customer, and sees no partner
	}
	s := matrixPrincipals[who].scope
	if s == "" {
		return true
	}
	for _, x := range subtree[s] {
		if x == target {
			return true
		}
	}
	return false
}

// tcase is one route of the tenancy matrix: the status each principal gets (-1: allowed, 200, and
// not checked for appends).
type tcase struct {
	method, path string
	body         any
	want         func(who string) int
}

// TestTenancyMatrix calls every route on resources inside and outside each principal's subtree:
// outside is 404 (no existence leak), inside but not allowed is 403, allowed is 2xx (or the domain's
// 409 for a request that would change nothing). Refusals append nothing.
func TestTenancyMatrix(t *testing.T) {
	ts := startServerPhase2(t, t.TempDir(), nil)
	ts.setupHierarchy()

	whos := make([]string, 0, len(matrixPrincipals))
	for w := range matrixPrincipals {
		whos = append(whos, w)
	}
	sort.Strings(whos)

	customerRead := func(c, suffix string, readerOK bool) tcase {
		return tcase{"GET", "/v1/customers/" + c + suffix, nil, func(who string) int {
			switch {
			case !sees(who, c):
				return 404
			case !readerOK && matrixPrincipals[who].role == "reader":
				return 403
			}
			return 200
		}}
	}
	// Freezing a customer with the type it already has (ACCOUNT, from its association) is a conflict
	// for its manager and changes nothing, so the matrix never changes state.
	managers := map[string]string{"c-a": "op-dist-a", "c-a1": "op-res-a1", "c-b": "op-dist-b"}
	customerWrite := func(c string) tcase {
		return tcase{"POST", "/v1/customers/" + c + "/freeze", map[string]any{"reason": "matrix", "freeze_type": "ACCOUNT"}, func(who string) int {
			switch {
			case !sees(who, c):
				return 404
			case managers[c] == who, who == "adm-dist-a" && c == "c-a":
				return 409
			}
			return 403
		}}
	}
	// Unfreezing a partner that is not frozen: a conflict for whoever may do it (the platform; a
	// distributor for its resellers).
	partnerWrite := func(p string) tcase {
		return tcase{"POST", "/v1/partners/" + p + "/unfreeze", map[string]any{"reason": "matrix"}, func(who string) int {
			switch {
			case !sees(who, p):
				return 404
			case who == "plat", (who == "op-dist-a" || who == "adm-dist-a") && strings.HasPrefix(p, "res-a"):
				return 409
			}
			return 403
		}}
	}
	cases := []tcase{}
	for _, c := range []string{"c-a", "c-a1", "c-b"} {
		cases = append(cases,
			customerRead(c, "", true),
			customerRead(c, "/status", true),
			customerRead(c, "/operations", true),
			customerRead(c, "/operations/purchase", true),
			customerRead(c, "/history", false),
			customerRead(c, "/timeline", false),
			customerWrite(c),
			tcase{"POST", "/v1/customers/" + c + "/unfreeze", map[string]any{"reason": "matrix", "unfreeze_type": "ACCOUNT_AND_RESOURCE"}, func(who string) int {
				switch {
				case !sees(who, c):
					return 404
				case managers[c] == who, who == "adm-dist-a" && c == "c-a":
					return 409 // type_mismatch: it is frozen ACCOUNT
				}
				return 403
			}},
			// Rule 20: the latest request, for anyone who sees the customer; an answer with none
			// pending is a conflict for the two sides (an admin of its partner, the customer).
			customerRead(c, "/disassociation", true),
			tcase{"POST", "/v1/customers/" + c + "/disassociation/accept", map[string]any{"reason": "matrix"}, func(who string) int {
				switch {
				case !sees(who, c):
					return 404
				case customerOf[who] == c, who == "adm-dist-a" && c == "c-a":
					return 409
				}
				return 403
			}},
		)
	}
	for _, p := range []string{"dist-a", "res-a1", "dist-b"} {
		cases = append(cases,
			tcase{"GET", "/v1/partners/" + p, nil, func(who string) int {
				if !sees(who, p) {
					return 404
				}
				return 200
			}},
			tcase{"GET", "/v1/partners/" + p + "?as_of=2100-01-01T00:00:00Z", nil, func(who string) int {
				if !sees(who, p) {
					return 404
				}
				return 200
			}},
			tcase{"GET", "/v1/partners/" + p + "/history", nil, func(who string) int {
				switch {
				case !sees(who, p):
					return 404
				case matrixPrincipals[who].role == "reader":
					return 403
				}
				return 200
			}},
			partnerWrite(p),
			// Rule 19: the switch, off without a code: 403 for everyone who sees the partner (not an
			// admin of it, or verification_required for its admin).
			tcase{"PUT", "/v1/partners/" + p + "/verification", map[string]any{"enabled": false}, func(who string) int {
				if !sees(who, p) {
					return 404
				}
				return 403
			}},
		)
	}
	cases = append(cases,
		tcase{"PUT", "/v1/partners/res-b1/delegation", map[string]any{"freeze": false, "budget": false}, func(who string) int {
			switch {
			case !sees(who, "res-b1"):
				return 404
			case who == "op-dist-b":
				return -1 // allowed: 200 (or a no-op); not checked for appends
			}
			return 403
		}},
		tcase{"DELETE", "/v1/partners/res-a2/delegation", nil, func(who string) int {
			switch {
			case !sees(who, "res-a2"):
				return 404
			case who == "op-dist-a", who == "adm-dist-a":
				return -1 // allowed
			}
			return 403
		}},
		tcase{"POST", "/v1/customers/unfreeze", map[string]any{"customer_ids": []string{"c-a"}, "reason": "matrix", "unfreeze_type": "ACCOUNT_AND_RESOURCE"}, func(who string) int {
			switch matrixPrincipals[who].role {
			case "auditor", "reader", "customer":
				return 403
			}
			return 200 // per-item results (type_mismatch, forbidden or not_found)
		}},
		tcase{"GET", "/v1/audit/public-key", nil, func(string) int { return 200 }},
		tcase{"GET", "/v1/customers", nil, notCustomer(200)}, // readers may search (issue 17)
		tcase{"GET", "/v1/customers?distributor_id=dist-a&association_type=reseller&as_of=position:1", nil, notCustomer(200)},
		tcase{"GET", "/v1/partners", nil, notCustomer(200)},
		tcase{"POST", "/v1/partners", map[string]any{"partner_id": "dist-a", "name": "again", "type": "distributor"}, func(who string) int {
			switch matrixPrincipals[who].role {
			case "auditor", "reader", "customer":
				return 403
			case "platform":
				return 409 // the ID is taken
			}
			return 403 // a partner may not register a distributor
		}},
		tcase{"POST", "/v1/customers/freeze", map[string]any{"customer_ids": []string{"c-a"}, "reason": "matrix"}, func(who string) int {
			switch matrixPrincipals[who].role {
			case "auditor", "reader", "customer":
				return 403
			}
			return 200 // per-item results
		}},
	)
	for _, path := range []string{"/v1/audit/events", "/v1/audit/events?actor=op-dist-a&type=customer.associated,customer.frozen", "/v1/audit/export", "/v1/audit/proof/inclusion?index=0&tree_size=1", "/v1/audit/proof/consistency?first=1&second=1"} {
		cases = append(cases, tcase{"GET", path, nil, func(who string) int {
			switch matrixPrincipals[who].role {
			case "platform", "auditor":
				return 200
			}
			return 403
		}})
	}
	cases = append(cases, tcase{"GET", "/v1/audit/checkpoint", nil, notCustomer(200)},
		// Rule 19: a principal's own enrolment (platform and partner principals), then a wrong
		// confirmation code (403 verification_required; no lockout from one).
		tcase{"POST", "/v1/principals/self/totp", nil, func(who string) int {
			switch matrixPrincipals[who].role {
			case "platform", "partner":
				return 200
			}
			return 403
		}},
		tcase{"POST", "/v1/principals/self/totp/confirm", map[string]any{"code": "000000"}, func(string) int { return 403 }},
	)
	cases = append(cases, phase2Cases()...)

	// The matrix's own calls must reach every operation of the OpenAPI document.
	ts.spec.mu.Lock()
	ts.spec.seen = map[string]bool{}
	ts.spec.mu.Unlock()
	for _, c := range cases {
		for _, who := range whos {
			want := c.want(who)
			if matrixPrincipals[who].role == "billing" {
				want = billingWant(c.method, c.path, want)
			}
			before := ts.head()
			r := ts.call(c.method, c.path, who, c.body)
			if want == -1 {
				if r.status != 200 {
					t.Errorf("%s %s as %s: %d, want 200: %s", c.method, c.path, who, r.status, r.body)
				}
				continue
			}
			if r.status != want {
				t.Errorf("%s %s as %s: %d, want %d: %s", c.method, c.path, who, r.status, want, r.body)
			}
			if r.status >= 400 || c.method == "GET" {
				if after := ts.head(); after != before {
					t.Errorf("%s %s as %s (status %d) appended: head %s -> %s", c.method, c.path, who, r.status, before, after)
				}
			}
			if r.status == 404 && bytes.Contains(r.body, []byte("forbidden")) {
				t.Errorf("%s %s as %s: a 404 that mentions a permission: %s", c.method, c.path, who, r.body)
			}
		}
	}

	doc, _ := loadSpec()
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !ts.spec.seen[method+" "+path] {
				t.Errorf("%s %s: not in the tenancy matrix", method, path)
			}
		}
	}

	// A customer principal's change feed holds its own changes only (the matrix's writes made some
	// for every customer).
	for _, who := range []string{"cust-a", "cust-a1"} {
		items := ts.must(200, "GET", "/v1/changes?limit=1000", who, nil).json(t)["changes"].([]any)
		if len(items) == 0 {
			t.Errorf("GET /v1/changes as %s: no changes of its own", who)
		}
		for _, it := range items {
			if id := it.(map[string]any)["customer_id"]; id != customerOf[who] {
				t.Errorf("GET /v1/changes as %s holds a change of %v", who, id)
			}
		}
	}

	// Lists and exports show only the caller's subtree.
	for _, who := range []string{"plat", "op-dist-a", "op-res-a1", "aud-a", "op-dist-b", "rd-a", "rd-res-a1"} {
		r := ts.must(200, "GET", "/v1/customers", who, nil).json(t)
		var got []string
		for _, c := range r["customers"].([]any) {
			got = append(got, c.(map[string]any)["customer_id"].(string))
		}
		sort.Strings(got)
		var want []string
		for _, c := range []string{"c-a", "c-a1", "c-a2", "c-b", "c-b1", "c-c"} {
			if sees(who, c) || (who == "op-dist-b" && (c == "c-b" || c == "c-b1")) {
				want = append(want, c)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("GET /v1/customers as %s = %v, want %v", who, got, want)
		}
	}
	for _, who := range []string{"plat", "op-dist-a", "op-res-a1", "rd-a", "op-dist-b"} {
		r := ts.must(200, "GET", "/v1/partners?limit=2", who, nil).json(t)
		var got []string
		for {
			for _, p := range r["partners"].([]any) {
				got = append(got, p.(map[string]any)["partner_id"].(string))
			}
			next, _ := r["next_cursor"].(string)
			if next == "" {
				break
			}
			r = ts.must(200, "GET", "/v1/partners"+q("limit", "2", "cursor", next), who, nil).json(t)
		}
		sort.Strings(got)
		var want []string
		for _, p := range []string{"dist-a", "dist-b", "res-a1", "res-a2", "res-b1", "sp-c"} {
			if sees(who, p) || (who == "op-dist-b" && (p == "dist-b" || p == "res-b1")) {
				want = append(want, p)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("GET /v1/partners as %s = %v, want %v", who, got, want)
		}
	}
	for _, path := range []string{"/v1/audit/export", "/v1/audit/export?format=csv", "/v1/audit/events?limit=1000", "/v1/audit/events?limit=1000&type=customer.associated,partner.registered,id.reserved"} {
		exp := ts.must(200, "GET", path, "aud-a", nil)
		for _, foreign := range []string{`c-b`, `dist-b`, `res-b1`, `sp-c`, `c-c`} {
			if bytes.Contains(exp.body, []byte(`"`+foreign+`"`)) || bytes.Contains(exp.body, []byte(`""`+foreign+`""`)) {
				t.Errorf("%s as aud-a (scoped to dist-a) contains %s", path, foreign)
			}
		}
		if !bytes.Contains(exp.body, []byte("c-a1")) {
			t.Errorf("%s as aud-a lacks its own subtree's customer c-a1", path)
		}
	}
}
