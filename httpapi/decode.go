package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

// MaxBodyBytes is the largest request body accepted; a larger one is 413 too_large.
const MaxBodyBytes = 64 << 10

// readBody reads the whole request body, refusing more than MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, errorf(CodeTooLarge, "the request body is %d bytes; the limit is %d", r.ContentLength, MaxBodyBytes)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errorf(CodeTooLarge, "the request body is over the limit of %d bytes", MaxBodyBytes)
	}
	if err != nil {
		return nil, errorf(domain.CodeInvalid, "reading the request body: %v", err)
	}
	return b, nil
}

// decodeStrict decodes one JSON object from b into v (a pointer to a struct): unknown fields (names
// are matched exactly, not case-insensitively), a field given twice, control characters in strings
// (checkKeys), a body that is not an object, and anything after the object are refused with an
// invalid error that says where.
func decodeStrict(b []byte, v any) error {
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return errorf(domain.CodeInvalid, "the request body is empty; a JSON object is required")
	}
	if trimmed[0] != '{' {
		return errorf(domain.CodeInvalid, "the request body must be a JSON object")
	}
	if !utf8.Valid(b) {
		return errorf(domain.CodeInvalid, "the request body is not valid UTF-8")
	}
	if decodeFlat(b, v) {
		return nil
	}
	return decodeFull(b, v)
}

// decodeFull is decodeStrict's general path, for a body that starts with '{' and is valid UTF-8.
func decodeFull(b []byte, v any) error {
	if err := checkKeys(b, reflect.TypeOf(v).Elem()); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(domain.CodeInvalid, "%s", describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(domain.CodeInvalid, "unexpected data after the JSON object at byte %d", dec.InputOffset())
	}
	return nil
}

func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(body)"
		}
		return fmt.Sprintf("field %q must be %s, not a JSON %s", field, jsonKind(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the JSON body ends too early"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON: " + err.Error()
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "ptr":
		return "a value of another type"
	}
	return "a number"
}

// Request bodies. Each has a check method that applies the API's own rules; the domain applies the
// rest (reasons, permissions, states).

