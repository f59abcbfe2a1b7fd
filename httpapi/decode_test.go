package httpapi

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections"
)

func seeds(t testing.TB, dir string) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "httpapi", dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no seeds in testdata/httpapi/%s: %v", dir, err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// decodeAny decodes b as request kind k (one of the API's request bodies) and returns the decoded
// request's IDs and texts for the invariant checks.
func decodeAny(k byte, b []byte) (ids []string, err error) {
	switch k % 8 {
	case 0:
		r, err := decodeRequest[registerPartnerRequest](b)
		return append([]string{r.PartnerID}, nonEmpty(r.ParentID)...), err
	case 1:
		r, err := decodeRequest[associateCustomerRequest](b)
		return []string{r.CustomerID, r.PartnerID}, err
	case 2:
		_, err := decodeRequest[freezeRequest](b)
		return nil, err
	case 3:
		_, err := decodeRequest[unfreezeRequest](b)
		return nil, err
	case 4:
		r, err := decodeRequest[batchFreezeRequest](b)
		return r.CustomerIDs, err
	case 5:
		r, err := decodeRequest[batchUnfreezeRequest](b)
		return r.CustomerIDs, err
	case 6:
		_, err := decodeRequest[partnerFreezeRequest](b)
		return nil, err
	default:
		_, err := decodeRequest[delegationRequest](b)
		return nil, err
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// FuzzDecodeRequest: no input makes a request decoder panic; a refusal is always an invalid
// *domain.Error; an accepted request has only valid IDs and came from valid UTF-8 JSON.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range seeds(f, "requests") {
		for k := byte(0); k < 8; k++ {
			f.Add(k, s)
		}
	}
	f.Fuzz(func(t *testing.T, k byte, b []byte) {
		ids, err := decodeAny(k, b)
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) || de.Code != domain.CodeInvalid {
				t.Fatalf("refusal %v is not an invalid *domain.Error", err)
			}
			return
		}
		if !utf8.Valid(b) {
			t.Fatalf("accepted invalid UTF-8: %q", b)
		}
		for _, id := range ids {
			if !domain.ValidID(id) {
				t.Fatalf("accepted an invalid ID %q from %q", id, b)
			}
		}
		if len(ids) > domain.MaxBatch+2 {
			t.Fatalf("accepted %d IDs", len(ids))
		}
	})
}

// FuzzQuery: query parsing never panics; refusals are invalid *domain.Errors.
func FuzzQuery(f *testing.F) {
	for _, s := range seeds(f, "queries") {
		f.Add(strings.TrimSpace(string(s)))
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/x", nil)
		r.URL.RawQuery = raw
		q, err := parseQuery(r, "frozen", "freeze_type", "limit", "as_of", "min_position", "cursor")
		if err != nil {
			if domain.ErrorCode(err) != domain.CodeInvalid {
				t.Fatalf("refusal %v is not invalid", err)
			}
			return
		}
		for _, check := range []func() error{
			func() error { _, err := parseLimit(q["limit"]); return err },
			func() error { _, err := parseBool("frozen", q["frozen"]); return err },
			func() error { _, err := projections.ParseAsOf(q["as_of"]); return err },
			func() error {
				if v, ok := q["min_position"]; ok {
					_, err := parsePosition("min_position", v)
					return err
				}
				return nil
			},
		} {
			if err := check(); err != nil && domain.ErrorCode(err) != domain.CodeInvalid {
				t.Fatalf("refusal %v is not invalid", err)
			}
		}
		if n, err := parseLimit(q["limit"]); err == nil && (n < 1 || n > 1000) {
			t.Fatalf("limit %d accepted", n)
		}
	})
}

func TestDecodeStrict(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"reason":"x","freeze_type":"ACCOUNT"}`, true},
		{` {"reason":"x"} `, true},
		{`{"reason":"x"}{}`, false},
		{`{"reason":"x"} x`, false},
		{`{"reason":"x","other":1}`, false},
		{`{"reason":1}`, false},
		{`{"freeze_type":"account"}`, false},
		{`[]`, false},
		{``, false},
		{`{"reason":"x"`, false},
	} {
		_, err := decodeRequest[freezeRequest]([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.body, err, tc.ok)
		}
	}
}

func TestStatusMap(t *testing.T) {
	want := map[domain.Code]int{
		"invalid": 400, "unauthenticated": 401, "forbidden": 403, "actor_frozen": 403, "not_found": 404,
		"conflict": 409, "type_mismatch": 409, "too_large": 413, "unavailable": 503, "internal": 500,
		"method_not_allowed": 405, "rate_limited": 429, "headers_too_large": 431,
		"verification_required": 403, // rule 19
	}
	for c, s := range want {
		if got := StatusOf(c); got != s {
			t.Errorf("StatusOf(%s) = %d, want %d", c, got, s)
		}
	}
	if len(statusOf) != len(want) {
		t.Errorf("statusOf has %d codes, want %d", len(statusOf), len(want))
	}
	// A plain error is internal and says nothing of itself.
	p := problemOf(errors.New("secret detail"))
	if p.Status != 500 || strings.Contains(p.Detail, "secret") {
		t.Errorf("problemOf(plain error) = %+v", p)
	}
	if p := problemOf(domain.ErrStoreUnavailable); p.Status != 503 {
		t.Errorf("store unavailable → %d", p.Status)
	}
}

func TestPrincipals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	tok, err := CreatePrincipal(path, "ops", domain.RolePartner, "dist-1")
	if err != nil {
		t.Fatal(err)
	}
	tok2, err := CreatePrincipal(path, "aud", domain.RoleAuditor, "")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := LoadPrincipals(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := ps.Authenticate(tok); !ok || p.Name != "ops" {
		t.Errorf("token 1 → %v %v", p, ok)
	}
	if p, ok := ps.Authenticate(tok2); !ok || p.Name != "aud" {
		t.Errorf("token 2 → %v %v", p, ok)
	}
	for _, bad := range []string{"", "x", tok + "x", tok[:len(tok)-1], HashToken(tok)} {
		if _, ok := ps.Authenticate(bad); ok {
			t.Errorf("%q authenticates", bad)
		}
	}
	if _, err := CreatePrincipal(path, "ops", domain.RoleReader, ""); err == nil {
		t.Error("a duplicate name was accepted")
	}
	for _, p := range []Principal{
		{Name: "a", Role: "platform", PartnerID: "d", TokenSHA256: HashToken("a")},
		{Name: "b", Role: "partner", TokenSHA256: HashToken("b")},
		{Name: "c", Role: "god", TokenSHA256: HashToken("c")},
		{Name: "d", Role: "reader", TokenSHA256: "abc"},
		{Name: "", Role: "reader", TokenSHA256: HashToken("e")},
	} {
		if p.Validate() == nil {
			t.Errorf("%+v is valid", p)
		}
	}
	if err := os.WriteFile(path, []byte(`[{"name":"x","role":"reader","partner_id":"","token_sha256":"`+HashToken("t")+`","extra":1}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPrincipals(path); err == nil {
		t.Error("a principals file with an unknown field loads")
	}
}

func TestRequestID(t *testing.T) {
	if got := requestIDFrom("abc-123"); got != "abc-123" {
		t.Errorf("kept %q", got)
	}
	for _, bad := range []string{"", "has space", strings.Repeat("x", 129), "ü"} {
		if got := requestIDFrom(bad); got == bad || len(got) != 24 {
			t.Errorf("requestIDFrom(%q) = %q", bad, got)
		}
	}
}
