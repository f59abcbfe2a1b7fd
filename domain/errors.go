package domain

import (
	"errors"
	"fmt"
)

// Code classifies a refusal. httpapi maps each code to one HTTP status.
type Code string

const (
	CodeInvalid      Code = "invalid"       // the request is malformed or breaks a value rule (rule 4, IDs)
	CodeForbidden    Code = "forbidden"     // the actor may not do this (rules 2, 6, roles)
	CodeActorFrozen  Code = "actor_frozen"  // the acting partner is frozen (rule 3)
	CodeNotFound     Code = "not_found"     // the customer or partner does not exist
	CodeConflict     Code = "conflict"      // the state already is what was asked, an ID is taken (rules 5, 10), or an idempotency key is reused for another command
	CodeTypeMismatch Code = "type_mismatch" // the unfreeze type differs from the freeze type (rule 5)
	CodeUnavailable  Code = "unavailable"   // the store cannot take writes now
	// CodeVerificationRequired: a critical operation without a valid, unused code while its partner
	// requires one (rule 19).
	CodeVerificationRequired Code = "verification_required"
)

// Error is the domain's one error type: a code and a message that says which rule and why.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is makes errors.Is(err, &Error{Code: c}) match any *Error with code c.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Errorf builds an *Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns err's code, or "" when err is not (or does not wrap) an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
