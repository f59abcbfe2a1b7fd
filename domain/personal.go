package domain

// Personal data (rule 21, docs/PERSONAL-DATA.md): the sealed form the domain records. The domain
// never sees clear text: the caller (httpapi) validates, normalises and seals each field with the
// customer's data key before the command; the domain checks the sealed form's shape and the rules,
// and records ciphertexts and the key's ID, never the key.

// The personal fields, as named in events, the API and the additional data of their seals.
const (
	FieldAccountName = "account_name"
	FieldMobile      = "mobile"
	FieldEmail       = "email"
	FieldContactName = "contact_name"
)

// PersonalFields lists the personal fields in their canonical order.
var PersonalFields = [...]string{FieldAccountName, FieldMobile, FieldEmail, FieldContactName}

// Bounds of a sealed value: a 12-byte AES-GCM nonce, a ciphertext of a padded value (a multiple of
// 32 bytes, at least one block) and the 16-byte tag. MaxSealedCiphertext allows a value of 1024
// bytes (256 four-byte characters) and its padding.
const (
	SealedNonceSize     = 12
	MinSealedCiphertext = 32 + 16
	MaxSealedCiphertext = 1024 + 32 + 16
)

// SealedValue is one sealed personal field: base64 in JSON.
type SealedValue struct {
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// SealedPersonal is a customer's personal fields as sealed with its data key KeyID; a nil field is
// absent (at association) or unchanged (in a change).
type SealedPersonal struct {
	KeyID       string       `json:"key_id"`
	AccountName *SealedValue `json:"account_name,omitempty"`
	Mobile      *SealedValue `json:"mobile,omitempty"`
	Email       *SealedValue `json:"email,omitempty"`
	ContactName *SealedValue `json:"contact_name,omitempty"`
}

// Field returns the sealed value of field name (nil if absent or the name unknown).
func (p *SealedPersonal) Field(name string) *SealedValue {
	switch name {
	case FieldAccountName:
		return p.AccountName
	case FieldMobile:
		return p.Mobile
	case FieldEmail:
		return p.Email
	case FieldContactName:
		return p.ContactName
	}
	return nil
}

// SetField sets the sealed value of field name; it reports false for an unknown name.
func (p *SealedPersonal) SetField(name string, v *SealedValue) bool {
	switch name {
	case FieldAccountName:
		p.AccountName = v
	case FieldMobile:
		p.Mobile = v
	case FieldEmail:
		p.Email = v
	case FieldContactName:
		p.ContactName = v
	default:
		return false
	}
	return true
}

// ValidPersonalKeyID reports whether id has the form of a data key ID: "pk_" and 32 lower-case hex
// digits (16 random bytes).
func ValidPersonalKeyID(id string) bool {
	if len(id) != 35 || id[:3] != "pk_" {
		return false
	}
	for i := 3; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// CustomerPersonalDataChanged: the customer's manager set (Personal's non-nil fields, sealed with
// Personal.KeyID) or cleared (Cleared, canonical field order) personal fields (rule 21).
type CustomerPersonalDataChanged struct {
	CustomerID string         `json:"customer_id"`
	Personal   SealedPersonal `json:"personal"`
	Cleared    []string       `json:"cleared,omitempty"`
}

// CustomerPersonalDataErased: the customer's personal data was erased (rule 21): KeyID ("" if it
// never had personal data) is destroyed in the key store right after this event is appended.
type CustomerPersonalDataErased struct {
	CustomerID string `json:"customer_id"`
	KeyID      string `json:"key_id,omitempty"`
	Reason     string `json:"reason"`
}

// ChangePersonalData sets and clears personal fields of a customer (rule 21; its manager, rule 2).
type ChangePersonalData struct {
	Meta
	CustomerID string
	Personal   SealedPersonal
	Cleared    []string
}

// ErasePersonalData erases a customer's personal data (rule 21): an admin of its own partner
// (Meta.Admin) or the platform, with a reason.
type ErasePersonalData struct {
	Meta
	CustomerID string
	Reason     string
}
