package httpapi

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/internal/atomicfile"
)

// Principal is one entry of the principals file (docs/HTTP-API.md, "Principals"). Only the SHA-256 of
// the bearer token is stored, never the token.
type Principal struct {
	Name        string      `json:"name"`
	Role        domain.Role `json:"role"`
	PartnerID   string      `json:"partner_id"`
	TokenSHA256 string      `json:"token_sha256"`
	// Admin marks a partner admin (rules 19 to 21): the only partner principal that may switch
	// verification codes on or off and disassociate customers. Only for role partner.
	Admin bool `json:"admin,omitempty"`
	// CustomerID is the customer a principal of role customer is (and the only one it sees).
	CustomerID string `json:"customer_id,omitempty"`
}

// Actor is the domain actor a principal acts as.
func (p Principal) Actor() domain.Actor {
	return domain.Actor{Name: p.Name, Role: p.Role, PartnerID: p.PartnerID}
}

// Validate checks a principal: a name, a known role, a partner ID for partners (and none for the
// platform), a hex SHA-256.
func (p Principal) Validate() error {
	if p.Name == "" || len(p.Name) > 128 || !printable(p.Name) {
		return fmt.Errorf("principal %q: name must be 1 to 128 printable characters", p.Name)
	}
	switch p.Role {
	case domain.RolePlatform:
		if p.PartnerID != "" {
			return fmt.Errorf("principal %q: a platform principal has no partner_id", p.Name)
		}
	case domain.RolePartner:
		if !domain.ValidID(p.PartnerID) {
			return fmt.Errorf("principal %q: a partner principal needs a valid partner_id", p.Name)
		}
	case domain.RoleBilling:
		if p.PartnerID != "" {
			return fmt.Errorf("principal %q: a billing principal has no partner_id", p.Name)
		}
	case domain.RoleAuditor, domain.RoleReader:
		if p.PartnerID != "" && !domain.ValidID(p.PartnerID) {
			return fmt.Errorf("principal %q: partner_id %q is not a valid ID", p.Name, p.PartnerID)
		}
	case domain.RoleCustomer:
		if err := p.validateCustomer(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("principal %q: role %q is not platform, partner, auditor, reader or billing", p.Name, p.Role)
	}
	if err := p.validateAdmin(); err != nil {
		return err
	}
	if b, err := hex.DecodeString(p.TokenSHA256); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("principal %q: token_sha256 must be 64 hex digits", p.Name)
	}
	return nil
}

// Principals is an immutable set of principals that authenticates bearer tokens.
type Principals struct {
	list []Principal
	// byHash maps each principal's token hash to its index in list: a token is found in O(1),
	// whatever the size of the principals file (see Authenticate for why this leaks nothing).
	byHash map[[sha256.Size]byte]int
}

// NewPrincipals validates list and builds the set. Names must be unique, and so must token hashes.
func NewPrincipals(list []Principal) (*Principals, error) {
	ps := &Principals{list: append([]Principal(nil), list...), byHash: make(map[[sha256.Size]byte]int, len(list))}
	names := map[string]bool{}
	for _, p := range list {
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if names[p.Name] {
			return nil, fmt.Errorf("principal name %q appears twice", p.Name)
		}
		names[p.Name] = true
		var h [sha256.Size]byte
		_, _ = hex.Decode(h[:], []byte(p.TokenSHA256))
		if _, dup := ps.byHash[h]; dup {
			return nil, fmt.Errorf("principal %q: token hash used by another principal", p.Name)
		}
		ps.byHash[h] = len(ps.byHash)
	}
	return ps, nil
}

// Len is the number of principals.
func (ps *Principals) Len() int { return len(ps.list) }

// List returns a copy of the principals.
func (ps *Principals) List() []Principal { return append([]Principal(nil), ps.list...) }

// Authenticate returns the principal whose token hash is SHA-256(token): one map lookup keyed by
// that hash, so its cost does not grow with the principals file (it used to compare every stored
// hash: at 10,000 principals that was most of a status read's time).
//
// Timing: the map's key is SHA-256 of the secret, never the secret. How long a lookup takes (the
// map's hash of the key, how far its probe runs, where a key comparison stops) depends only on the
// SHA-256 of the token the caller sent, which the caller knows already, and on the stored hashes.
// So an attacker timing guesses learns at most something about stored hashes near the hashes of
// its guesses (a shared prefix, a shared bucket): finding a token from that means finding a SHA-256
// preimage of a stored hash, as hard as without the timing. docs/API-NOTES.md, "Authentication".
func (ps *Principals) Authenticate(token string) (Principal, bool) {
	if ps == nil || token == "" {
		return Principal{}, false
	}
	sum := sha256.Sum256([]byte(token))
	i, ok := ps.byHash[sum]
	if !ok {
		return Principal{}, false
	}
	return ps.list[i], true
}

// NewToken returns a fresh random bearer token (32 bytes from crypto/rand, base64url without padding)
// and the hex SHA-256 to store.
func NewToken() (token, sha string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("new token: %w", err)
	}
	token = "fl_" + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken is the hex SHA-256 of a token, as stored in the principals file.
func HashToken(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

// LoadPrincipals reads a principals file. A missing file is fs.ErrNotExist (wrapped).
func LoadPrincipals(path string) (*Principals, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("principals file: %w", err)
	}
	var list []Principal
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("principals file %s: %w", path, err)
	}
	ps, err := NewPrincipals(list)
	if err != nil {
		return nil, fmt.Errorf("principals file %s: %w", path, err)
	}
	return ps, nil
}

var principalsFileMu sync.Mutex

// AddPrincipal adds p (with TokenSHA256 set) to the principals file at path, creating it (mode 0600)
// if needed. The file is replaced atomically (atomicfile.WriteFile: a temporary file, fsync, rename,
// fsync of the directory).
func AddPrincipal(path string, p Principal) error {
	principalsFileMu.Lock()
	defer principalsFileMu.Unlock()
	var list []Principal
	if ps, err := LoadPrincipals(path); err == nil {
		list = ps.List()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	list = append(list, p)
	if _, err := NewPrincipals(list); err != nil {
		return err
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("principals file: %w", err)
	}
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("principals file %s: %w", path, err)
	}
	return nil
}

// CreatePrincipal makes a new token for a principal named name, adds the principal to the file at
// path, and returns the token: the only time it is ever seen.
func CreatePrincipal(path, name string, role domain.Role, partnerID string) (string, error) {
	token, sum, err := NewToken()
	if err != nil {
		return "", err
	}
	p := Principal{Name: name, Role: role, PartnerID: partnerID, TokenSHA256: sum}
	if err := p.Validate(); err != nil {
		return "", err
	}
	if err := AddPrincipal(path, p); err != nil {
		return "", err
	}
	return token, nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
