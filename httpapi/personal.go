package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections"
)

// Personal data (rule 21, docs/PERSONAL-DATA.md): the API validates and normalises each field,
// seals it with the customer's data key (PersonalVault) and hands the domain only the sealed form;
// reads show the clear text the read models opened, never to readers. No value is ever logged:
// refusals name the field, not what was sent.

// PersonalVault seals personal fields and destroys keys; *keystore.Store satisfies it.
type PersonalVault interface {
	// KeyFor returns the data key to seal customerID's fields with: existing (the key the log
	// records for it, "" for none) if it is live, else a fresh durable one (the same one again for
	// the same customer within the process, so retries seal the same bytes).
	KeyFor(customerID, existing string) (string, error)
	Seal(keyID, customerID, field, value string) (domain.SealedValue, error)
	// Destroy removes keys from the store durably.
	Destroy(keyIDs ...string) error
}

// PersonalLedger is the part of the write side personal data needs; *domain.Service satisfies it.
type PersonalLedger interface {
	Customer(ctx context.Context, id string) (domain.Customer, string, string, error)
	ChangePersonalData(ctx context.Context, cmd domain.ChangePersonalData) (domain.Result, error)
	ErasePersonalData(ctx context.Context, cmd domain.ErasePersonalData) (domain.Result, error)
}

// personalInput is the personal object of POST /v1/customers.
type personalInput struct {
	AccountName *string `json:"account_name"`
	Mobile      *string `json:"mobile"`
	Email       *string `json:"email"`
	ContactName *string `json:"contact_name"`
}

// optText is a PATCH field: absent (unchanged), null (cleared) or a value.
type optText struct {
	set   bool
	null  bool
	value string
}

func (o *optText) UnmarshalJSON(b []byte) error {
	o.set = true
	if string(b) == "null" {
		o.null = true
		return nil
	}
	return json.Unmarshal(b, &o.value)
}

type personalPatchRequest struct {
	AccountName optText `json:"account_name"`
	Mobile      optText `json:"mobile"`
	Email       optText `json:"email"`
	ContactName optText `json:"contact_name"`
}

func (q personalPatchRequest) fields() [4]*optText {
	return [4]*optText{&q.AccountName, &q.Mobile, &q.Email, &q.ContactName}
}

func (q personalPatchRequest) check() error {
	n := 0
	for i, f := range q.fields() {
		if !f.set {
			continue
		}
		n++
		if !f.null {
			if _, err := normalizePersonal(domain.PersonalFields[i], f.value); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		return errorf(domain.CodeInvalid, "a personal data change sets or clears (null) at least one of account_name, mobile, email, contact_name")
	}
	return nil
}

type eraseRequest struct {
	Reason string `json:"reason"`
}

func (q eraseRequest) check() error { return checkText("reason", q.Reason, 256) }

func (p *personalInput) values() [4]*string {
	return [4]*string{p.AccountName, p.Mobile, p.Email, p.ContactName}
}

func (p *personalInput) check() error {
	n := 0
	for i, v := range p.values() {
		if v == nil {
			continue
		}
		n++
		if _, err := normalizePersonal(domain.PersonalFields[i], *v); err != nil {
			return err
		}
	}
	if n == 0 {
		return errorf(domain.CodeInvalid, "personal names at least one of account_name, mobile, email, contact_name (or is left out)")
	}
	return nil
}

// normalizePersonal checks and normalises one personal field (docs/PERSONAL-DATA.md,
// "Normalisation and bad input"). Its error names the field, never the value.
func normalizePersonal(field, v string) (string, error) {
	name := "personal." + field
	switch field {
	case domain.FieldMobile:
		m, ok := NormalizeMobile(v)
		if !ok {
			return "", errorf(domain.CodeInvalid, "%s must be a phone number in E.164 form: + and 7 to 15 digits, the first not 0 (spaces, -, ., ( and ) are ignored)", name)
		}
		return m, nil
	case domain.FieldEmail:
		e, ok := normalizeEmail(v)
		if !ok {
			return "", errorf(domain.CodeInvalid, "%s must be an e-mail address (local@domain, at most 254 characters)", name)
		}
		return e, nil
	case domain.FieldAccountName:
		t := strings.TrimSpace(v)
		if t == "" || utf8.RuneCountInString(t) > 128 || !printable(t) {
			return "", errorf(domain.CodeInvalid, "%s must be 1 to 128 printable characters", name)
		}
		return t, nil
	case domain.FieldContactName:
		t := strings.TrimSpace(v)
		if t == "" || utf8.RuneCountInString(t) > 256 || !printable(t) {
			return "", errorf(domain.CodeInvalid, "%s must be 1 to 256 printable characters", name)
		}
		return t, nil
	}
	return "", errorf(domain.CodeInvalid, "%s is not a personal field", clip(name))
}

// NormalizeMobile returns v in E.164 form: spaces, '-', '.', '(' and ')' removed, then '+' and 7 to
// 15 digits, the first not 0. It reports false for anything else.
func NormalizeMobile(v string) (string, bool) {
	if len(v) > 64 {
		return "", false
	}
	b := make([]byte, 0, 16)
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		case c == '+' && len(b) == 0:
			b = append(b, c)
		case c >= '0' && c <= '9' && len(b) > 0:
			b = append(b, c)
		default:
			return "", false
		}
	}
	if len(b) < 8 || len(b) > 16 || b[1] == '0' {
		return "", false
	}
	return string(b), true
}

