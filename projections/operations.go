package projections

import (
	"github.com/freezeledger/freezeledger/domain"
)

// Operation names (docs/RULES.md, "What a frozen customer may still do"), in table order.
const (
	OpView              = "view"
	OpRename            = "rename"
	OpUnsubscribe       = "unsubscribe"
	OpPurchase          = "purchase"
	OpModifySpec        = "modify_spec"
	OpRenew             = "renew"
	OpChangeBillingMode = "change_billing_mode"
	OpOperate           = "operate"
	OpDelete            = "delete"
)

// OperationNames lists the operations in table order.
var OperationNames = []string{OpView, OpRename, OpUnsubscribe, OpPurchase, OpModifySpec, OpRenew, OpChangeBillingMode, OpOperate, OpDelete}

// Billing modes. Spot instances count as pay-per-use.
const (
	BillingYearlyMonthly = "yearly_monthly"
	BillingPayPerUse     = "pay_per_use"
)

// Product kinds: the extension for rule 9 (marketplace / KooGallery products). The API takes it as
// an optional query parameter "product" of the operations routes; "" is an ordinary cloud resource.
//
// A resource freeze (ACCOUNT_AND_RESOURCE, own or inherited from a partner) affects only cloud
// resources, marketplace images and marketplace pay-per-use products. Marketplace SaaS products and
// yearly/monthly licences are unaffected by the resource part of a freeze, but account-level
// restrictions still apply: for them an ACCOUNT_AND_RESOURCE freeze restricts exactly as an
// ACCOUNT freeze does.
const (
	ProductCloud                = ""
	ProductMarketplaceImage     = "marketplace_image"
	ProductMarketplacePayPerUse = "marketplace_pay_per_use"
	ProductMarketplaceSaaS      = "marketplace_saas"
	ProductMarketplaceLicence   = "marketplace_licence"
)

// ProductKinds lists the accepted product kinds.
var ProductKinds = []string{ProductCloud, ProductMarketplaceImage, ProductMarketplacePayPerUse, ProductMarketplaceSaaS, ProductMarketplaceLicence}

// FreezeInfo describes the freeze that denies an operation: the customer's own ("customer") or a
// partner's inherited through the cascade ("partner", with the frozen partner's ID). For an
// inherited freeze, FreezeType is ACCOUNT_AND_RESOURCE and Origin "partner" (rule 7).
type FreezeInfo struct {
	Source     string  `json:"source"`
	PartnerID  string  `json:"partner_id,omitempty"`
	FreezeType string  `json:"freeze_type"`
	Origin     string  `json:"origin"`
	FrozenBy   *string `json:"frozen_by"`
	FrozenAt   *string `json:"frozen_at"`
	Reason     *string `json:"reason"`
}

// OperationCheck is one operation's permission. A denial has a human-readable Reason and, when a
// freeze causes it, Freeze. An operation that does not apply to the billing mode (unsubscribe and
// renew under pay-per-use) is denied with a Reason and no Freeze.
type OperationCheck struct {
	Operation string      `json:"operation"`
	Allowed   bool        `json:"allowed"`
	Reason    string      `json:"reason,omitempty"`
	Freeze    *FreezeInfo `json:"freeze,omitempty"`
}

// Operations is the operation-permission view of a customer.
type Operations struct {
	CustomerID     string           `json:"customer_id"`
	BillingMode    string           `json:"billing_mode"`
	Product        string           `json:"product,omitempty"`
	EffectiveState string           `json:"effective_state"`
	Operations     []OperationCheck `json:"operations"`
}

// OperationsQuery selects the billing mode ("" is yearly_monthly), the product kind and the moment.
type OperationsQuery struct {
	BillingMode string
	Product     string
	AsOf        AsOf
}

type opBits uint16

func opBit(op string) opBits {
	for i, n := range OperationNames {
		if n == op {
			return 1 << i
		}
	}
	return 0
}

