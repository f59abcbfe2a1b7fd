package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoPersonalData: the demo's customers with personal data (rule 21) are shown to their
// managers and auditors, never to readers, and found by mobile in any written form; the demo's
// erased customer shows none and is not found, and nothing of its personal data is left in any
// file of the data directory; the quickstart's erasure (an admin of dist-north) succeeds once.
func TestDemoPersonalData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo-data")
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--data-dir", dir}, &out, &errs); code != 0 {
		t.Fatalf("demo exited %d: %s", code, errs.String())
	}
	ts := startServerIn(t, dir, nil, nil)
	for k, v := range demoTokens(t, DemoTokensFile(dir)) {
		ts.tokens[k] = v
	}
	for id, p := range demoPersonal {
		st := ts.must(200, "GET", "/v1/customers/"+id, "TOKEN_AUDITOR", nil).json(t)
		if id == demoErased {
			wantFields(t, id, st, "personal", nil, "personal_data_erased", true)
			continue
		}
		pers, _ := st["personal"].(map[string]any)
		if pers["account_name"] != p.accountName || pers["mobile"] != p.mobile || pers["email"] != p.email || pers["contact_name"] != p.contactName {
			t.Errorf("%s: personal = %v, want %+v", id, st["personal"], p)
		}
		if st := ts.must(200, "GET", "/v1/customers/"+id+"/status", "TOKEN_READER_NORTH", nil).json(t); st["personal"] != nil {
			t.Errorf("%s: a reader sees %v", id, st["personal"])
		}
	}
	// The quickstart's search (written as a person would), and the erased customer's mobile.
	got := ts.must(200, "GET", "/v1/customers"+q("mobile", "+44 7700 900002"), "TOKEN_OPS_DIST_NORTH", nil).json(t)["customers"].([]any)
	if len(got) != 1 || got[0].(map[string]any)["customer_id"] != "cust-dn-002" {
		t.Errorf("search by cust-dn-002's mobile = %v", got)
	}
	if got := ts.must(200, "GET", "/v1/customers"+q("mobile", demoPersonal[demoErased].mobile), "TOKEN_PLATFORM_ADMIN", nil).json(t)["customers"].([]any); len(got) != 0 {
		t.Errorf("the erased customer is found by its mobile: %v", got)
	}
	// The quickstart's erasure: by dist-north's admin, once; not by its operator.
	wantProblem(t, ts.call("POST", "/v1/customers/cust-dn-003/erase", "TOKEN_OPS_DIST_NORTH", `{"reason":"erasure request #2"}`), 403, "forbidden")
	e := ts.must(200, "POST", "/v1/customers/cust-dn-003/erase", "TOKEN_ADMIN_DIST_NORTH", `{"reason":"erasure request #2"}`).json(t)
	wantFields(t, "cust-dn-003", e["customer"].(map[string]any), "personal", nil, "personal_data_erased", true)
	wantProblem(t, ts.call("POST", "/v1/customers/cust-dn-003/erase", "TOKEN_ADMIN_DIST_NORTH", `{"reason":"again"}`), 409, "conflict")
	ts.shutdown()

	erased := demoPersonal[demoErased]
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, v := range []string{erased.accountName, erased.mobile, erased.email, erased.contactName} {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds the erased %q", path, v)
			}
		}
		if strings.Contains(string(b), demoPersonal["cust-dn-002"].email) {
			t.Errorf("%s holds a demo e-mail address in clear text", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
