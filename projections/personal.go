package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

// Personal data (rule 21, docs/PERSONAL-DATA.md). The read models keep, per customer that has or
// had personal data, its sealed values as the log holds them (that is all a checkpoint writes) and
// their clear text, opened once with the key store when an event is applied or a checkpoint loaded;
// and the blind index: the keyed hashes of the normalised mobile and account name, in memory only.
// An erasure drops the customer's clear text, sealed values and index entries.

// PersonalKeys opens sealed personal fields and computes blind-index hashes; the key store
// (internal/keystore) satisfies it. Unseal fails for a destroyed key (after an erasure) and for one
// the store never had; Known tells the two apart (true: live or destroyed).
type PersonalKeys interface {
	Unseal(keyID, customerID, field string, v domain.SealedValue) (string, error)
	BlindIndex(field, normalized string) [32]byte
	Known(keyID string) bool
}

// PersonalData is a customer's personal data in clear text, as reads show it (null fields unset).
// Statuses share it with the read models: callers must not modify it.
type PersonalData struct {
	AccountName *string `json:"account_name"`
	Mobile      *string `json:"mobile"`
	Email       *string `json:"email"`
	ContactName *string `json:"contact_name"`
}

// The indexed fields: positions in personalRec.blind.
const (
	blindMobile = iota
	blindAccountName
	nBlind
)

var blindFields = [nBlind]string{domain.FieldMobile, domain.FieldAccountName}

// BlindIndexValue is the form a value of an indexed field takes before it is hashed: the
// normalised mobile as is, the account name lower-cased (the search is exact after that).
func BlindIndexValue(field, normalized string) string {
	if field == domain.FieldAccountName {
		return strings.ToLower(normalized)
	}
	return normalized
}

type personalRec struct {
	keyID   string
	sealed  [len(domain.PersonalFields)]*domain.SealedValue
	clear   *PersonalData
	erased  bool
	blind   [nBlind][32]byte
	indexed [nBlind]bool
}

type personalModel struct {
	recs  map[uint32]*personalRec
	index map[[32]byte][]uint32 // blind hash -> customers, ascending
}

// ErrPersonalKeyMissing: a sealed value names a key the key store does not know (neither live nor
// destroyed): a missing, replaced or stale key store.
var ErrPersonalKeyMissing = errors.New("projections: a key the log uses is not in the key store")

func (s *state) personal() *personalModel {
	if s.pers == nil {
		s.pers = &personalModel{recs: map[uint32]*personalRec{}, index: map[[32]byte][]uint32{}}
	}
	return s.pers
}

func (s *state) personalAssociated(ci uint32, raw []byte) error {
	if s.pers != nil {
		if r := s.pers.recs[ci]; r != nil { // a re-association starts without the old data
			s.unindexPersonal(ci, r)
			delete(s.pers.recs, ci)
		}
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var p domain.SealedPersonal
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("personal: %w", err)
	}
	r := &personalRec{keyID: p.KeyID}
	for i, f := range domain.PersonalFields {
		r.sealed[i] = p.Field(f)
	}
	s.personal().recs[ci] = r
	return s.unsealRec(ci, r)
}

// personalEvent applies customer.personal_data_changed and customer.personal_data_erased.
func (s *state) personalEvent(typ string, data []byte, d *decoded) error {
	ci, ok := s.lookupBytes(d.customerID)
	if !ok {
		return fmt.Errorf("unknown customer %q", d.customerID)
	}
	pm := s.personal()
	r := pm.recs[ci]
	if r == nil {
		r = &personalRec{}
		pm.recs[ci] = r
	}
	if typ == domain.EventCustomerPersonalDataErased {
		s.unindexPersonal(ci, r)
		*r = personalRec{keyID: r.keyID, erased: true}
		return nil
	}
	var ev domain.CustomerPersonalDataChanged
	if err := json.Unmarshal(data, &ev); err != nil {
		return fmt.Errorf("personal: %w", err)
	}
	if r.erased {
		return nil // the domain refuses this; apply only never shows what was erased
	}
	r.keyID = ev.Personal.KeyID
	for i, f := range domain.PersonalFields {
		if v := ev.Personal.Field(f); v != nil {
			r.sealed[i] = v
		}
		if slices.Contains(ev.Cleared, f) {
			r.sealed[i] = nil
		}
	}
	return s.unsealRec(ci, r)
}

