package projections

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/internal/keystore"
)

func openModelsWithKeys(t *testing.T, store eventstore.Store, dir string, keys PersonalKeys) (*ReadModels, error) {
	t.Helper()
	m, err := Open(store, dir, Options{PersonalKeys: keys})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		m.Close()
	})
	return m, nil
}

func sealAll(t *testing.T, ks *keystore.Store, customer string, fields map[string]string) *domain.SealedPersonal {
	t.Helper()
	id, err := ks.KeyFor(customer, "")
	if err != nil {
		t.Fatal(err)
	}
	p := &domain.SealedPersonal{KeyID: id}
	for f, v := range fields {
		sv, err := ks.Seal(id, customer, f, v)
		if err != nil {
			t.Fatal(err)
		}
		p.SetField(f, &sv)
	}
	return p
}

// TestRule21_ReadModelsShowSearchAndForgetPersonalData: clear text in memory only, the blind index
// finds exact (normalised) values, the checkpoint holds ciphertext, erasure drops everything.
func TestRule21_ReadModelsShowSearchAndForgetPersonalData(t *testing.T) {
	l := newLedger(t)
	ks, err := keystore.Create(filepath.Join(t.TempDir(), "personal.keys"), keystore.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	l.associate("c-plain", "dist-1", "", nil, "")
	const mobile, login = "+4915112345678", "Ann.Login"
	p := sealAll(t, ks, "c-1", map[string]string{domain.FieldMobile: mobile, domain.FieldAccountName: login, domain.FieldEmail: "ann@example.com"})
	l.append(domain.CustomerReservationStreamPrefix+"c-1", opsOf("dist-1"), ev{domain.EventIDReserved, domain.IDReserved{Kind: "customer", ID: "c-1", Channel: l.channel("dist-1")}})
	l.append(l.channel("dist-1"), opsOf("dist-1"),
		ev{domain.EventCustomerAssociated, domain.CustomerAssociated{CustomerID: "c-1", Name: "Customer c-1", PartnerID: "dist-1", Personal: p}},
		ev{domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: "c-1", FreezeType: domain.FreezeAccount, Origin: domain.OriginAssociation, Reason: "new customer"}})
	contact, _ := ks.Seal(p.KeyID, "c-1", domain.FieldContactName, "Ann Example")
	pos := l.append(l.channel("dist-1"), opsOf("dist-1"), ev{domain.EventCustomerPersonalDataChanged, domain.CustomerPersonalDataChanged{
		CustomerID: "c-1", Personal: domain.SealedPersonal{KeyID: p.KeyID, ContactName: &contact}, Cleared: []string{domain.FieldEmail}}})

	dir := t.TempDir()
	m, err := openModelsWithKeys(t, l.store, dir, ks)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, pos)
	check := func(m *ReadModels) {
		t.Helper()
		st, err := m.Status("c-1", AsOf{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Personal == nil || st.Personal.Mobile == nil || *st.Personal.Mobile != mobile || *st.Personal.AccountName != login ||
			st.Personal.Email != nil || st.Personal.ContactName == nil || *st.Personal.ContactName != "Ann Example" || st.PersonalDataErased {
			t.Fatalf("status personal = %+v, erased %v", st.Personal, st.PersonalDataErased)
		}
		if plain, _ := m.Status("c-plain", AsOf{}); plain.Personal != nil || plain.PersonalDataErased {
			t.Errorf("a customer without personal data shows %+v", plain.Personal)
		}
		for _, f := range []SearchFilter{{Mobile: mobile}, {AccountName: "ann.login"}, {AccountName: login, Mobile: mobile}} {
			got, _, err := m.SearchCustomers(f)
			if err != nil || len(got) != 1 || got[0].CustomerID != "c-1" {
				t.Errorf("search %+v = %v, %v", f, got, err)
			}
		}
		for _, f := range []SearchFilter{{Mobile: "+4915112345679"}, {AccountName: "ann"}, {Mobile: login}} {
			if got, _, _ := m.SearchCustomers(f); len(got) != 0 {
				t.Errorf("search %+v finds %d", f, len(got))
			}
		}
	}
	check(m)
	if err := m.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{mobile, login, "ann.login", "Ann Example", "ann@example.com"} {
		if bytes.Contains(b, []byte(clear)) {
			t.Errorf("the checkpoint holds %q in clear text", clear)
		}
	}
	m.Close()
	m2, err := openModelsWithKeys(t, l.store, dir, ks)
	if err != nil {
		t.Fatal(err)
	}
	check(m2) // from the checkpoint, reopened with the keys

	pos = l.append(l.channel("dist-1"), platform, ev{domain.EventCustomerPersonalDataErased, domain.CustomerPersonalDataErased{CustomerID: "c-1", KeyID: p.KeyID, Reason: "erasure request"}})
	waitFor(t, m2, pos)
	st, _ := m2.Status("c-1", AsOf{})
	if st.Personal != nil || !st.PersonalDataErased || st.State != domain.StateFrozen {
		t.Fatalf("after erasure: personal %+v, erased %v, state %s", st.Personal, st.PersonalDataErased, st.State)
	}
	if got, _, _ := m2.SearchCustomers(SearchFilter{Mobile: mobile}); len(got) != 0 {
		t.Error("the erased mobile is still found")
	}
	if ids := m2.ErasedKeyIDs(); len(ids) != 1 || ids[0] != p.KeyID {
		t.Errorf("ErasedKeyIDs = %v", ids)
	}
	if len(m2.st.pers.index) != 0 {
		t.Errorf("the blind index keeps %d entries after the only customer's erasure", len(m2.st.pers.index))
	}
}

// TestRule21_UnknownKeyRefusesTheCheckpoint: a checkpoint with sealed values whose key the key
// store does not know (a missing or replaced key store) is not served.
func TestRule21_UnknownKeyRefusesTheCheckpoint(t *testing.T) {
	l := newLedger(t)
	ks, _ := keystore.Create(filepath.Join(t.TempDir(), "personal.keys"), keystore.NewMasterKey())
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	p := sealAll(t, ks, "c-1", map[string]string{domain.FieldMobile: "+14155550100"})
	l.append(domain.CustomerReservationStreamPrefix+"c-1", opsOf("dist-1"), ev{domain.EventIDReserved, domain.IDReserved{Kind: "customer", ID: "c-1", Channel: l.channel("dist-1")}})
	pos := l.append(l.channel("dist-1"), opsOf("dist-1"),
		ev{domain.EventCustomerAssociated, domain.CustomerAssociated{CustomerID: "c-1", Name: "C", PartnerID: "dist-1", Personal: p}},
		ev{domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: "c-1", FreezeType: domain.FreezeAccount, Origin: domain.OriginAssociation, Reason: "new customer"}})
	dir := t.TempDir()
	m, err := openModelsWithKeys(t, l.store, dir, ks)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, pos)
	if err := m.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	m.Close()
	other, _ := keystore.Create(filepath.Join(t.TempDir(), "personal.keys"), keystore.NewMasterKey())
	if _, err := Open(l.store, dir, Options{PersonalKeys: other}); !errors.Is(err, ErrPersonalKeyMissing) {
		t.Fatalf("Open with another key store: %v", err)
	}
	if has, err := LogHasPersonalData(context.Background(), l.store); err != nil || !has {
		t.Errorf("LogHasPersonalData = %v, %v", has, err)
	}
}
