package projections

import (
	"encoding/base64"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/freezeledger/freezeledger/domain"
)

// Page sizes of list reads (docs/HTTP-API.md).
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// SearchFilter is a customer search (GET /v1/customers). Empty fields do not filter; the filters
// combine (a customer must pass all of them). Each is one customerFilter (search_filters.go).
//
//   - Scope restricts results to a partner's subtree (the caller's tenancy, see VisibleTo).
//   - Frozen, FreezeType, Origin and AutoFrozen filter on the *effective* state (the one shown as
//     effective_state, effective_freeze_type, effective_origin), so a customer under a frozen partner
//     is found as frozen, ACCOUNT_AND_RESOURCE, origin partner, automatically frozen. AutoFrozen true
//     means effectively frozen with an origin other than manual; false means not that.
//   - PartnerID is the customer's own partner; DistributorID the whole channel of a distributor (its
//     direct customers and its resellers' customers: the status's distributor_id); AssociationType
//     is AssociationDirect (associated with a distributor or solution provider itself) or
//     AssociationReseller (with a reseller); ManagedBy is the status's managed_by (rule 2, with the
//     delegation in force at the cut); CustomerIDPrefix matches the start of the customer ID.
//   - Tag matches one of its tags exactly; Name is a case-insensitive substring; AccountManager
//     matches exactly.
//   - Associated: every customer the log associated is associated until disassociation exists (a
//     later phase), so true matches every customer and false none.
//   - AssociatedAfter and AssociatedBefore are RFC 3339 times, exclusive bounds.
//   - Billing (rules 12 to 17, from the billing read model at the search's cut and reference time,
//     as the status shows them): MTDSpendMin and MTDSpendMax bound the status's mtd_spend (decimal
//     amounts, inclusive; a customer without usage has 0.00); BudgetUsageMin and BudgetUsageMax
//     bound its budget's usage_percent (decimal percentages such as "81.20", inclusive; a customer
//     without a budget has no usage and never matches); BudgetType is monthly, one_time, or
//     BudgetTypeNone for customers without a budget; ResourceExpiresBefore and
//     ResourceExpiresAfter are RFC 3339 times, exclusive bounds on the earliest expiry of the
//     customer's resources not released (a customer without one never matches).
//   - AsOf searches the state as of a past moment: the customers associated by then, their own and
//     effective freeze state, the cascade and the delegation (managed_by) at that cut, and the
//     statuses returned as of it; equal to the search over read models built from that log prefix.
//     Name, tags, account manager and partner are fixed at association, so they are the same then.
//   - Limit defaults to DefaultLimit and is capped at MaxLimit; Cursor is a previous page's
//     NextCursor.
//
// Results are in association order, so cursors are stable: a page never repeats or skips a customer
// because of customers associated meanwhile (they appear at the end).
type SearchFilter struct {
	Scope            string
	Frozen           *bool
	FreezeType       string
	Origin           string
	AutoFrozen       *bool
	PartnerID        string
	DistributorID    string
	AssociationType  string
	ManagedBy        string
	CustomerIDPrefix string
	Tag              string
	Name             string
	AccountManager   string
	Associated       *bool
	AssociatedAfter  string
	AssociatedBefore string
	// Mobile and AccountName (rule 21) are exact after normalisation (the caller normalises: E.164
	// for the mobile; the account name as given, compared lower-cased); matched through the blind index.
	Mobile      string
	AccountName string
	AsOf        AsOf
	Limit       int
	Cursor      string

	// Billing filters (rules 12 to 17).
	MTDSpendMin           string
	MTDSpendMax           string
	BudgetUsageMin        string
	BudgetUsageMax        string
	BudgetType            string
	ResourceExpiresBefore string
	ResourceExpiresAfter  string
}

// Association types of SearchFilter.AssociationType.
const (
	AssociationDirect   = "direct"
	AssociationReseller = "reseller"
)

