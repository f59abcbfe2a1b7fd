package domain_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
)

// Rule 21 (personal data): the domain records sealed values and key IDs only, checks their shape,
// and decides who sets, changes and erases them.

const testKeyID = "pk_0123456789abcdef0123456789abcdef"

// sealed is a well-formed sealed value whose bytes name what it stands for (the domain cannot and
// does not open it).
func sealed(tag string) *domain.SealedValue {
	ct := bytes.Repeat([]byte{0}, 48)
	copy(ct, tag)
	return &domain.SealedValue{Nonce: bytes.Repeat([]byte{1}, 12), Ciphertext: ct}
}

func assocPersonal(a domain.Actor, customer, partner string, p *domain.SealedPersonal) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.AssociateCustomer(ctx, domain.AssociateCustomer{Meta: meta(a), CustomerID: customer, Name: "Customer " + customer, PartnerID: partner, Personal: p})
	}
}

func changePersonal(a domain.Actor, customer string, p domain.SealedPersonal, cleared ...string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.ChangePersonalData(ctx, domain.ChangePersonalData{Meta: meta(a), CustomerID: customer, Personal: p, Cleared: cleared})
	}
}

func erase(a domain.Actor, isAdmin bool, customer string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		m := meta(a)
		m.Admin = isAdmin
		return s.ErasePersonalData(ctx, domain.ErasePersonalData{Meta: m, CustomerID: customer, Reason: "right to erasure request #7"})
	}
}

func withMobile() *domain.SealedPersonal {
	return &domain.SealedPersonal{KeyID: testKeyID, Mobile: sealed("mobile"), AccountName: sealed("login")}
}