// unsealRec opens r's sealed values into a fresh PersonalData and re-indexes the customer. A value
// that does not open is shown as absent; an unknown key is ErrPersonalKeyMissing (the rest is still
// applied).
func (s *state) unsealRec(ci uint32, r *personalRec) error {
	s.unindexPersonal(ci, r)
	r.clear = nil
	if s.keys == nil || r.erased {
		return nil
	}
	id := s.cid(&s.customers[ci])
	var p PersonalData
	dst := [...]**string{&p.AccountName, &p.Mobile, &p.Email, &p.ContactName}
	any, missing := false, false
	for i, f := range domain.PersonalFields {
		v := r.sealed[i]
		if v == nil {
			continue
		}
		clear, err := s.keys.Unseal(r.keyID, id, f, *v)
		if err != nil {
			missing = missing || !s.keys.Known(r.keyID)
			continue
		}
		*dst[i] = &clear
		any = true
	}
	if any {
		r.clear = &p
		for b, f := range blindFields {
			var v *string
			if f == domain.FieldMobile {
				v = p.Mobile
			} else {
				v = p.AccountName
			}
			if v != nil {
				r.blind[b], r.indexed[b] = s.keys.BlindIndex(f, BlindIndexValue(f, *v)), true
				s.pers.index[r.blind[b]] = insertSorted(s.pers.index[r.blind[b]], ci)
			}
		}
	}
	if missing {
		return fmt.Errorf("customer %q, key %s: %w", id, r.keyID, ErrPersonalKeyMissing)
	}
	return nil
}

func (s *state) unindexPersonal(ci uint32, r *personalRec) {
	for b := range r.indexed {
		if !r.indexed[b] {
			continue
		}
		h := r.blind[b]
		if l := removeSorted(s.pers.index[h], ci); len(l) == 0 {
			delete(s.pers.index, h)
		} else {
			s.pers.index[h] = l
		}
		r.indexed[b], r.blind[b] = false, [32]byte{}
	}
}

// unsealAll opens every sealed value (after a checkpoint was loaded). The first unknown key is
// returned as an error wrapping ErrPersonalKeyMissing.
func (s *state) unsealAll() error {
	if s.pers == nil {
		return nil
	}
	cis := make([]uint32, 0, len(s.pers.recs))
	for ci := range s.pers.recs {
		cis = append(cis, ci)
	}
	slices.Sort(cis)
	var first error
	for _, ci := range cis {
		if err := s.unsealRec(ci, s.pers.recs[ci]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// statusPersonal fills the status's personal fields.
func (s *state) statusPersonal(st *CustomerStatus, ci uint32) {
	if s.pers == nil {
		return
	}
	if r := s.pers.recs[ci]; r != nil {
		st.Personal, st.PersonalDataErased = r.clear, r.erased
	}
}

// erasedKeys lists the key IDs of erased customers, sorted.
func (s *state) erasedKeys() []string {
	if s.pers == nil {
		return nil
	}
	var out []string
	for _, r := range s.pers.recs {
		if r.erased && r.keyID != "" {
			out = append(out, r.keyID)
		}
	}
	sort.Strings(out)
	return out
}

// ErasedKeyIDs lists the data keys of every erased customer (rule 21): the keys the key store must
// not hold. serve destroys them at start, which completes an erasure cut short between its event and
// the key's destruction.
func (m *ReadModels) ErasedKeyIDs() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.st.erasedKeys()
}

// encodePersonal writes the sealed values and erasures (never clear text, never the index).
func encodePersonal(e *encoder, s *state) {
	if s.pers == nil {
		e.u(0)
		return
	}
	cis := make([]uint32, 0, len(s.pers.recs))
	for ci := range s.pers.recs {
		cis = append(cis, ci)
	}
	slices.Sort(cis)
	e.u(uint64(len(cis)))
	for _, ci := range cis {
		r := s.pers.recs[ci]
		e.u(uint64(ci))
		e.s(r.keyID)
		var flags uint64
		if r.erased {
			flags = 1
		}
		e.u(flags)
		for _, v := range r.sealed {
			if v == nil {
				e.u(0)
				continue
			}
			e.u(1)
			e.b(v.Nonce)
			e.b(v.Ciphertext)
		}
	}
}

func decodePersonal(d *decoder, s *state) {
	n := d.count()
	if n == 0 || d.err != nil {
		return
	}
	pm := s.personal()
	for i := 0; i < n && d.err == nil; i++ {
		ci := d.u32()
		r := &personalRec{keyID: d.s(), erased: d.u() == 1}
		for j := range r.sealed {
			if d.u() == 1 {
				r.sealed[j] = &domain.SealedValue{Nonce: slices.Clone(d.bytes()), Ciphertext: slices.Clone(d.bytes())}
			}
		}
		if int(ci) >= len(s.customers) {
			d.err = errors.New("personal data of an unknown customer")
			return
		}
		pm.recs[ci] = r
	}
}

// LogHasPersonalData reports whether store holds any personal-data event (rule 21): what serve asks
// before it creates a key store that is missing, since a log with sealed values needs the keys that
// sealed them. It reads the whole log.
func LogHasPersonalData(ctx context.Context, store eventstore.Store) (bool, error) {
	after := eventstore.Start
	for {
		evs, err := store.ReadAll(ctx, after, 4096)
		if err != nil {
			return false, err
		}
		if len(evs) == 0 {
			return false, nil
		}
		for i := range evs {
			switch evs[i].Type {
			case domain.EventCustomerPersonalDataChanged, domain.EventCustomerPersonalDataErased:
				return true, nil
			case domain.EventCustomerAssociated:
				if strings.Contains(string(evs[i].Data), `"personal":{`) {
					return true, nil
				}
			}
		}
		after = evs[len(evs)-1].Position
	}
}