func normalizeEmail(v string) (string, bool) {
	if len(v) > 254 || strings.TrimSpace(v) != v {
		return "", false
	}
	at := strings.LastIndexByte(v, '@')
	if at < 1 || at > 64 || strings.IndexByte(v[:at], '@') >= 0 {
		return "", false
	}
	for _, r := range v[:at] {
		if r <= ' ' || r == 0x7f || r == '"' || r == '(' || r == ')' || r == ',' || r == ';' || r == '<' || r == '>' || r == '[' || r == ']' || r == '\\' {
			return "", false
		}
	}
	domainPart := strings.ToLower(v[at+1:])
	labels := strings.Split(domainPart, ".")
	if len(labels) < 2 {
		return "", false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", false
			}
		}
	}
	return v[:at] + "@" + domainPart, true
}

const erasedPlaceholderKey = "pk_00000000000000000000000000000000"

var errNoPersonal = errorf(domain.CodeUnavailable, "personal data is not available on this server")

// personalLedger returns the write side and the vault, or unavailable.
func (s *Server) personalParts() (PersonalLedger, PersonalVault, error) {
	pl, ok := s.ledger.(PersonalLedger)
	if !ok || s.personal == nil {
		return nil, nil, errNoPersonal
	}
	return pl, s.personal, nil
}

// sealAssociation seals the personal data given at association (nil: none).
func (s *Server) sealAssociation(customerID string, in *personalInput) (*domain.SealedPersonal, error) {
	if in == nil {
		return nil, nil
	}
	if _, _, err := s.personalParts(); err != nil {
		return nil, err
	}
	keyID, err := s.personal.KeyFor(customerID, "")
	if err != nil {
		return nil, s.vaultError(err)
	}
	out := &domain.SealedPersonal{KeyID: keyID}
	for i, v := range in.values() {
		if v == nil {
			continue
		}
		f := domain.PersonalFields[i]
		norm, err := normalizePersonal(f, *v)
		if err != nil {
			return nil, err
		}
		sv, err := s.personal.Seal(keyID, customerID, f, norm)
		if err != nil {
			return nil, s.vaultError(err)
		}
		out.SetField(f, &sv)
	}
	return out, nil
}

// vaultError logs a key store failure (no personal data is in it) and answers unavailable.
func (s *Server) vaultError(err error) error {
	s.log.Error("key store", "error", err)
	return errorf(domain.CodeUnavailable, "the key store cannot serve this request now")
}

