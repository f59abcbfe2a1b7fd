package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
	"github.com/freezeledger/freezeledger/httpapi"
)

// principalsAdd implements `principals add`. Its refusals name the flags (--role, --partner), not
// the principals file's fields. A --partner that the data directory's ledger has not registered is
// added all the same (the platform may create a partner's principal before registering the
// partner) with a warning on stderr; see checkPartner.
func (m *Main) principalsAdd() error {
	c := m.cfg
	if c.name == "" || c.role == "" {
		return errors.New("principals add: --name and --role are required")
	}
	switch domain.Role(c.role) {
	case domain.RolePlatform:
		if c.partner != "" {
			return errors.New("principals add: --role platform takes no --partner (the platform acts for no partner)")
		}
	case domain.RolePartner:
		if c.partner == "" {
			return errors.New("principals add: --role partner needs --partner ID (the partner the principal acts for)")
		}
	case domain.RoleBilling:
		if c.partner != "" {
			return errors.New("principals add: --role billing takes no --partner (the billing system acts for no partner)")
		}
	case domain.RoleAuditor, domain.RoleReader:
	case domain.RoleCustomer:
		if err := checkCustomerFlags(c); err != nil {
			return err
		}
	default:
		return fmt.Errorf("principals add: --role %q is not platform, partner, auditor, reader, billing or customer", c.role)
	}
	if err := checkPhase2Flags(c); err != nil {
		return err
	}
	if c.partner != "" && !domain.ValidID(c.partner) {
		return fmt.Errorf("principals add: --partner %q is not a valid ID (1 to 64 of A-Z a-z 0-9 _ . -, starting with a letter or digit)", c.partner)
	}
	if c.partner != "" && c.principals == PrincipalsFile(c.dataDir) {
		m.checkPartner(c.dataDir, c.partner)
	}
	token, err := httpapi.CreatePrincipalFull(c.principals, httpapi.Principal{Name: c.name, Role: domain.Role(c.role), PartnerID: c.partner,
		Admin: c.admin, CustomerID: c.customer})
	if err != nil {
		return fmt.Errorf("principals add: %w", err)
	}
	fmt.Fprintf(m.Stderr, "added principal %q (role %s%s%s) to %s; its token is printed once, below:\n",
		c.name, c.role, partnerNote(c.partner), phase2Note(c), c.principals)
	fmt.Fprintln(m.Stdout, token)
	return nil
}

// checkPartner warns on stderr when the embedded ledger of dataDir has not registered partner, and
// says so when it cannot tell (no ledger there yet; the store in use by a running server). A
// partner is registered once its ID's reservation stream holds an event (rule 10: registering
// reserves the ID first; partners are never removed).
func (m *Main) checkPartner(dataDir, partner string) {
	later := "the principal is added, and can act once the partner is registered (POST /v1/partners)"
	if !dirExists(StoreDir(dataDir)) {
		fmt.Fprintf(m.Stderr, "warning: data directory %s holds no ledger yet, so partner %s is not registered; %s\n", dataDir, partner, later)
		return
	}
	s, err := embedded.Open(StoreDir(dataDir), embedded.Options{})
	if err != nil {
		fmt.Fprintf(m.Stderr, "note: --partner %s was not checked against the ledger of data directory %s (%v); the principal is added\n", partner, dataDir, err)
		return
	}
	defer s.Close()
	evs, err := s.ReadStream(context.Background(), domain.ReservationStream("partner", partner), eventstore.Forwards, 0, 1)
	switch {
	case err != nil && !errors.Is(err, eventstore.ErrStreamNotFound):
		fmt.Fprintf(m.Stderr, "note: --partner %s was not checked against the ledger of data directory %s (%v); the principal is added\n", partner, dataDir, err)
	case len(evs) == 0:
		fmt.Fprintf(m.Stderr, "warning: partner %s is not registered in the ledger of data directory %s; %s\n", partner, dataDir, later)
	}
}

func partnerNote(p string) string {
	if p == "" {
		return ""
	}
	return ", partner " + p
}
