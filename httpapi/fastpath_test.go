package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gorilla/mux"
)

// TestStatusFastPathMatchesRouter: for every path and method, the status fast path takes exactly
// the requests the router would give the status route, with the same id, and passes the rest on.
func TestStatusFastPathMatchesRouter(t *testing.T) {
	var hit, id string
	mark := func(name string) http.Handler {
		return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { hit, id = name, routeID(r) })
	}
	router := mux.NewRouter().SkipClean(true)
	router.Handle(statusPath, mark("status")).Methods(http.MethodGet, http.MethodHead)
	router.Handle("/v1/customers/{id}", mark("other")).Methods(http.MethodGet)
	router.NotFoundHandler, router.MethodNotAllowedHandler = mark("none"), mark("none")
	fast := statusFastPath(mark("status"), router)
	paths := []string{
		"/v1/customers/c-1/status", "/v1/customers/c.b_A-9/status", "/v1/customers//status", "/v1/customers/status",
		"/v1/customers/a/b/status", "/v1/customers/c-1/status/", "/v1/customers/c-1/statusx", "/v1/customers/c-1",
		"/v1/customers/../status", "/v1/customers/%2F/status", "/v1/customers/a%2Fb/status", "/v1/customers/%20/status",
		"/V1/customers/c-1/status", "//v1/customers/c-1/status", "/v1/customers/c-1//status", "/v1/customers/ü/status",
	}
	for _, p := range paths {
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "get"} {
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