func TestRule21_PersonalDataIsSealedAndChecked(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{
			name: "association carries sealed fields and the key ID in its event",
			when: assocPersonal(op("dist-1"), "c-p", "dist-1", withMobile()),
			then: []string{domain.EventIDReserved, domain.EventCustomerAssociated, domain.EventCustomerFrozen},
			check: func(f *fixture, res domain.Result) {
				d := decode[domain.CustomerAssociated](t, res.Events[0])
				if d.Personal == nil || d.Personal.KeyID != testKeyID || !bytes.Equal(d.Personal.Mobile.Ciphertext, sealed("mobile").Ciphertext) {
					t.Errorf("associated.personal = %+v", d.Personal)
				}
				if cu := f.customer("c-p"); cu.PersonalKeyID != testKeyID || cu.PersonalErased {
					t.Errorf("customer state %+v", cu)
				}
			},
		},
		{
			name: "a malformed key ID is refused",
			when: assocPersonal(op("dist-1"), "c-p", "dist-1", &domain.SealedPersonal{KeyID: "k1", Mobile: sealed("m")}),
			code: domain.CodeInvalid, rule: "rule 21",
		},
		{
			name: "a short nonce is refused, naming the field",
			when: assocPersonal(op("dist-1"), "c-p", "dist-1", &domain.SealedPersonal{KeyID: testKeyID, Email: &domain.SealedValue{Nonce: []byte{1}, Ciphertext: sealed("e").Ciphertext}}),
			code: domain.CodeInvalid, rule: "personal.email",
		},
		{
			name: "an oversized ciphertext is refused",
			when: assocPersonal(op("dist-1"), "c-p", "dist-1", &domain.SealedPersonal{KeyID: testKeyID, ContactName: &domain.SealedValue{Nonce: make([]byte, 12), Ciphertext: make([]byte, domain.MaxSealedCiphertext+32)}}),
			code: domain.CodeInvalid, rule: "personal.contact_name",
		},
		{
			name: "personal data with no field is refused",
			when: assocPersonal(op("dist-1"), "c-p", "dist-1", &domain.SealedPersonal{KeyID: testKeyID}),
			code: domain.CodeInvalid, rule: "rule 21",
		},
		{
			name:  "the manager changes and clears fields",
			given: []cmd{assocPersonal(op("dist-1"), "c-p", "dist-1", withMobile())},
			when:  changePersonal(op("dist-1"), "c-p", domain.SealedPersonal{KeyID: testKeyID, Email: sealed("email")}, domain.FieldMobile),
			then:  []string{domain.EventCustomerPersonalDataChanged},
			check: func(f *fixture, res domain.Result) {
				d := decode[domain.CustomerPersonalDataChanged](t, res.Events[0])
				if d.Personal.Email == nil || d.Personal.Mobile != nil || fmt.Sprint(d.Cleared) != "[mobile]" {
					t.Errorf("changed = %+v", d)
				}
			},
		},
		{
			name: "a first change gives a customer without personal data its key",
			when: changePersonal(op("dist-1"), "c-d", domain.SealedPersonal{KeyID: testKeyID, Email: sealed("email")}),
			then: []string{domain.EventCustomerPersonalDataChanged},
			check: func(f *fixture, _ domain.Result) {
				if cu := f.customer("c-d"); cu.PersonalKeyID != testKeyID {
					t.Errorf("key ID %q", cu.PersonalKeyID)
				}
			},
		},
		{
			name:  "another key for the same customer is a conflict",
			given: []cmd{assocPersonal(op("dist-1"), "c-p", "dist-1", withMobile())},
			when:  changePersonal(op("dist-1"), "c-p", domain.SealedPersonal{KeyID: "pk_ffffffffffffffffffffffffffffffff", Email: sealed("email")}),
			code:  domain.CodeConflict, rule: "rule 21",
		},
		{
			name:  "a field both set and cleared is refused",
			given: []cmd{assocPersonal(op("dist-1"), "c-p", "dist-1", withMobile())},
			when:  changePersonal(op("dist-1"), "c-p", domain.SealedPersonal{KeyID: testKeyID, Mobile: sealed("m2")}, domain.FieldMobile),
			code:  domain.CodeInvalid, rule: "personal.mobile",
		},
		{
			name:  "an unknown field name is refused",
			given: []cmd{assocPersonal(op("dist-1"), "c-p", "dist-1", withMobile())},
			when:  changePersonal(op("dist-1"), "c-p", domain.SealedPersonal{KeyID: testKeyID}, "ssn"),
			code:  domain.CodeInvalid, rule: "rule 21",
		},
		{
			name:  "an empty change is refused",
			given: []cmd{assocPersonal(op("dist-1"), "c-p", "dist-1", withMobile())},
			when:  changePersonal(op("dist-1"), "c-p", domain.SealedPersonal{KeyID: testKeyID}),
			code:  domain.CodeInvalid, rule: "rule 21",
		},
		{
			name: "only the manager changes personal data (rule 2)",
			when: changePersonal(op("res-1"), "c-r1", domain.SealedPersonal{KeyID: testKeyID, Email: sealed("email")}),
			code: domain.CodeForbidden, rule: "rule 2",
		},
		{
			name:  "a frozen partner cannot change personal data (rule 3)",
			given: []cmd{freezeP(platform, "dist-1")},
			when:  changePersonal(op("dist-1"), "c-d", domain.SealedPersonal{KeyID: testKeyID, Email: sealed("email")}),
			code:  domain.CodeActorFrozen, rule: "rule 3",
		},
	})
}

