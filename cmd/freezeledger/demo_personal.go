package main

// The demo's part of rule 21 (docs/PERSONAL-DATA.md): a few of dist-north's customers are
// associated with personal data, sealed with their data keys as the API seals it, and one of them
// has had its personal data erased by dist-north's admin (its key destroyed). The values are
// fictitious: phone numbers of the ranges kept for drama (+44 7700 900xxx, +1 202 555-01xx), addresses
// of example.com and example.org.

import (
	"encoding/json"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/internal/keystore"
)

// demoPerson is a customer's personal data, in normalised form (as the API stores it).
type demoPerson struct {
	accountName, mobile, email, contactName string
}

// demoPersonal are the demo customers with personal data. The quickstart searches for
// cust-dn-002's mobile and erases cust-dn-003's data; demoErased is erased by the demo itself.
var demoPersonal = map[string]demoPerson{
	"cust-dn-001": {"globex.buyer", "+447700900001", "buyer@globex.example.com", "Lina Berger"},
	"cust-dn-002": {"initech.admin", "+447700900002", "it@initech.example.com", "Tomás Rivera"},
	"cust-dn-003": {"umbrella.ops", "+12025550103", "ops@umbrella.example.org", "Mei Tanaka"},
	"cust-dn-004": {"hooli.cloud", "+12025550104", "cloud@hooli.example.org", "Sam Okafor"},
	"cust-dn-005": {"stark.finance", "+447700900005", "finance@stark.example.com", "Ana Kowalska"},
	"cust-dn-006": {"wayne.it", "+447700900006", "it@wayne.example.com", "Jonas Lind"},
}

// demoErased is the demo customer whose personal data the demo erases.
const demoErased = "cust-dn-004"

// sealDemoPersonal seals id's demo personal data with a fresh data key; nil for a customer without.
func (d *demoRun) sealDemoPersonal(id string) *domain.SealedPersonal {
	p, ok := demoPersonal[id]
	if !ok || d.keys == nil {
		return nil
	}
	keyID, err := d.keys.KeyFor(id, "")
	if err != nil {
		d.check("key for "+id, err)
		return nil
	}
	out := &domain.SealedPersonal{KeyID: keyID}
	for i, v := range [4]string{p.accountName, p.mobile, p.email, p.contactName} {
		f := domain.PersonalFields[i]
		sv, err := d.keys.Seal(keyID, id, f, v)
		if err != nil {
			d.check("seal "+f+" of "+id, err)
			return nil
		}
		out.SetField(f, &sv)
	}
	return out
}

// erasePersonal erases a customer's personal data as POST /v1/customers/{id}/erase does: the
// erasure event by dist-north's admin, then the key destroyed.
func (d *demoRun) erasePersonal(id, reason string) {
	if d.err != nil {
		return
	}
	m := d.meta("ops-dist-north")
	m.Actor.Name, m.Admin = "admin-dist-north", true
	res, err := d.svc.ErasePersonalData(d.ctx, domain.ErasePersonalData{Meta: m, CustomerID: id, Reason: reason})
	d.check("erase the personal data of "+id, err)
	if err != nil {
		return
	}
	d.check("destroy the key of "+id, destroyErasedKeys(d.keys, res))
}

// destroyErasedKeys destroys the keys that the erasure events of res name.
func destroyErasedKeys(keys *keystore.Store, res domain.Result) error {
	for _, ev := range res.Events {
		if ev.Type != domain.EventCustomerPersonalDataErased {
			continue
		}
		var e domain.CustomerPersonalDataErased
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			return err
		}
		if e.KeyID != "" {
			if err := keys.Destroy(e.KeyID); err != nil {
				return err
			}
		}
	}
	return nil
}