type registerPartnerRequest struct {
	PartnerID string `json:"partner_id"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	ParentID  string `json:"parent_id"`
}

func (q registerPartnerRequest) check() error {
	if err := checkID("partner_id", q.PartnerID); err != nil {
		return err
	}
	if err := checkText("name", q.Name, 256); err != nil {
		return err
	}
	switch domain.PartnerType(q.Type) {
	case domain.PartnerDistributor, domain.PartnerSolutionProvider, domain.PartnerReseller:
	default:
		return errorf(domain.CodeInvalid, "type must be distributor, reseller or solution_provider")
	}
	if q.ParentID != "" {
		return checkID("parent_id", q.ParentID)
	}
	return nil
}

type associateCustomerRequest struct {
	CustomerID     string   `json:"customer_id"`
	Name           string   `json:"name"`
	PartnerID      string   `json:"partner_id"`
	Tags           []string `json:"tags"`
	AccountManager string   `json:"account_manager"`
	// Personal is rule 21's personal data (personal.go), sealed before the command.
	Personal *personalInput `json:"personal"`
}

// MaxTags bounds a customer's tags.
const MaxTags = 32

func (q associateCustomerRequest) check() error {
	if err := checkID("customer_id", q.CustomerID); err != nil {
		return err
	}
	if err := checkText("name", q.Name, 256); err != nil {
		return err
	}
	if err := checkID("partner_id", q.PartnerID); err != nil {
		return err
	}
	if len(q.Tags) > MaxTags {
		return errorf(domain.CodeInvalid, "at most %d tags", MaxTags)
	}
	for i, t := range q.Tags {
		if err := checkText(fmt.Sprintf("tags[%d]", i), t, 64); err != nil {
			return err
		}
	}
	if q.AccountManager != "" {
		if err := checkText("account_manager", q.AccountManager, 128); err != nil {
			return err
		}
	}
	if q.Personal != nil {
		return q.Personal.check()
	}
	return nil
}

type freezeRequest struct {
	Reason     string `json:"reason"`
	FreezeType string `json:"freeze_type"`
}

func (q freezeRequest) check() error { return checkFreezeType("freeze_type", q.FreezeType, true) }

type unfreezeRequest struct {
	Reason       string `json:"reason"`
	UnfreezeType string `json:"unfreeze_type"`
}

func (q unfreezeRequest) check() error {
	return checkFreezeType("unfreeze_type", q.UnfreezeType, false)
}

type batchFreezeRequest struct {
	CustomerIDs []string `json:"customer_ids"`
	Reason      string   `json:"reason"`
	FreezeType  string   `json:"freeze_type"`
}

func (q batchFreezeRequest) check() error {
	if err := checkBatch(q.CustomerIDs); err != nil {
		return err
	}
	if err := checkReason(q.Reason); err != nil {
		return err
	}
	return checkFreezeType("freeze_type", q.FreezeType, true)
}

type batchUnfreezeRequest struct {
	CustomerIDs  []string `json:"customer_ids"`
	Reason       string   `json:"reason"`
	UnfreezeType string   `json:"unfreeze_type"`
}

func (q batchUnfreezeRequest) check() error {
	if err := checkBatch(q.CustomerIDs); err != nil {
		return err
	}
	if err := checkReason(q.Reason); err != nil {
		return err
	}
	return checkFreezeType("unfreeze_type", q.UnfreezeType, false)
}

type partnerFreezeRequest struct {
	Reason string `json:"reason"`
}

func (q partnerFreezeRequest) check() error { return nil }

type delegationRequest struct {
	Freeze *bool `json:"freeze"`
	Budget *bool `json:"budget"`
}

func (q delegationRequest) check() error {
	if q.Freeze == nil || q.Budget == nil {
		return errorf(domain.CodeInvalid, "both freeze and budget (booleans) are required")
	}
	return nil
}

type checker interface{ check() error }

// decodeRequest decodes and checks a request body of type T.
// decodeBody runs the first steps every write with a body shares: no query parameters, a body
// within MaxBodyBytes, decoded strictly into T and checked.
func decodeBody[T checker](w http.ResponseWriter, r *http.Request) (T, error) {
	var req T
	if _, err := parseQuery(r); err != nil {
		return req, err
	}
	b, err := readBody(w, r)
	if err != nil {
		return req, err
	}
	return decodeRequest[T](b)
}

// decodeWrite is decodeBody followed by the command's Meta (actor, request ID, idempotency key).
func decodeWrite[T checker](w http.ResponseWriter, r *http.Request, p Principal) (T, domain.Meta, error) {
	req, err := decodeBody[T](w, r)
	if err != nil {
		return req, domain.Meta{}, err
	}
	m, err := meta(r, p)
	return req, m, err
}

func decodeRequest[T checker](b []byte) (T, error) {
	var v T
	if err := decodeStrict(b, &v); err != nil {
		return v, err
	}
	return v, v.check()
}

func checkID(field, id string) error {
	if id == "" {
		return errorf(domain.CodeInvalid, "%s is required", field)
	}
	if !domain.ValidID(id) {
		return errorf(domain.CodeInvalid, "%s %q is not a valid ID (1 to 64 of A-Z a-z 0-9 _ . -, starting with a letter or digit)", field, clip(id))
	}
	return nil
}

func checkText(field, s string, max int) error {
	t := strings.TrimSpace(s)
	if t == "" {
		return errorf(domain.CodeInvalid, "%s is required", field)
	}
	if utf8.RuneCountInString(s) > max {
		return errorf(domain.CodeInvalid, "%s is longer than %d characters", field, max)
	}
	return freeText(field, s)
}

// checkReason applies rule 4 to a batch's reason, which is common to all its customers: one refusal
// for the request instead of the same refusal for every customer.
func checkReason(r string) error {
	if n := utf8.RuneCountInString(strings.TrimSpace(r)); n < 1 || n > 256 {
		return errorf(domain.CodeInvalid, "rule 4: a reason of 1 to 256 characters after trimming is required (got %d)", n)
	}
	return nil
}

func checkFreezeType(field, t string, optional bool) error {
	switch domain.FreezeType(t) {
	case domain.FreezeAccount, domain.FreezeAccountAndResource:
		return nil
	case "":
		if optional {
			return nil
		}
		return errorf(domain.CodeInvalid, "%s is required (ACCOUNT or ACCOUNT_AND_RESOURCE)", field)
	}
	return errorf(domain.CodeInvalid, "%s must be ACCOUNT or ACCOUNT_AND_RESOURCE", field)
}

func checkBatch(ids []string) error {
	if len(ids) == 0 {
		return errorf(domain.CodeInvalid, "customer_ids must list 1 to %d customers", domain.MaxBatch)
	}
	if len(ids) > domain.MaxBatch {
		return errorf(domain.CodeInvalid, "customer_ids lists %d customers; a batch takes at most %d (rule 11)", len(ids), domain.MaxBatch)
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if err := checkID(fmt.Sprintf("customer_ids[%d]", i), id); err != nil {
			return err
		}
		if seen[id] {
			return errorf(domain.CodeInvalid, "customer_ids lists %q twice", id)
		}
		seen[id] = true
	}
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// checkIdempotencyKey checks an Idempotency-Key header: 1 to 128 printable ASCII characters.
func checkIdempotencyKey(k string) error {
	if len(k) == 0 || len(k) > 128 {
		return errorf(domain.CodeInvalid, "Idempotency-Key must be 1 to 128 printable characters")
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return errorf(domain.CodeInvalid, "Idempotency-Key must be 1 to 128 printable characters")
		}
	}
	return nil
}

// Query parameters.

// parseQuery parses the query string, refusing malformed, repeated and unknown parameters.
func parseQuery(r *http.Request, allowed ...string) (map[string]string, error) {
	if r.URL.RawQuery == "" {
		return nil, nil // reads of a nil map are fine; the common case allocates nothing
	}
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(domain.CodeInvalid, "malformed query string")
	}
	out := make(map[string]string, len(vals))
	for k, vs := range vals {
		ok := false
		for _, a := range allowed {
			if a == k {
				ok = true
				break
			}
		}
		if !ok {
			return nil, errorf(domain.CodeInvalid, "unknown query parameter %q", clip(k))
		}
		if len(vs) != 1 {
			return nil, errorf(domain.CodeInvalid, "query parameter %q is given %d times", k, len(vs))
		}
		out[k] = vs[0]
	}
	return out, nil
}

// parseLimit parses limit: default 100, 1 to 1000.
func parseLimit(s string) (int, error) {
	if s == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, errorf(domain.CodeInvalid, "limit must be an integer from 1 to 1000")
	}
	return n, nil
}

func parseBool(name, s string) (*bool, error) {
	if s == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, errorf(domain.CodeInvalid, "%s must be true or false", name)
	}
	return &b, nil
}

// Query times are RFC 3339, whose years run from 0000 to 9999; with an offset a time may fall just
// outside them in UTC, where it would not format back to RFC 3339. parseTime keeps it inside.
var (
	firstRFC3339 = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	lastRFC3339  = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// parseTime parses an RFC 3339 time parameter, in UTC, moved into years 0000 to 9999 (a shift of at
// most a day, far before or after any event, so no answer changes). Every such time is answered;
// the read models compare times outside the years their nanoseconds hold as before or after all.
func parseTime(name, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errorf(domain.CodeInvalid, "%s must be an RFC 3339 time, like 2026-11-26T10:00:00Z", name)
	}
	t = t.UTC()
	switch {
	case t.Before(firstRFC3339):
		t = firstRFC3339
	case t.After(lastRFC3339):
		t = lastRFC3339
	}
	return t, nil
}

func parsePosition(name, s string) (eventstore.Position, error) {
	p, err := eventstore.ParsePosition(s)
	if err != nil {
		return eventstore.Position{}, errorf(domain.CodeInvalid, "%s must be a log position (a decimal string as returned by writes)", name)
	}
	return p, nil
}

func parseUint(name, s string, required bool) (uint64, bool, error) {
	if s == "" {
		if required {
			return 0, false, errorf(domain.CodeInvalid, "%s is required", name)
		}
		return 0, false, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, errorf(domain.CodeInvalid, "%s must be a non-negative integer", name)
	}
	return n, true, nil
}