func TestRule21_Erasure(t *testing.T) {
	withData := []cmd{assocPersonal(op("res-1"), "c-p", "res-1", withMobile())}
	runRuleCases(t, []ruleCase{
		{
			name:  "an admin of the customer's own partner erases: the event names the key, never holds it",
			given: withData,
			when:  erase(admin("res-1"), true, "c-p"),
			then:  []string{domain.EventCustomerPersonalDataErased},
			check: func(f *fixture, res domain.Result) {
				d := decode[domain.CustomerPersonalDataErased](t, res.Events[0])
				if d.KeyID != testKeyID || d.Reason != "right to erasure request #7" {
					t.Errorf("erased = %+v", d)
				}
				if !metaOf(t, res.Events[0]).ActorAdmin {
					t.Error("metadata.actor_admin is not recorded")
				}
				if cu := f.customer("c-p"); !cu.PersonalErased {
					t.Errorf("customer state %+v", cu)
				}
			},
		},
		{
			name:  "the platform erases",
			given: withData,
			when:  erase(platform, false, "c-p"),
			then:  []string{domain.EventCustomerPersonalDataErased},
		},
		{
			name: "a customer without personal data can be erased (nothing to destroy)",
			when: erase(platform, false, "c-d"),
			then: []string{domain.EventCustomerPersonalDataErased},
			check: func(_ *fixture, res domain.Result) {
				if d := decode[domain.CustomerPersonalDataErased](t, res.Events[0]); d.KeyID != "" {
					t.Errorf("key ID %q", d.KeyID)
				}
			},
		},
		{
			name:  "erasing twice is a conflict",
			given: append(withData, erase(platform, false, "c-p")),
			when:  erase(admin("res-1"), true, "c-p"),
			code:  domain.CodeConflict, rule: "rule 21",
		},
		{
			name:  "a partner operator who is not an admin is refused",
			given: withData,
			when:  erase(op("res-1"), false, "c-p"),
			code:  domain.CodeForbidden, rule: "rule 21",
		},
		{
			name:  "the distributor's admin sees the customer but is not its partner",
			given: withData,
			when:  erase(admin("dist-1"), true, "c-p"),
			code:  domain.CodeForbidden, rule: "rule 21",
		},
		{
			name:  "another channel's admin does not see the customer",
			given: withData,
			when:  erase(admin("dist-2"), true, "c-p"),
			code:  domain.CodeNotFound,
		},
		{
			name:  "a frozen partner's admin cannot erase (rule 3)",
			given: append(withData, freezeP(platform, "res-1")),
			when:  erase(admin("res-1"), true, "c-p"),
			code:  domain.CodeActorFrozen, rule: "rule 3",
		},
		{
			name:  "a reason is required (rule 4)",
			given: withData,
			when: func(ctx context.Context, s *domain.Service) (domain.Result, error) {
				return s.ErasePersonalData(ctx, domain.ErasePersonalData{Meta: meta(platform), CustomerID: "c-p", Reason: "  "})
			},
			code: domain.CodeInvalid, rule: "rule 4",
		},
		{
			name:  "personal data cannot be set again after erasure",
			given: append(withData, erase(platform, false, "c-p")),
			when:  changePersonal(op("dist-1"), "c-p", domain.SealedPersonal{KeyID: testKeyID, Email: sealed("email")}),
			code:  domain.CodeConflict, rule: "rule 21",
		},
		{
			name:  "an erased customer can still be frozen and unfrozen",
			given: append(withData, erase(platform, false, "c-p"), unfreeze(op("dist-1"), "c-p", acct)),
			when:  freeze(op("dist-1"), "c-p", anr),
			then:  []string{domain.EventCustomerFrozen},
		},
	})
}

// TestRule21_ValidatorReplaysPersonalEvents: the history validator re-decides rule 21 from the
// events alone (no key), and refuses an erasure recorded for a non-admin.
func TestRule21_ValidatorReplaysPersonalEvents(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(assocPersonal(op("res-1"), "c-p", "res-1", withMobile()),
		changePersonal(op("dist-1"), "c-p", domain.SealedPersonal{KeyID: testKeyID, Email: sealed("e")}, domain.FieldMobile),
		erase(admin("res-1"), true, "c-p"))
	f.validate()

	evs := f.log.All()
	last := evs[len(evs)-1]
	last.Metadata = bytes.Replace(last.Metadata, []byte(`,"actor_admin":true`), nil, 1)
	evs[len(evs)-1] = last
	err := domain.ValidateHistory(evs, domain.HistoryOptions{Retention: f.opts.Retention})
	var v *domain.Violation
	if !errors.As(err, &v) || v.Rule != "rule 21" {
		t.Fatalf("an erasure by a non-admin passes the validator: %v", err)
	}
}

// TestRule21_ErasureSurvivesRestart: the erased flag is replayed from the log by a new service.
func TestRule21_ErasureSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(assocPersonal(op("res-1"), "c-p", "res-1", withMobile()), erase(platform, false, "c-p"))
	f.restart()
	if cu := f.customer("c-p"); !cu.PersonalErased || cu.PersonalKeyID != testKeyID {
		t.Fatalf("after a restart: %+v", cu)
	}
	_, err := erase(platform, false, "c-p")(f.ctx, f.svc)
	if domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("erasing again after a restart: %v", err)
	}
}
