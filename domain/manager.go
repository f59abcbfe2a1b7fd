package domain

// A customer's manager: rule 2 (who may freeze and unfreeze it) stated once, as a pure function of
// the customer's partner, its distributor and the delegation, for the domain's decisions and the read
// models alike. Parameterised by the delegated permission, it is rule 14's budget manager too.

// ManagerOf returns the ID of the partner that manages a customer for a delegable permission: the
// customer's partner partnerID when the customer has no distributor (distributorID is "": the partner
// is a distributor or solution provider) or when that distributor delegated the permission to the
// partner, a reseller (delegated); otherwise the distributor. With PermissionFreeze it is rule 2's
// manager, who alone may freeze and unfreeze the customer; with PermissionBudget, rule 14's budget
// manager.
func ManagerOf(partnerID, distributorID string, delegated bool) string {
	if distributorID == "" || delegated {
		return partnerID
	}
	return distributorID
}

// Has reports whether d includes permission p (false for an unknown permission).
func (d Delegation) Has(p Permission) bool {
	switch p {
	case PermissionFreeze:
		return d.Freeze
	case PermissionBudget:
		return d.Budget
	}
	return false
}

// Manager returns the partner ID that may freeze and unfreeze customer cu (rule 2).
func (c *Channel) Manager(cu Customer) string { return c.managerOf(cu, PermissionFreeze) }

// managerOf is customer cu's manager for permission perm: ManagerOf with the delegation its partner
// holds in this channel (none if the partner is not here).
func (c *Channel) managerOf(cu Customer, perm Permission) string {
	var d Delegation
	if r := c.partners[cu.PartnerID]; r != nil {
		d = r.Delegation
	}
	return ManagerOf(cu.PartnerID, cu.DistributorID, d.Has(perm))
}
