package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gorilla/mux"
)

// TestFastPathMatchesRouter: for every path and method, the fast path takes exactly the requests
// the router, built from the whole route table, would give a fast route, with the same id, and
// passes the rest on.
func TestFastPathMatchesRouter(t *testing.T) {
	var hit, id string
	mark := func(name string) http.Handler {
		return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { hit, id = name, routeID(r) })
	}
	router := mux.NewRouter().SkipClean(true)
	hot := map[fastRoute]http.Handler{}
	for _, rt := range (&Server{}).routeTable() {
		h := mark(rt.method + " " + rt.path)
		router.Handle(rt.path, h).Methods(withHead(rt.method)...)
		if fr, ok := fastRouteOf(rt.method, rt.path); ok {
			hot[fr] = h
		}
	}
	if len(hot) != 3 {
		t.Fatalf("fast routes %v, want status, freeze and unfreeze", hot)
	}
	router.NotFoundHandler, router.MethodNotAllowedHandler = mark("none"), mark("none")
	fast := customerFastPath(hot, router)
	paths := []string{
		"/v1/customers/c-1/status", "/v1/customers/c.b_A-9/status", "/v1/customers//status", "/v1/customers/status",
		"/v1/customers/a/b/status", "/v1/customers/c-1/status/", "/v1/customers/c-1/statusx", "/v1/customers/c-1",
		"/v1/customers/../status", "/v1/customers/%2F/status", "/v1/customers/a%2Fb/status", "/v1/customers/%20/status",
		"/V1/customers/c-1/status", "//v1/customers/c-1/status", "/v1/customers/c-1//status", "/v1/customers/ü/status",
		"/v1/customers/c-1/freeze", "/v1/customers/c-1/unfreeze", "/v1/customers/freeze", "/v1/customers/unfreeze",
		"/v1/customers/c-1/freeze/", "/v1/customers//freeze", "/v1/customers/a/b/unfreeze", "/v1/customers/c-1/budget",
		"/v1/customers/c-1/disassociation", "/v1/customers/c-1/resources/r-1", "/v1/customers/", "/v1/customers",
		"/v1/customers/c-1/unfreezex", "/v1/customers/c-1/Freeze", "/v1/partners/p-1/freeze",
	}
	for _, p := range paths {
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", "post"} {
			u, err := url.Parse(p)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/", nil)
			req.Method, req.URL = m, u
			hit, id = "", ""
			router.ServeHTTP(httptest.NewRecorder(), req)
			wantHit, wantID := hit, id
			for _, observed := range []bool{false, true} { // without and with the observing middleware's info
				r := req
				if observed {
					r = req.WithContext(&requestInfo{Context: req.Context()})
				}
				hit, id = "", ""
				fast.ServeHTTP(httptest.NewRecorder(), r)
				if hit != wantHit || id != wantID {
					t.Errorf("%s %s (observed %v): fast path %q id %q, router %q id %q", m, p, observed, hit, id, wantHit, wantID)
				}
			}
		}
	}
}