// BudgetTypeNone is SearchFilter.BudgetType for the customers without a budget (besides
// domain.BudgetMonthly and domain.BudgetOneTime).
const BudgetTypeNone = "none"

func encodeCursor(kind byte, n uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(string(kind) + strconv.FormatUint(n, 10)))
}

func decodeCursor(kind byte, c string) (uint64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 2 || b[0] != kind {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[1:]), 10, 64)
	return n, err == nil
}

func pageLimit(l int) int {
	switch {
	case l <= 0:
		return DefaultLimit
	case l > MaxLimit:
		return MaxLimit
	}
	return l
}

// SearchCustomers returns one page of the customers matching f, and the cursor of the next page
// ("" when there is none). Errors: invalid (a bad cursor, time or association type), unavailable
// (an as_of position not applied yet).
//
// Plan: of the filters with an index (scope, partner, distributor, managed_by, tag, customer ID
// prefix), the one with the fewest candidates supplies them, from the cursor on, in association
// order; every filter then decides each candidate, the cheap ones first. Without an indexed filter
// every customer from the cursor on is a candidate. mtd_spend_min above 0 and the resource expiry
// bounds leave out the blocks of customers where nobody can match (searchzones.go).
// docs/BENCHMARKS.md has the measured costs.
func (m *ReadModels) SearchCustomers(f SearchFilter) ([]CustomerStatus, string, error) {
	start := uint64(0)
	if f.Cursor != "" {
		n, ok := decodeCursor('c', f.Cursor)
		if !ok {
			return nil, "", domain.Errorf(domain.CodeInvalid, "cursor %q is not a cursor of this list", f.Cursor)
		}
		start = n
	}
	limit := pageLimit(f.Limit)

	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.st
	cut, err := s.cut(f.AsOf)
	if err != nil {
		return nil, "", err
	}
	filters, none, err := compileFilters(s, &f)
	if err != nil {
		return nil, "", err
	}
	out := []CustomerStatus{}
	if none {
		return out, "", nil
	}
	it := s.candidates(filters, uint32(min(start, uint64(len(s.customers)))), cut)
	for {
		ci, ok := it.next()
		if !ok {
			return out, "", nil
		}
		c := &s.customers[ci]
		if !matchAll(s, filters, ci, c, nil) {
			continue
		}
		v, ok := s.view(ci, cut)
		if !ok || !matchAll(s, filters, ci, c, &v) {
			continue
		}
		if len(out) == limit {
			return out, encodeCursor('c', uint64(ci)), nil
		}
		out = append(out, s.status(&v, "", m.opts.Retention))
	}
}

func matchEffective(s *state, v *view, f *SearchFilter) bool {
	frozen := v.effSev != sevNone
	if f.Frozen != nil && *f.Frozen != frozen {
		return false
	}
	ft, origin := "", ""
	if frozen {
		ft = severityNames[v.effSev]
		if v.inherit != nil {
			origin = string(domain.OriginPartner)
		} else {
			origin = s.str(v.own.freeze.origin)
		}
	}
	if f.FreezeType != "" && f.FreezeType != ft {
		return false
	}
	if f.Origin != "" && f.Origin != origin {
		return false
	}
	if f.AutoFrozen != nil && *f.AutoFrozen != (frozen && origin != string(domain.OriginManual)) {
		return false
	}
	return true
}

func containsTag(set []uint32, tag uint32) bool {
	for _, t := range set {
		if t == tag {
			return true
		}
	}
	return false
}

// containsFold reports whether lowerSub (already lower case) occurs in s, ignoring case, without
// allocating for ASCII names.
func containsFold(s []byte, lowerSub string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Contains(strings.ToLower(string(s)), lowerSub)
		}
	}
	if len(lowerSub) > len(s) {
		return false
	}
outer:
	for i := 0; i+len(lowerSub) <= len(s); i++ {
		for j := 0; j < len(lowerSub); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lowerSub[j] {
				continue outer
			}
		}
		return true
	}
	return false
}
