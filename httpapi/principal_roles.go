package httpapi

// The phase-2 parts of a principal: partner admins ("admin": true, rules 19 to 21) and the customer
// role ("customer_id"), which sees only its own customer and calls only the routes of
// customerRoutes (every other customer is a 404, every other route a 403).

import (
	"fmt"
	"net/http"

	"github.com/freezeledger/freezeledger/domain"
)

// validateCustomer checks a principal of role customer: a valid customer_id, no partner_id.
func (p Principal) validateCustomer() error {
	if !domain.ValidID(p.CustomerID) {
		return fmt.Errorf("principal %q: a customer principal needs a valid customer_id", p.Name)
	}
	if p.PartnerID != "" {
		return fmt.Errorf("principal %q: a customer principal has no partner_id (it is the customer %s)", p.Name, p.CustomerID)
	}
	return nil
}

// validateAdmin checks the fields only some roles take: admin (partner), customer_id (customer).
func (p Principal) validateAdmin() error {
	if p.Admin && p.Role != domain.RolePartner {
		return fmt.Errorf("principal %q: only a partner principal can be an admin, not role %s", p.Name, p.Role)
	}
	if p.CustomerID != "" && p.Role != domain.RoleCustomer {
		return fmt.Errorf("principal %q: customer_id is for role customer, not %s", p.Name, p.Role)
	}
	return nil
}

// CreatePrincipalFull is CreatePrincipal for any principal: p's token hash is filled in with a
// fresh token, which is returned (the only time it is ever seen).
func CreatePrincipalFull(path string, p Principal) (string, error) {
	token, sum, err := NewToken()
	if err != nil {
		return "", err
	}
	p.TokenSHA256 = sum
	if err := p.Validate(); err != nil {
		return "", err
	}
	if err := AddPrincipal(path, p); err != nil {
		return "", err
	}
	return token, nil
}

// customerRoutes are the routes a principal of role customer may call ("METHOD path" as in the
// route table), always on its own customer: status, the customer, operations, history, timeline,
// budget and its history, resources, its disassociation, and the change feed (its own changes
// only: changeViewer).
var customerRoutes = map[string]bool{
	"GET /v1/customers/{id}/status":                             true,
	"GET /v1/customers/{id}/operations/{operation}":             true,
	"GET /v1/customers/{id}/operations":                         true,
	"GET /v1/customers/{id}":                                    true,
	"GET /v1/customers/{id}/history":                            true,
	"GET /v1/customers/{id}/timeline":                           true,
	"GET /v1/customers/{id}/disassociation":                     true,
	"POST /v1/customers/{id}/disassociation":                    true,
	"POST /v1/customers/{id}/disassociation/accept":             true,
	"POST /v1/customers/{id}/disassociation/reject":             true,
	"GET /v1/customers/{id}/budget":                             true,
	"GET /v1/customers/{id}/budget/history":                     true,
	"GET /v1/customers/{id}/resources":                          true,
	"GET /v1/customers/{id}/resources/{resource_id}/operations": true,
	"GET /v1/changes":                                           true,
}

// customerMayCall reports whether a customer principal may call the request's route.
func customerMayCall(method, route string) bool {
	if method == "HEAD" {
		method = "GET"
	}
	return customerRoutes[method+" "+route]
}

// customerScope is the scope of a customer principal: no partner ID (it contains a colon), so
// every partner-subtree filter it reaches is empty.
func customerScope(p Principal) string { return "customer:" + p.CustomerID }

// historyViewer is the Viewer of p's history reads: a customer reads its own events whole.
func (p Principal) historyViewer() string {
	if p.Role == domain.RoleCustomer {
		return ""
	}
	return p.scope()
}

// customerAccess refuses a customer principal every route but its own customer's (customerRoutes).
func customerAccess(r *http.Request) error {
	if customerMayCall(r.Method, info(r).route) {
		return nil
	}
	return errorf(domain.CodeForbidden, "a customer principal reads only its own customer (status, operations, history, timeline, budget, resources, changes) and starts or answers its disassociation")
}
