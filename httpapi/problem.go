package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog"
)

// Error codes of the API that are not domain codes. The domain's codes (domain.Code*) are used as they are.
const (
	CodeUnauthenticated domain.Code = "unauthenticated"
	CodeTooLarge        domain.Code = "too_large"
	CodeInternal        domain.Code = "internal"
	// CodeMethodNotAllowed: the path exists but not with this method; the Allow header lists its methods.
	CodeMethodNotAllowed domain.Code = "method_not_allowed"
	// CodeRateLimited: too many streams (exports) open for the principal or the server; Retry-After
	// says when to try again.
	CodeRateLimited domain.Code = "rate_limited"
	// CodeHeadersTooLarge: the request's headers are over Options.MaxHeaderBytes.
	CodeHeadersTooLarge domain.Code = "headers_too_large"
)

// statusOf is the single map from an error code to its HTTP status. actor_frozen is a 403: the caller
// is authenticated and the resource visible, but its partner may not act while frozen (rule 3); the
// code, not the status, tells it apart from forbidden.
var statusOf = map[domain.Code]int{
	domain.CodeInvalid:      http.StatusBadRequest,
	CodeUnauthenticated:     http.StatusUnauthorized,
	domain.CodeForbidden:    http.StatusForbidden,
	domain.CodeActorFrozen:  http.StatusForbidden,
	domain.CodeNotFound:     http.StatusNotFound,
	domain.CodeConflict:     http.StatusConflict,
	domain.CodeTypeMismatch: http.StatusConflict,
	CodeTooLarge:            http.StatusRequestEntityTooLarge,
	CodeMethodNotAllowed:    http.StatusMethodNotAllowed,
	CodeRateLimited:         http.StatusTooManyRequests,
	CodeHeadersTooLarge:     http.StatusRequestHeaderFieldsTooLarge,
	domain.CodeUnavailable:  http.StatusServiceUnavailable,
	CodeInternal:            http.StatusInternalServerError,
	// Rule 19: a critical operation without a valid, unused code.
	domain.CodeVerificationRequired: http.StatusForbidden,
}

var titleOf = map[domain.Code]string{
	domain.CodeInvalid:              "Invalid request",
	CodeUnauthenticated:             "Authentication required",
	domain.CodeForbidden:            "Forbidden",
	domain.CodeActorFrozen:          "Acting partner is frozen",
	domain.CodeNotFound:             "Not found",
	domain.CodeConflict:             "Conflict",
	domain.CodeTypeMismatch:         "Unfreeze type does not match the freeze type",
	CodeTooLarge:                    "Request body too large",
	CodeMethodNotAllowed:            "Method not allowed",
	CodeRateLimited:                 "Too many requests",
	CodeHeadersTooLarge:             "Request headers too large",
	domain.CodeUnavailable:          "Service unavailable",
	CodeInternal:                    "Internal error",
	domain.CodeVerificationRequired: "Verification code required",
}

// StatusOf returns the HTTP status of an error code (500 for an unknown code).
func StatusOf(code domain.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// codeOfErr maps the errors of the packages behind the ports that carry no domain code to the code
// they are shown with, the error's message as the detail: requests the audit log cannot serve (a
// size or index beyond the tree, a malformed export range) and a position that is no event's in the
// store (an after= of EventStoreDB's that no record has) are the caller's. It is the only place
// such errors get a code; the adapters pass them on as they are.
var codeOfErr = []struct {
	err  error
	code domain.Code
}{
	{auditlog.ErrSize, domain.CodeInvalid},
	{auditlog.ErrInvalid, domain.CodeInvalid},
	{eventstore.ErrInvalidPosition, domain.CodeInvalid},
}

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type   string      `json:"type"`
	Title  string      `json:"title"`
	Status int         `json:"status"`
	Detail string      `json:"detail"`
	Code   domain.Code `json:"code"`
}

// problemOf classifies err. Errors carrying a domain code keep it; those of codeOfErr get theirs; a
// context deadline while waiting for read models is unavailable; anything else is internal and its message is not shown.
func problemOf(err error) Problem {
	code := domain.ErrorCode(err)
	detail := ""
	var de *domain.Error
	if errors.As(err, &de) {
		detail = de.Message
	}
	for _, m := range codeOfErr {
		if code == "" && errors.Is(err, m.err) {
			code, detail = m.code, err.Error()
		}
	}
	switch {
	case code != "":
	case errors.Is(err, domain.ErrStoreUnavailable):
		code, detail = domain.CodeUnavailable, "the event store cannot take writes now"
	case errors.Is(err, context.DeadlineExceeded):
		code, detail = domain.CodeUnavailable, "timed out"
	default:
		code, detail = CodeInternal, "internal error; see the server log for the request ID"
	}
	if _, ok := statusOf[code]; !ok {
		code, detail = CodeInternal, "internal error; see the server log for the request ID"
	}
	return Problem{
		Type:   "https://freezeledger.dev/problems/" + string(code),
		Title:  titleOf[code],
		Status: statusOf[code],
		Detail: detail,
		Code:   code,
	}
}

func writeProblem(w http.ResponseWriter, p Problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func errorf(code domain.Code, format string, args ...any) error {
	return domain.Errorf(code, format, args...)
}
