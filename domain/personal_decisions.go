package domain

// The personal-data decisions (rule 21): the sealed form's shape, changing personal fields (the
// customer's manager, one key per customer, nothing after erasure) and erasure (an admin of the
// customer's own partner or the platform, once).

import (
	"slices"
)

// checkSealed checks the shape of sealed personal fields: the key ID, each value's nonce and
// ciphertext sizes. The domain cannot open them; httpapi validated the clear text before sealing.
func checkSealed(p *SealedPersonal) error {
	if !ValidPersonalKeyID(p.KeyID) {
		return Errorf(CodeInvalid, "rule 21: personal data is sealed with a key ID pk_ and 32 hex digits, not %q", truncateString(p.KeyID, 40))
	}
	for _, f := range PersonalFields {
		v := p.Field(f)
		if v == nil {
			continue
		}
		if len(v.Nonce) != SealedNonceSize {
			return Errorf(CodeInvalid, "rule 21: personal.%s: a sealed value has a %d-byte nonce", f, SealedNonceSize)
		}
		if n := len(v.Ciphertext); n < MinSealedCiphertext || n > MaxSealedCiphertext || (n-16)%32 != 0 {
			return Errorf(CodeInvalid, "rule 21: personal.%s: a sealed value's ciphertext is a padded value (a multiple of 32 bytes, 32 to %d) and its tag", f, MaxSealedCiphertext-16)
		}
	}
	return nil
}

func hasSealedField(p *SealedPersonal) bool {
	for _, f := range PersonalFields {
		if p.Field(f) != nil {
			return true
		}
	}
	return false
}

// checkAssociationPersonal checks the personal data given at association (nil: none).
func checkAssociationPersonal(p *SealedPersonal) error {
	if p == nil {
		return nil
	}
	if err := checkSealed(p); err != nil {
		return err
	}
	if !hasSealedField(p) {
		return Errorf(CodeInvalid, "rule 21: personal data names at least one field")
	}
	return nil
}

func (c *Channel) decideChangePersonal(cmd ChangePersonalData) ([]pendingEvent, error) {
	cu, err := c.managedCustomer(cmd.Actor, cmd.CustomerID)
	if err != nil {
		return nil, err
	}
	if err := checkSealed(&cmd.Personal); err != nil {
		return nil, err
	}
	cleared := make([]string, 0, len(cmd.Cleared))
	for _, f := range PersonalFields {
		n := 0
		for _, g := range cmd.Cleared {
			if g == f {
				n++
			}
		}
		switch {
		case n > 1:
			return nil, Errorf(CodeInvalid, "rule 21: personal.%s is cleared twice", f)
		case n == 1 && cmd.Personal.Field(f) != nil:
			return nil, Errorf(CodeInvalid, "rule 21: personal.%s is both set and cleared", f)
		case n == 1:
			cleared = append(cleared, f)
		}
	}
	if len(cleared) != len(cmd.Cleared) {
		for _, g := range cmd.Cleared {
			if !slices.Contains(PersonalFields[:], g) {
				return nil, Errorf(CodeInvalid, "rule 21: %q is not a personal field", truncateString(g, 40))
			}
		}
	}
	if len(cleared) == 0 && !hasSealedField(&cmd.Personal) {
		return nil, Errorf(CodeInvalid, "rule 21: a change of personal data sets or clears at least one field")
	}
	if cu.PersonalErased {
		return nil, Errorf(CodeConflict, "rule 21: the personal data of customer %q was erased; it cannot be set again", cmd.CustomerID)
	}
	if cu.PersonalKeyID != "" && cu.PersonalKeyID != cmd.Personal.KeyID {
		return nil, Errorf(CodeConflict, "rule 21: the personal data of customer %q is sealed with key %s, not %s", cmd.CustomerID, cu.PersonalKeyID, cmd.Personal.KeyID)
	}
	if len(cleared) == 0 {
		cleared = nil
	}
	return []pendingEvent{{EventCustomerPersonalDataChanged, &CustomerPersonalDataChanged{
		CustomerID: cmd.CustomerID, Personal: cmd.Personal, Cleared: cleared,
	}}}, nil
}

func (c *Channel) decideErasePersonal(cmd ErasePersonalData) ([]pendingEvent, error) {
	a := cmd.Actor
	if err := checkWriter(a); err != nil {
		return nil, err
	}
	if err := checkID("customer_id", cmd.CustomerID); err != nil {
		return nil, err
	}
	cu := c.customers[cmd.CustomerID]
	if cu == nil || cu.Disassociated || (a.Role == RolePartner && cu.PartnerID != a.PartnerID && cu.DistributorID != a.PartnerID) {
		return nil, Errorf(CodeNotFound, "customer %q not found", cmd.CustomerID)
	}
	if a.Role == RolePartner {
		if _, err := c.actingPartner(a); err != nil {
			return nil, err
		}
		if cu.PartnerID != a.PartnerID {
			return nil, Errorf(CodeForbidden, "rule 21: personal data is erased by an admin of the customer's own partner %q or by the platform, not by %q", cu.PartnerID, a.PartnerID)
		}
		if !cmd.Admin {
			return nil, Errorf(CodeForbidden, "rule 21: only an admin of partner %q may erase personal data", a.PartnerID)
		}
	}
	reason, err := cleanReason(cmd.Reason)
	if err != nil {
		return nil, err
	}
	if cu.PersonalErased {
		return nil, Errorf(CodeConflict, "rule 21: the personal data of customer %q is already erased", cmd.CustomerID)
	}
	return []pendingEvent{{EventCustomerPersonalDataErased, &CustomerPersonalDataErased{
		CustomerID: cmd.CustomerID, KeyID: cu.PersonalKeyID, Reason: reason,
	}}}, nil
}
