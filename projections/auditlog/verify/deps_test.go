package verify

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/freezeledger/freezeledger"

// TestDependencies keeps the auditor's side apart from the writer's: neither the verifier nor the
// leaf format depends on the event store or on the writer (package auditlog), and the leaf format
// needs nothing of the domain either (an outside verifier reimplements it from its documentation).
func TestDependencies(t *testing.T) {
	for _, c := range []struct {
		pkg       string
		forbidden []string // import paths, or prefixes ending in "/"
	}{
		{".", []string{module + "/eventstore", module + "/eventstore/", module + "/projections/auditlog", module + "/projections", module + "/httpapi", module + "/cmd/"}},
		{"../leaf", []string{module + "/eventstore", module + "/eventstore/", module + "/projections/auditlog", module + "/projections", module + "/domain", module + "/httpapi", module + "/cmd/"}},
	} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", c.pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", c.pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) == 0 {
			t.Fatalf("go list %s listed nothing", c.pkg)
		}
		for _, p := range deps {
			for _, f := range c.forbidden {
				if p == f || (strings.HasSuffix(f, "/") && strings.HasPrefix(p, f)) {
					t.Errorf("%s depends on %s", c.pkg, p)
				}
			}
		}
	}
}
