package main

// The demo's part of rules 19 and 20: sp-east's admin enrols a TOTP secret and switches
// verification codes on for sp-east (its secret goes into demo-tokens.txt, so a newcomer can make
// codes), dist-north gets an admin, and a customer of sp-east has asked to end its association
// (pending, answered by sp-east's admin or lapsing after 7 days).

import (
	"fmt"
	"strings"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi"
	"github.com/freezeledger/freezeledger/httpapi/verification"
)

// demoPhase2Principals are the demo's partner admins and customer principals, with what each is for.
var demoPhase2Principals = []struct {
	p    httpapi.Principal
	note string
}{
	{httpapi.Principal{Name: "admin-sp-east", Role: domain.RolePartner, PartnerID: "sp-east", Admin: true},
		"sp-east's admin: verification codes are ON for sp-east (rule 19): critical operations need X-Verification-Code, a code of TOTP_SECRET_ADMIN_SP_EAST"},
	{httpapi.Principal{Name: "admin-dist-north", Role: domain.RolePartner, PartnerID: "dist-north", Admin: true},
		"dist-north's admin: may switch verification codes on, disassociate dist-north's customers and erase their personal data (rules 19 to 21)"},
	{httpapi.Principal{Name: "customer-sp-011", Role: domain.RoleCustomer, CustomerID: "cust-sp-011"},
		"the customer cust-sp-011 itself: sees only itself; its disassociation request is pending (rule 20)"},
	{httpapi.Principal{Name: "customer-dn-001", Role: domain.RoleCustomer, CustomerID: "cust-dn-001"},
		"the customer cust-dn-001 itself: \"why can't I buy?\" (GET .../operations/purchase)"},
}

// demoVerification enrols admin-sp-east in the data directory's TOTP store, switches verification on
// for sp-east, and files cust-sp-011's disassociation request. It returns the TOTP secret.
func (d *demoRun) demoVerification(clock *demoClock, start time.Time, dir string) (string, error) {
	clock.set(start.Add(29*24*time.Hour + 12*time.Hour))
	store, err := verification.Open(VerificationDir(dir), verification.Options{Now: clock.Now})
	if err != nil {
		return "", err
	}
	defer store.Close()
	e, err := store.Enrol("admin-sp-east", "")
	if err != nil {
		return "", err
	}
	code, err := verification.Code(e.Secret, verification.Step(clock.Now()))
	if err != nil {
		return "", err
	}
	if err := store.Confirm("admin-sp-east", code); err != nil {
		return "", err
	}
	clock.set(clock.Now().Add(verification.Period))
	if code, err = verification.Code(e.Secret, verification.Step(clock.Now())); err != nil {
		return "", err
	}
	if err := store.Verify("admin-sp-east", code); err != nil {
		return "", err
	}
	m := d.meta("ops-sp-east")
	m.Actor.Name, m.Admin, m.Verified = "admin-sp-east", true, true
	_, err = d.svc.SetVerification(d.ctx, domain.SetVerification{Meta: m, PartnerID: "sp-east", Enabled: true})
	d.check("switch verification on for sp-east", err)
	// Rule 19: sp-east's operator now needs a code.
	_, err = d.svc.FreezeCustomer(d.ctx, domain.FreezeCustomer{Meta: d.meta("ops-sp-east"), CustomerID: "cust-sp-012", Reason: "no code", FreezeType: domain.FreezeAccount})
	d.refuse("unverified freeze while verification is on", domain.CodeVerificationRequired, err)
	// Rule 20: the customer asks to leave; pending for 7 days.
	cm := domain.Meta{Actor: domain.Actor{Name: "customer-sp-011", Role: domain.RoleCustomer}, CustomerID: "cust-sp-011", RequestID: fmt.Sprintf("demo-%d", d.n+1)}
	d.n++
	_, err = d.svc.RequestDisassociation(d.ctx, domain.RequestDisassociation{Meta: cm, CustomerID: "cust-sp-011", Reason: "moving to another partner"})
	d.check("cust-sp-011 requests a disassociation", err)
	return e.Secret, d.err
}

// demoPhase2Tokens adds the phase-2 principals to dir's principals file and returns their lines of
// demo-tokens.txt, and the TOTP secret's.
func demoPhase2Tokens(dir, secret string) (string, error) {
	var b strings.Builder
	for _, x := range demoPhase2Principals {
		token, err := httpapi.CreatePrincipalFull(PrincipalsFile(dir), x.p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "# %s (role %s%s): %s\n%s=%s\n", x.p.Name, x.p.Role, partnerNote(x.p.PartnerID), x.note, envName(x.p.Name), token)
	}
	fmt.Fprintf(&b, "# admin-sp-east's TOTP secret (RFC 6238, 6 digits, 30 s, SHA-1): add it to an authenticator app, or\n")
	fmt.Fprintf(&b, "# oathtool --totp -b \"$TOTP_SECRET_ADMIN_SP_EAST\"; send the code as X-Verification-Code (each code once)\n")
	fmt.Fprintf(&b, "TOTP_SECRET_ADMIN_SP_EAST=%s\n", secret)
	return b.String(), nil
}
