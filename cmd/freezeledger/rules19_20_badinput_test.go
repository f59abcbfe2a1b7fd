package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestBadInputRules19And20 sends the rule 19 and 20 routes malformed input (as TestBadInput does
// for the others): garbage and wrong bodies, oversize bodies, no or wrong tokens, bad query
// parameters, malformed or repeated verification codes, unknown and invalid IDs. Each is a 4xx
// problem, never a 5xx, and nothing is appended.
func TestBadInputRules19And20(t *testing.T) {
	ts := startServerPhase2(t, t.TempDir(), nil)
	ts.setupHierarchy()
	start := ts.head()
	type route struct{ method, path, who string }
	writes := []route{
		{"PUT", "/v1/partners/dist-a/verification", "adm-dist-a"},
		{"POST", "/v1/customers/c-a/disassociation", "adm-dist-a"},
		{"POST", "/v1/customers/c-a/disassociation", "cust-a"},
		{"POST", "/v1/customers/c-a/disassociation/accept", "cust-a"},
		{"POST", "/v1/customers/c-a/disassociation/reject", "adm-dist-a"},
		{"POST", "/v1/principals/self/totp/confirm", "adm-dist-a"},
	}
	bodies := []string{``, `freeze please`, `{"reason": "x"`, `[{"reason":"x"}]`, `null`, `"x"`,
		`{"reason": 5, "enabled": "yes", "code": 123456}`, `{"reason": "x", "enabled": true, "code": "123456", "colour": "blue"}`,
		`{"reason": "x"} {"reason": "y"}`, "{\"reason\": \"\xff\xfe\"}", strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000),
		`{"reason": "   "}`, `{"code": "12345"}`, `{"code": "1234567"}`, `{"enabled": null}`, `{}`}
	for _, rt := range writes {
		for _, b := range bodies {
			if r := ts.call(rt.method, rt.path, rt.who, b); r.status < 400 || r.status >= 500 || r.code() == "" {
				t.Errorf("%s %s as %s with %.40q: status %d, want a 4xx problem: %s", rt.method, rt.path, rt.who, b, r.status, r.body)
			}
		}
		big := `{"reason": "` + strings.Repeat("x", 70<<10) + `"}`
		if r := ts.call(rt.method, rt.path, rt.who, big); r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s %s with a 70 KiB body: %d", rt.method, rt.path, r.status)
		}
		for _, who := range []string{"", "not-a-token"} {
			if r := ts.call(rt.method, rt.path, who, `{"reason":"x"}`); r.status != 401 {
				t.Errorf("%s %s with token %q: %d, want 401", rt.method, rt.path, who, r.status)
			}
		}
		if r := ts.call(rt.method, rt.path+"?colour=blue", rt.who, `{"reason":"x"}`); r.status != 400 {
			t.Errorf("%s %s with an unknown parameter: %d, want 400", rt.method, rt.path, r.status)
		}
	}
	// Malformed codes on a critical route: 403 (wrong) or 400 (twice), never accepted or a 5xx.
	for _, code := range []string{"abc", "1234567", "", "12345\u00e9", strings.Repeat("9", 300)} {
		r := ts.call("POST", "/v1/customers/c-a/unfreeze", "op-dist-a", `{"reason":"x","unfreeze_type":"ACCOUNT"}`, "X-Verification-Code", code)
		if r.status != 403 || r.code() != "verification_required" {
			t.Errorf("code %q: %d %s, want 403 verification_required", code, r.status, r.body)
		}
	}
	req, _ := http.NewRequest("POST", ts.url+"/v1/customers/c-a/unfreeze", strings.NewReader(`{"reason":"x","unfreeze_type":"ACCOUNT"}`))
	req.Header.Set("Authorization", "Bearer "+ts.tokens["op-dist-a"])
	req.Header.Add("X-Verification-Code", "123456")
	req.Header.Add("X-Verification-Code", "654321")
	if resp, err := ts.client.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("two codes: %v %v, want 400", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	if r := ts.call("POST", "/v1/principals/self/totp", "adm-dist-a", `{"x":1}`); r.status != 400 {
		t.Errorf("enrolment with a body: %d, want 400", r.status)
	}
	for _, qs := range []string{"colour=blue", "min_position=abc", "min_position=-1", "%zz"} {
		if r := ts.call("GET", "/v1/customers/c-a/disassociation?"+qs, "cust-a", nil); r.status != 400 {
			t.Errorf("GET disassociation?%s: %d, want 400", qs, r.status)
		}
	}
	// Unknown and invalid IDs.
	for _, id := range []string{"nobody", "c-zzz"} {
		for _, w := range []route{{"GET", "/v1/customers/" + id + "/disassociation", "plat"}, {"POST", "/v1/customers/" + id + "/disassociation", "adm-dist-a"},
			{"POST", "/v1/customers/" + id + "/disassociation/accept", "cust-a"}, {"PUT", "/v1/partners/" + id + "/verification", "adm-dist-a"}} {
			body := `{"reason":"x"}`
			if w.method == "PUT" {
				body = `{"enabled":true}`
			}
			if w.method == "GET" {
				body = ""
			}
			if r := ts.call(w.method, w.path, w.who, body); r.status != 404 {
				t.Errorf("%s %s: %d, want 404: %s", w.method, w.path, r.status, r.body)
			}
		}
	}
	for _, id := range []string{"-bad", "a%20b", strings.Repeat("x", 65), "%00", "..", "a%2Fb"} {
		if r := ts.call("POST", "/v1/customers/"+id+"/disassociation", "cust-a", `{"reason":"x"}`); r.status != 400 && r.status != 404 {
			t.Errorf("disassociation of invalid ID %q: %d", id, r.status)
		}
	}
	if end := ts.head(); end != start {
		t.Errorf("bad input appended events: head %s -> %s", start, end)
	}
}
