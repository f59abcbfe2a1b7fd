package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestBadInput sends every route malformed input: garbage JSON, wrong types, unknown fields,
// trailing data, oversize bodies, missing or wrong tokens, unknown and invalid IDs, bad query
// parameters and headers. Each must be a clear 4xx problem (never a 5xx, never a panic), and nothing
// may be appended.
func TestBadInput(t *testing.T) {
	ts := startServer(t)
	ts.setupHierarchy()
	start := ts.head()

	type route struct{ method, path, who string }
	writes := []route{
		{"POST", "/v1/partners", "plat"},
		{"POST", "/v1/partners/res-a1/freeze", "op-dist-a"},
		{"POST", "/v1/partners/res-a1/unfreeze", "op-dist-a"},
		{"PUT", "/v1/partners/res-a1/delegation", "op-dist-a"},
		{"POST", "/v1/customers", "op-dist-a"},
		{"POST", "/v1/customers/c-a/freeze", "op-dist-a"},
		{"POST", "/v1/customers/c-a/unfreeze", "op-dist-a"},
		{"POST", "/v1/customers/freeze", "op-dist-a"},
		{"POST", "/v1/customers/unfreeze", "op-dist-a"},
	}
	reads := []route{
		{"GET", "/v1/partners/res-a1", "op-dist-a"},
		{"GET", "/v1/customers", "op-dist-a"},
		{"GET", "/v1/customers/c-a", "op-dist-a"},
		{"GET", "/v1/customers/c-a/status", "rd-a"},
		{"GET", "/v1/customers/c-a/operations", "rd-a"},
		{"GET", "/v1/customers/c-a/operations/purchase", "rd-a"},
		{"GET", "/v1/customers/c-a/history", "aud"},
		{"GET", "/v1/customers/c-a/timeline", "aud"},
		{"GET", "/v1/partners", "rd-a"},
		{"GET", "/v1/partners/res-a1/history", "aud"},
		{"GET", "/v1/audit/events?actor=op-dist-a", "aud"},
		{"GET", "/v1/audit/events", "aud"},
		{"GET", "/v1/audit/export", "aud"},
		{"GET", "/v1/audit/checkpoint", "aud"},
		{"GET", "/v1/audit/proof/inclusion?index=0&tree_size=1", "aud"},
		{"GET", "/v1/audit/proof/consistency?first=0&second=1", "aud"},
	}
	expect := func(r response, want int, what string) {
		t.Helper()
		if r.status != want {
			t.Errorf("%s: status %d, want %d: %s", what, r.status, want, r.body)
		}
		if r.status >= 400 && r.code() == "" {
			t.Errorf("%s: status %d without a problem code: %s", what, r.status, r.body)
		}
	}

	bodies := map[string]string{
		"empty":             ``,
		"not JSON":          `freeze please`,
		"truncated":         `{"reason": "x"`,
		"array":             `[{"reason":"x"}]`,
		"null":              `null`,
		"string":            `"x"`,
		"wrong types":       `{"reason": 5, "freeze_type": true, "partner_id": 1, "customer_id": [], "name": {}, "customer_ids": "c-a", "freeze": "yes", "budget": 1, "type": 3}`,
		"unknown field":     `{"reason": "x", "freeze_type": "ACCOUNT", "colour": "blue"}`,
		"trailing garbage":  `{"reason": "x"} {"reason": "y"}`,
		"trailing text":     `{"reason": "x"}garbage`,
		"invalid UTF-8":     "{\"reason\": \"\xff\xfe\"}",
		"deep nesting":      strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000),
		"huge number":       `{"reason": 1e999999}`,
		"bad enum":          `{"reason": "x", "freeze_type": "EVERYTHING", "unfreeze_type": "SOME", "type": "emperor"}`,
		"control chars":     "{\"reason\": \"a\\u0000b\", \"name\": \"x\\u0007\"}",
		"eleven customers":  `{"customer_ids": ["a","b","c","d","e","f","g","h","i","j","k"], "reason": "x"}`,
		"invalid IDs":       `{"customer_ids": ["-bad"], "customer_id": "-bad", "partner_id": "a b", "parent_id": "` + strings.Repeat("x", 65) + `", "name": "n", "reason": "x", "type": "reseller"}`,
		"blank reason only": `{"reason": "   ", "unfreeze_type": "ACCOUNT", "customer_ids": ["c-a"]}`,
	}
	for _, rt := range writes {
		for name, b := range bodies {
			r := ts.call(rt.method, rt.path, rt.who, b)
			if r.status < 400 || r.status >= 500 {
				t.Errorf("%s %s with %s body: status %d, want a 4xx: %s", rt.method, rt.path, name, r.status, r.body)
			}
		}
		big := `{"reason": "` + strings.Repeat("x", 70<<10) + `"}`
		expect(ts.call(rt.method, rt.path, rt.who, big), http.StatusRequestEntityTooLarge, rt.method+" "+rt.path+" with a 70 KiB body")
		expect(ts.call(rt.method, rt.path, "", `{"reason":"x"}`), 401, rt.method+" "+rt.path+" without a token")
		expect(ts.call(rt.method, rt.path, "not-a-token", `{"reason":"x"}`), 401, rt.method+" "+rt.path+" with a wrong token")
		for _, key := range []string{strings.Repeat("k", 129), "tab\tkey", "ünïcode"} {
			r := ts.call(rt.method, rt.path, rt.who, `{"reason":"x","freeze_type":"ACCOUNT_AND_RESOURCE"}`, "Idempotency-Key", key)
			if r.status < 400 || r.status >= 500 {
				t.Errorf("%s %s with Idempotency-Key %q: status %d, want a 4xx", rt.method, rt.path, key, r.status)
			}
		}
	}
	expect(ts.call("DELETE", "/v1/partners/res-a1/delegation", "", nil), 401, "DELETE delegation without a token")
	for _, rt := range reads {
		expect(ts.call(rt.method, rt.path, "", nil), 401, rt.method+" "+rt.path+" without a token")
		expect(ts.call(rt.method, rt.path, "x", nil), 401, rt.method+" "+rt.path+" with a wrong token")
		r := ts.call(rt.method, rt.path, rt.who, nil, "Authorization", "Basic "+ts.tokens[rt.who])
		expect(r, 401, rt.method+" "+rt.path+" with Basic auth")
		sep := "?"
		if strings.Contains(rt.path, "?") {
			sep = "&"
		}
		for _, qs := range []string{"colour=blue", "limit=0", "limit=abc", "limit=1001", "min_position=abc", "min_position=-1",
			"as_of=yesterday", "cursor=%FF%FE", "billing_mode=free", "after=x", "format=xml", "from=soon", "index=-1", "first=a", "limit=1&limit=2", "%zz"} {
			r := ts.call(rt.method, rt.path+sep+qs, rt.who, nil)
			if r.status < 400 || r.status >= 500 {
				t.Errorf("%s %s%s%s: status %d, want a 4xx: %.300s", rt.method, rt.path, sep, qs, r.status, r.body)
			}
		}
	}
	// Unknown and invalid IDs.
	for _, id := range []string{"nobody", "c-zzz"} {
		for _, suffix := range []string{"", "/status", "/operations", "/operations/view", "/history", "/timeline"} {
			expect(ts.call("GET", "/v1/customers/"+id+suffix, "plat", nil), 404, "GET unknown customer "+id+suffix)
		}
		expect(ts.call("POST", "/v1/customers/"+id+"/freeze", "op-dist-a", `{"reason":"x"}`), 404, "freeze unknown customer")
		expect(ts.call("GET", "/v1/partners/"+id, "plat", nil), 404, "GET unknown partner")
		expect(ts.call("GET", "/v1/partners/"+id+"/history", "plat", nil), 404, "GET unknown partner's history")
		expect(ts.call("POST", "/v1/partners/"+id+"/freeze", "plat", `{"reason":"x"}`), 404, "freeze unknown partner")
	}
	for _, id := range []string{"-bad", "a%20b", strings.Repeat("x", 65), "%00", "..", "a%2Fb"} {
		r := ts.call("GET", "/v1/customers/"+id+"/status", "plat", nil)
		if r.status != 400 && r.status != 404 {
			t.Errorf("GET status of invalid ID %q: %d, want 400 or 404: %s", id, r.status, r.body)
		}
		r = ts.call("POST", "/v1/partners/"+id+"/freeze", "plat", `{"reason":"x"}`)
		if r.status != 400 && r.status != 404 {
			t.Errorf("freeze partner with invalid ID %q: %d, want 400 or 404: %s", id, r.status, r.body)
		}
	}
	expect(ts.call("GET", "/v1/customers/c-a/operations/fly", "plat", nil), 404, "unknown operation")
	expect(ts.call("GET", "/v1/nothing", "plat", nil), 404, "unknown route")
	expect(ts.call("PATCH", "/v1/customers/c-a", "plat", `{}`), 405, "unknown method (405 method_not_allowed since issue 12)")
	expect(ts.call("GET", "/v1/audit/proof/inclusion?index=5&tree_size=1", "aud", nil), 400, "index beyond tree size")
	expect(ts.call("GET", "/v1/audit/proof/inclusion?index=0&tree_size=99999999", "aud", nil), 400, "tree size beyond the tree")
	expect(ts.call("GET", "/v1/audit/proof/consistency?first=5&second=2", "aud", nil), 400, "first > second")
	expect(ts.call("GET", "/v1/audit/proof/inclusion", "aud", nil), 400, "inclusion without parameters")
	expect(ts.call("DELETE", "/v1/partners/res-a1/delegation", "op-dist-a", `{"freeze":true}`), 400, "DELETE with a body")

	if end := ts.head(); end != start {
		t.Errorf("bad input appended events: head %s -> %s", start, end)
	}
}