// PATCH /v1/customers/{id}/personal
func (s *Server) patchPersonal(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, req, m, err := customerWrite[personalPatchRequest](s, w, r, p)
	if err != nil {
		return err
	}
	pl, vault, err := s.personalParts()
	if err != nil {
		return err
	}
	if _, err := s.visibleCustomer(r.Context(), p, id, projections.AsOf{}); err != nil {
		return err
	}
	cu, _, _, err := pl.Customer(r.Context(), id)
	if err != nil {
		return s.hideCustomer(r.Context(), p, id, err)
	}
	if cu.PersonalErased {
		// No key for an erased customer: the domain's refusal, in its order (rules 2 and 3 first,
		// then the erasure's conflict), decided on a placeholder that seals nothing.
		_, err := pl.ChangePersonalData(r.Context(), domain.ChangePersonalData{Meta: m, CustomerID: id,
			Personal: domain.SealedPersonal{KeyID: erasedPlaceholderKey}, Cleared: []string{domain.FieldMobile}})
		if err == nil {
			err = errorf(domain.CodeConflict, "rule 21: the personal data of customer %q was erased", id)
		}
		return s.hideCustomer(r.Context(), p, id, err)
	}
	keyID, err := vault.KeyFor(id, cu.PersonalKeyID)
	if err != nil {
		return s.vaultError(err)
	}
	cmd := domain.ChangePersonalData{Meta: m, CustomerID: id, Personal: domain.SealedPersonal{KeyID: keyID}}
	for i, f := range req.fields() {
		name := domain.PersonalFields[i]
		switch {
		case !f.set:
		case f.null:
			cmd.Cleared = append(cmd.Cleared, name)
		default:
			norm, err := normalizePersonal(name, f.value)
			if err != nil {
				return err
			}
			sv, err := vault.Seal(keyID, id, name, norm)
			if err != nil {
				return s.vaultError(err)
			}
			cmd.Personal.SetField(name, &sv)
		}
	}
	res, err := pl.ChangePersonalData(r.Context(), cmd)
	if err != nil {
		return s.hideCustomer(r.Context(), p, id, err)
	}
	return s.respondCustomer(w, r, id, res.Position, http.StatusOK)
}

// POST /v1/customers/{id}/erase
func (s *Server) erasePersonal(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, req, m, err := customerWrite[eraseRequest](s, w, r, p)
	if err != nil {
		return err
	}
	pl, vault, err := s.personalParts()
	if err != nil {
		return err
	}
	res, err := pl.ErasePersonalData(r.Context(), domain.ErasePersonalData{Meta: m, CustomerID: id, Reason: req.Reason})
	if err != nil {
		return s.hideCustomer(r.Context(), p, id, err)
	}
	for _, ev := range res.Events {
		if ev.Type != domain.EventCustomerPersonalDataErased {
			continue
		}
		var d domain.CustomerPersonalDataErased
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return err
		}
		if d.KeyID == "" {
			continue
		}
		// The erasure is in the log; a failure here is completed at the next start (serve destroys
		// every erased customer's key before serving).
		if err := vault.Destroy(d.KeyID); err != nil {
			s.log.Error("erasure recorded but its key not yet destroyed (the next start destroys it)", "customer_id", id, "key_id", d.KeyID, "error", err)
			return errorf(domain.CodeUnavailable, "the erasure is recorded; destroying the key failed and is completed at the next start")
		}
	}
	return s.respondCustomer(w, r, id, res.Position, http.StatusOK)
}

// withoutPersonal hides personal data from readers (rule 21: never shown to them).
func withoutPersonal(p Principal, c *projections.CustomerStatus) {
	if p.Role == domain.RoleReader {
		c.Personal = nil
	}
}

// mobileParam and accountNameParam are the search's rule 21 filters, normalised as stored.
func mobileParam(v string, f *projections.SearchFilter) error {
	m, ok := NormalizeMobile(v)
	if !ok {
		return errorf(domain.CodeInvalid, "mobile must be a phone number in E.164 form: + and 7 to 15 digits")
	}
	f.Mobile = m
	return nil
}

func accountNameParam(v string, f *projections.SearchFilter) error {
	n, err := normalizePersonal(domain.FieldAccountName, v)
	if err != nil {
		return errorf(domain.CodeInvalid, "account_name must be 1 to 128 printable characters")
	}
	f.AccountName = n
	return nil
}
