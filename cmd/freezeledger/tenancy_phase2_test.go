package main

import "strings"

// The tenancy matrix's phase 2 routes (rules 12 to 21, the change feed, webhooks, the audit
// bundle and tiles, the operational routes) and the billing role's column. Each route is called by
// every principal of matrixPrincipals (tenancy_test.go).

// role is the matrix role of principal who.
func role(who string) string { return matrixPrincipals[who].role }

// billingWant is the billing system's status for a route: it may call POST /v1/usage and the
// resource routes (and the public ones); every other route is 403 (rules 12, 13; API.md "Roles").
// other is what the route's case expects of the others, for the routes billing shares with them.
func billingWant(method, path string, other int) int {
	p, _, _ := strings.Cut(path, "?")
	switch {
	case p == "/v1/usage", strings.Contains(p, "/resources"):
		return other
	case strings.HasPrefix(p, "/v1/webhooks/"):
		return other // a webhook it did not register: 404, as for everyone
	case p == "/v1/audit/public-key", p == "/healthz", p == "/readyz", p == "/metrics", p == "/openapi.json":
		return 200
	}
	return 403
}

// customerRoutes is the matrix's expectation for a customer read of c (API.md: a customer reads
// its own status, the customer, operations, history, budget, resources, timeline, changes): 404
// for a customer it cannot see, 403 for a reader where readerOK is false, 200 otherwise.
func customerReadWant(c string, readerOK bool) func(who string) int {
	return func(who string) int {
		switch {
		case !sees(who, c):
			return 404
		case !readerOK && role(who) == "reader":
			return 403
		}
		return 200
	}
}

// writeWant is a write on customer c that only its budget manager (or freeze manager) may make:
// 404 for whoever cannot see c, allowed (-1) for the managers, 403 for the rest.
func writeWant(c string, managers ...string) func(who string) int {
	return func(who string) int {
		switch {
		case !sees(who, c):
			return 404
		case role(who) == "billing":
			return 403
		}
		for _, m := range managers {
			if m == who {
				return -1
			}
		}
		return 403
	}
}

