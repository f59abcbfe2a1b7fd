package main

import (
	"errors"
	"fmt"

	"github.com/freezeledger/freezeledger/domain"
)

// checkCustomerFlags checks `principals add --role customer`: --customer ID, no --partner.
func checkCustomerFlags(c config) error {
	if c.customer == "" {
		return errors.New("principals add: --role customer needs --customer ID (the customer the principal is)")
	}
	if !domain.ValidID(c.customer) {
		return fmt.Errorf("principals add: --customer %q is not a valid ID (1 to 64 of A-Z a-z 0-9 _ . -, starting with a letter or digit)", c.customer)
	}
	if c.partner != "" {
		return errors.New("principals add: --role customer takes no --partner (the customer acts for itself)")
	}
	return nil
}

// checkPhase2Flags refuses --admin and --customer with roles that take neither.
func checkPhase2Flags(c config) error {
	if c.admin && domain.Role(c.role) != domain.RolePartner {
		return fmt.Errorf("principals add: --admin is for --role partner (a partner admin), not %s", c.role)
	}
	if c.customer != "" && domain.Role(c.role) != domain.RoleCustomer {
		return fmt.Errorf("principals add: --customer is for --role customer, not %s", c.role)
	}
	return nil
}

func phase2Note(c config) string {
	switch {
	case c.admin:
		return ", admin"
	case c.customer != "":
		return ", customer " + c.customer
	}
	return ""
}
