package httpapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
)

// manyPrincipals is n reader principals and their tokens.
func manyPrincipals(tb testing.TB, n int) (*Principals, []string) {
	tb.Helper()
	list := make([]Principal, n)
	tokens := make([]string, n)
	for i := range list {
		tokens[i] = fmt.Sprintf("fl_token-%06d", i)
		list[i] = Principal{Name: fmt.Sprintf("p-%06d", i), Role: domain.RoleReader, TokenSHA256: HashToken(tokens[i])}
	}
	ps, err := NewPrincipals(list)
	if err != nil {
		tb.Fatal(err)
	}
	return ps, tokens
}

// TestPrincipalsLookup: with 10,000 principals on file every token finds its own principal, and
// nothing else authenticates (a near miss, a stored hash sent as the token, upper-case hex on file).
func TestPrincipalsLookup(t *testing.T) {
	ps, tokens := manyPrincipals(t, 10000)
	for i, tok := range tokens {
		p, ok := ps.Authenticate(tok)
		if !ok || p.Name != fmt.Sprintf("p-%06d", i) {
			t.Fatalf("token %d → %v %v", i, p, ok)
		}
	}
	for _, bad := range []string{"", "fl_token-010000", tokens[7] + " ", HashToken(tokens[7]), strings.ToUpper(tokens[7])} {
		if p, ok := ps.Authenticate(bad); ok {
			t.Errorf("%q authenticates as %s", bad, p.Name)
		}
	}
	upper, err := NewPrincipals([]Principal{{Name: "u", Role: domain.RoleReader, TokenSHA256: strings.ToUpper(HashToken("tok-u"))}})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := upper.Authenticate("tok-u"); !ok || p.Name != "u" {
		t.Errorf("a hash in upper-case hex: %v %v", p, ok)
	}
	if _, err := NewPrincipals([]Principal{
		{Name: "a", Role: domain.RoleReader, TokenSHA256: HashToken("t")},
		{Name: "b", Role: domain.RoleReader, TokenSHA256: strings.ToUpper(HashToken("t"))},
	}); err == nil {
		t.Error("one token hash for two principals (in two cases) was accepted")
	}
}

// BenchmarkAuthenticate: the token check with few and with many principals on file (a map lookup:
// the two should cost about the same; the old scan grew with the file).
func BenchmarkAuthenticate(b *testing.B) {
	for _, n := range []int{3, 10000} {
		b.Run(fmt.Sprintf("principals=%d", n), func(b *testing.B) {
			ps, tokens := manyPrincipals(b, n)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, ok := ps.Authenticate(tokens[i%n]); !ok {
					b.Fatal("no principal")
				}
			}
		})
	}
}