func phase2Cases() []tcase {
	var cases []tcase
	for _, c := range []string{"c-a", "c-a1", "c-b"} {
		cases = append(cases,
			tcase{"GET", "/v1/customers/" + c + "/budget", nil, customerReadWant(c, true)},
			tcase{"GET", "/v1/customers/" + c + "/budget/history", nil, customerReadWant(c, false)},
			// The billing system reports a resource (a no-op after the first), then everyone reads it.
			tcase{"PUT", "/v1/customers/" + c + "/resources/vm-1", map[string]any{"service": "ecs", "billing_mode": "pay_per_use", "product": "cloud"}, func(who string) int {
				switch {
				case role(who) == "billing":
					return -1
				case !sees(who, c):
					return 404
				}
				return 403
			}},
			tcase{"GET", "/v1/customers/" + c + "/resources", nil, customerReadWant(c, true)},
			tcase{"GET", "/v1/customers/" + c + "/resources/vm-1/operations", nil, customerReadWant(c, true)},
			tcase{"DELETE", "/v1/customers/" + c + "/resources/vm-0", nil, func(who string) int {
				if !sees(who, c) || role(who) == "billing" {
					return 404 // billing: no such resource
				}
				return 403
			}},
			tcase{"POST", "/v1/customers/" + c + "/disassociation/reject", map[string]any{"reason": "matrix"}, func(who string) int {
				switch {
				case !sees(who, c):
					return 404
				case customerOf[who] == c, who == "adm-dist-a" && c == "c-a":
					return 409 // none pending
				}
				return 403
			}},
			// A request by someone who is neither side changes nothing: 403 (or 404).
			tcase{"POST", "/v1/customers/" + c + "/disassociation", map[string]any{"reason": "matrix"}, func(who string) int {
				switch {
				case !sees(who, c):
					return 404
				case who == "adm-dist-a" && c == "c-a", who == "cust-a1" && c == "c-a1":
					return 201 // the first party in the matrix's order asks
				case who == "cust-a" && c == "c-a":
					return 409 // pending
				}
				return 403
			}},
		)
	}
	// Budgets: c-a's manager is dist-a (its principals), c-a1's is dist-a (res-a1 has no budget
	// permission), c-b's dist-b.
	budget := map[string]any{"type": "monthly", "amount": "100", "on_exhaustion": "alert"}
	// The managers are in the matrix's order: the first removes the budget, the next finds none.
	for _, c := range []struct {
		id                      string
		managers, freezeManager []string
	}{
		{"c-a", []string{"adm-dist-a", "op-dist-a"}, []string{"adm-dist-a", "op-dist-a"}},
		{"c-a1", []string{"adm-dist-a", "op-dist-a"}, []string{"op-res-a1"}}, // res-a1 has the freeze permission only
		{"c-b", []string{"op-dist-b"}, []string{"op-dist-b"}},
	} {
		remove := writeWant(c.id, c.managers[0])
		cases = append(cases,
			tcase{"PUT", "/v1/customers/" + c.id + "/budget", budget, writeWant(c.id, c.managers...)},
			tcase{"DELETE", "/v1/customers/" + c.id + "/budget", nil, func(who string) int {
				if len(c.managers) > 1 && who == c.managers[1] {
					return 404 // no budget any more
				}
				return remove(who)
			}},
			tcase{"PATCH", "/v1/customers/" + c.id + "/personal", map[string]any{"contact_name": "Matrix"}, writeWant(c.id, c.freezeManager...)},
		)
	}
	cases = append(cases,
		tcase{"PUT", "/v1/customers/budget", map[string]any{"customer_ids": []string{"c-a"}, "type": "monthly", "amount": "100", "on_exhaustion": "alert"}, func(who string) int {
			switch role(who) {
			case "platform", "partner":
				return -1 // per-item results
			}
			return 403
		}},
		// Erasure of c-b (no admin of dist-b in the matrix): the platform may; dist-b's operator is
		// no admin; no one else sees it.
		tcase{"POST", "/v1/customers/c-b/erase", map[string]any{"reason": "matrix"}, func(who string) int {
			switch {
			case !sees(who, "c-b"):
				return 404
			case who == "plat":
				return -1
			}
			return 403
		}},
		tcase{"POST", "/v1/usage", map[string]any{"records": []map[string]any{{"record_id": "matrix-1", "customer_id": "c-a", "amount": "0", "time": "2020-01-01T00:00:00Z"}}}, func(who string) int {
			if role(who) == "billing" {
				return 200 // one result, refused (the time is too old): appends nothing
			}
			return 403
		}},
		tcase{"POST", "/v1/customers", map[string]any{"customer_id": "c-a", "name": "again", "partner_id": "dist-a"}, func(who string) int {
			switch {
			case who == "op-dist-a", who == "adm-dist-a":
				return 409 // the ID is taken
			case role(who) == "partner" && !sees(who, "dist-a"):
				return 404 // a partner it cannot see
			}
			return 403
		}},
		// The change feed: every role that sees customers, the customer principal its own changes.
		tcase{"GET", "/v1/changes", nil, func(who string) int { return 200 }},
		// Webhooks: partner, reader and platform principals (API.md); a webhook no one registered
		// is 404 to everyone (each principal sees only its own).
		tcase{"GET", "/v1/webhooks", nil, webhookWant(200)},
		tcase{"POST", "/v1/webhooks", map[string]any{"url": "http://example.com/hook"}, webhookWant(400)}, // https only
		tcase{"GET", "/v1/webhooks/wh_nothing", nil, func(string) int { return 404 }},
		tcase{"DELETE", "/v1/webhooks/wh_nothing", nil, func(string) int { return 404 }},
		tcase{"POST", "/v1/webhooks/wh_nothing/enable", nil, func(string) int { return 404 }},
		tcase{"GET", "/v1/audit/bundle", nil, auditOnly},
		tcase{"GET", "/v1/audit/tlog/checkpoint", nil, globalAuditOnly},
		tcase{"GET", "/v1/audit/tlog/tile/0/000", nil, func(who string) int { // no full tile in a tree of fewer than 256 leaves
			if s := globalAuditOnly(who); s != 200 {
				return s
			}
			return 404
		}},
		tcase{"GET", "/v1/audit/tlog/tile/0/000.p/1", nil, globalAuditOnly},
		tcase{"GET", "/healthz", nil, func(string) int { return 200 }},
		tcase{"GET", "/readyz", nil, func(string) int { return 200 }},
		tcase{"GET", "/metrics", nil, func(string) int { return 200 }},
		tcase{"GET", "/openapi.json", nil, func(string) int { return 200 }},
	)
	// A partner freeze and its unfreeze: its distributor does both, the platform (later in the
	// matrix's order) finds each done already.
	for _, action := range []string{"freeze", "unfreeze"} {
		cases = append(cases, tcase{"POST", "/v1/partners/res-b1/" + action, map[string]any{"reason": "matrix"}, func(who string) int {
			switch {
			case !sees(who, "res-b1") || role(who) == "customer":
				return 404
			case who == "op-dist-b":
				return 200
			case who == "plat":
				return 409
			}
			return 403
		}})
	}
	for _, p := range []string{"res-a1", "res-b1"} {
		cases = append(cases,
			tcase{"GET", "/v1/partners/" + p + "/quota", nil, func(who string) int {
				if !sees(who, p) || role(who) == "customer" {
					return 404
				}
				return 200
			}},
			// The quotas they have (0, 0): a no-op for the reseller's distributor.
			tcase{"PUT", "/v1/partners/" + p + "/quota", map[string]any{"monthly_quota": "0", "one_time_quota": "0"}, func(who string) int {
				switch {
				case !sees(who, p) || role(who) == "customer":
					return 404
				case p == "res-a1" && (who == "op-dist-a" || who == "adm-dist-a"), p == "res-b1" && who == "op-dist-b":
					return 200
				}
				return 403
			}},
		)
	}
	return cases
}

// webhookWant: status for partner, reader and platform principals, 403 for the others.
func webhookWant(status int) func(who string) int {
	return func(who string) int {
		switch role(who) {
		case "partner", "reader", "platform":
			return status
		}
		return 403
	}
}

func auditOnly(who string) int {
	switch role(who) {
	case "platform", "auditor":
		return 200
	}
	return 403
}

func globalAuditOnly(who string) int {
	if who == "plat" || who == "aud" {
		return 200
	}
	return 403
}