var (
	opsNotPPU      = opBit(OpUnsubscribe) | opBit(OpRenew)
	allowedAccount = [2]opBits{opBit(OpView) | opBit(OpRename) | opBit(OpUnsubscribe), opBit(OpView) | opBit(OpRename)}
	allowedAll     = [2]opBits{opBit(OpView), opBit(OpView)}
)

func validateOpsQuery(q *OperationsQuery) (mode int, err error) {
	switch q.BillingMode {
	case "", BillingYearlyMonthly:
		q.BillingMode = BillingYearlyMonthly
	case BillingPayPerUse:
		mode = 1
	default:
		return 0, domain.Errorf(domain.CodeInvalid, "billing_mode %q is neither %s nor %s", q.BillingMode, BillingYearlyMonthly, BillingPayPerUse)
	}
	for _, p := range ProductKinds {
		if p == q.Product {
			return mode, nil
		}
	}
	return 0, domain.Errorf(domain.CodeInvalid, "product %q is not one of marketplace_image, marketplace_pay_per_use, marketplace_saas, marketplace_licence (or empty for a cloud resource)", q.Product)
}

// check decides op for the view. mode 0 is yearly/monthly, 1 pay-per-use.
func (s *state) check(v *view, op string, mode int, product string) OperationCheck {
	bit := opBit(op)
	out := OperationCheck{Operation: op, Allowed: true}
	if mode == 1 && bit&opsNotPPU != 0 {
		out.Allowed = false
		out.Reason = op + " does not apply to pay-per-use billing"
		return out
	}
	sev := v.effSev
	resourceProduct := product != ProductMarketplaceSaaS && product != ProductMarketplaceLicence
	if sev == sevAll && !resourceProduct {
		sev = sevAccount // rule 9: only account-level restrictions apply
	}
	if v.own.released && resourceProduct && sev == sevNone {
		// Rule 8: released resources are gone; an unfreeze restores the account, not them.
		return releasedCheck(out, "customer "+s.cid(v.c)+"'s resources were released at the end of their retention period (rule 8); unfreezing restored the account, not the resources")
	}
	var allowed opBits
	switch sev {
	case sevNone:
		return out
	case sevAccount:
		allowed = allowedAccount[mode]
	default:
		allowed = allowedAll[mode]
	}
	if bit&allowed != 0 {
		return out
	}
	out.Allowed = false
	out.Freeze, out.Reason = s.denial(v, op)
	return out
}

// denial names the freeze in effect: an inherited partner freeze takes precedence, as it is what
// makes the effective state the stricter one.
func (s *state) denial(v *view, op string) (*FreezeInfo, string) {
	if f := v.inheritF; f != nil {
		by, why, at := s.str(f.actor), s.str(f.reason), fmtTime(f.time)
		fi := &FreezeInfo{Source: "partner", PartnerID: v.inherit.id, FreezeType: string(domain.FreezeAccountAndResource),
			Origin: string(domain.OriginPartner), FrozenBy: &by, FrozenAt: &at, Reason: &why}
		return fi, op + " denied: partner " + v.inherit.id + " was frozen by " + by + " at " + at + " (" + why + "); every customer below it is frozen with ACCOUNT_AND_RESOURCE"
	}
	f := v.own.freeze
	by, why, ft, at := s.str(f.actor), s.str(f.reason), severityNames[f.sev], fmtTime(f.time)
	fi := &FreezeInfo{Source: "customer", FreezeType: ft, Origin: s.str(f.origin), FrozenBy: &by, FrozenAt: &at, Reason: &why}
	return fi, op + " denied: customer " + s.cid(v.c) + " was frozen (" + ft + ", " + fi.Origin + ") by " + by + " at " + at + " (" + why + ")"
}

func effectiveState(v *view) string {
	if v.effSev == sevNone {
		return stateActive
	}
	return stateFrozen
}
