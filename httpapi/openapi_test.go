package httpapi

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestOperationIDs: every operation of the OpenAPI document has an operationId, unique and
// camelCase, and every route of the server is an operation of the document.
func TestOperationIDs(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	camel := regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	seen := map[string]string{}
	ops := map[string]bool{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
			default:
				continue
			}
			var op struct {
				OperationID string `json:"operationId"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			where := strings.ToUpper(method) + " " + path
			ops[where] = true
			switch {
			case op.OperationID == "":
				t.Errorf("%s has no operationId", where)
			case !camel.MatchString(op.OperationID):
				t.Errorf("%s: operationId %q is not camelCase", where, op.OperationID)
			case seen[op.OperationID] != "":
				t.Errorf("%s: operationId %q is also %s's", where, op.OperationID, seen[op.OperationID])
			}
			seen[op.OperationID] = where
		}
	}
	srv, _ := hostileServer(t, Options{})
	for _, rt := range append(srv.routeTable(), route{method: "GET", path: "/metrics"}) {
		if !ops[rt.method+" "+rt.path] && !coveredByTemplates(ops, rt) {
			t.Errorf("route %s %s is not in the OpenAPI document", rt.method, rt.path)
		}
	}
}

// coveredByTemplates: a route whose last segment is a pattern ({path:.+}, one route for several
// document paths such as the tlog tiles) is covered by the document paths of its method under its
// prefix.
func coveredByTemplates(ops map[string]bool, rt route) bool {
	i := strings.Index(rt.path, ":")
	if i < 0 {
		return false
	}
	prefix := rt.method + " " + rt.path[:strings.LastIndex(rt.path[:i], "{")]
	for op := range ops {
		if strings.HasPrefix(op, prefix) {
			return true
		}
	}
	return false
}
