package httpapi

// Verification codes on the wire (rule 19): the critical routes, and the check of their
// X-Verification-Code header against the principal's TOTP enrolment (package verification). The
// check runs when a write builds its command (meta), after its body and visibility were checked, so
// a malformed request does not use up a code. A valid code makes the command Verified; whether one
// was required is the domain's decision (its partner's switch, in log order), which refuses an
// unverified critical command with verification_required. A locked-out principal (five wrong codes
// within 5 minutes) gets 429 rate_limited with Retry-After on every critical route for 15 minutes.

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi/verification"
)

// HeaderVerificationCode carries a critical operation's one-time code.
const HeaderVerificationCode = "X-Verification-Code"

// criticalRoutes are the routes of rule 19's critical operations ("METHOD path" as in the route
// table): the routes of the domain's critical commands (domain.Channel.checkVerification's list).
var criticalRoutes = map[string]bool{
	"POST /v1/customers/{id}/freeze":                true,
	"POST /v1/customers/{id}/unfreeze":              true,
	"POST /v1/customers/freeze":                     true,
	"POST /v1/customers/unfreeze":                   true,
	"POST /v1/partners/{id}/freeze":                 true,
	"POST /v1/partners/{id}/unfreeze":               true,
	"PUT /v1/partners/{id}/delegation":              true,
	"DELETE /v1/partners/{id}/delegation":           true,
	"PUT /v1/partners/{id}/verification":            true,
	"POST /v1/customers/{id}/disassociation":        true,
	"POST /v1/customers/{id}/disassociation/accept": true,
	"POST /v1/customers/{id}/disassociation/reject": true,
	"PUT /v1/customers/{id}/budget":                 true,
	"DELETE /v1/customers/{id}/budget":              true,
	"PUT /v1/customers/budget":                      true,
	"PUT /v1/partners/{id}/quota":                   true,
	"POST /v1/customers/{id}/erase":                 true,
}

// criticalCheck is the check meta runs for route rt, nil for a route that is not critical.
func (s *Server) criticalCheck(rt route) func(r *http.Request, p Principal) (bool, error) {
	if !criticalRoutes[rt.method+" "+rt.path] {
		return nil
	}
	return s.checkCode
}

// checkCode checks the request's code, if any, for principal p: true when it is valid and unused.
// Only platform and partner principals enrol; others are not asked.
func (s *Server) checkCode(r *http.Request, p Principal) (bool, error) {
	if p.Role != domain.RolePlatform && p.Role != domain.RolePartner {
		return false, nil
	}
	vs := r.Header[HeaderVerificationCode]
	if len(vs) > 1 {
		return false, errorf(domain.CodeInvalid, "%s is given %d times", HeaderVerificationCode, len(vs))
	}
	if s.verify == nil {
		if len(vs) == 1 {
			return false, errorf(domain.CodeUnavailable, "verification codes are not configured on this server")
		}
		return false, nil
	}
	if len(vs) == 0 {
		return false, s.codeError(r, s.verify.Locked(p.Name))
	}
	return true, s.codeError(r, s.verify.Verify(p.Name, vs[0]))
}

// codeError maps the verification store's answers to problems: a lockout is 429 with Retry-After
// (set through the request's info), a wrong, used or missing code 403 verification_required.
func (s *Server) codeError(r *http.Request, err error) error {
	var le *verification.LockedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le):
		info(r).retryAfter = max(1, int(math.Ceil(le.Until.Sub(s.verify.Now()).Seconds())))
		return errorf(CodeRateLimited, "rule 19: %v", le)
	case errors.Is(err, verification.ErrWrongCode), errors.Is(err, verification.ErrReplayed),
		errors.Is(err, verification.ErrNotEnrolled), errors.Is(err, verification.ErrNoPending), errors.Is(err, verification.ErrCodeNeeded):
		return errorf(domain.CodeVerificationRequired, "rule 19: %v", err)
	}
	return err
}

// setRetryAfter sets Retry-After on a problem answer whose request recorded one.
func setRetryAfter(w http.ResponseWriter, r *http.Request) {
	if n := info(r).retryAfter; n > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(n))
	}
}
