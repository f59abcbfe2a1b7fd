package projections

import (
	"encoding/base64"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/freezeledger/freezeledger/domain"
)

// Page sizes of list reads (shared/API.md).
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// SearchFilter is a customer search (GET /v1/customers). Empty fields do not filter.
//
//   - Scope restricts results to a partner's subtree (the caller's tenancy, see VisibleTo).
//   - Frozen, FreezeType, Origin and AutoFrozen filter on the *effective* state (the one shown as
//     effective_state, effective_freeze_type, effective_origin), so a customer under a frozen partner
//     is found as frozen, ACCOUNT_AND_RESOURCE, origin partner, automatically frozen. AutoFrozen true
//     means effectively frozen with an origin other than manual; false means not that.
//   - PartnerID is the customer's own partner; Tag matches one of its tags exactly; Name is a
//     case-insensitive substring; AccountManager matches exactly.
//   - AssociatedAfter and AssociatedBefore are RFC 3339 times, exclusive bounds.
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
	Tag              string
	Name             string
	AccountManager   string
	AssociatedAfter  string
	AssociatedBefore string
	Limit            int
	Cursor           string
}

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
// ("" when there is none). Errors: invalid (a bad cursor or time).
func (m *ReadModels) SearchCustomers(f SearchFilter) ([]CustomerStatus, string, error) {
	// Open ends are the extremes, so that 1970-01-01T00:00:00Z (0 ns) is a bound like any other.
	after, before := int64(math.MinInt64), int64(math.MaxInt64)
	for _, t := range []struct {
		s   string
		dst *int64
	}{{f.AssociatedAfter, &after}, {f.AssociatedBefore, &before}} {
		if t.s == "" {
			continue
		}
		tm, err := time.Parse(time.RFC3339Nano, t.s)
		if err != nil {
			return nil, "", domain.Errorf(domain.CodeInvalid, "%q is not an RFC 3339 time", t.s)
		}
		*t.dst = unixNanos(tm)
	}
	start := uint64(0)
	if f.Cursor != "" {
		n, ok := decodeCursor('c', f.Cursor)
		if !ok {
			return nil, "", domain.Errorf(domain.CodeInvalid, "cursor %q is not a cursor of this list", f.Cursor)
		}
		start = n
	}
	limit := pageLimit(f.Limit)
	name := strings.ToLower(f.Name)

	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.st
	cut := s.leaves()
	var tag, am uint32
	if f.Tag != "" {
		var ok bool
		if tag, ok = s.strIdx[f.Tag]; !ok {
			return []CustomerStatus{}, "", nil
		}
	}
	if f.AccountManager != "" {
		var ok bool
		if am, ok = s.strIdx[f.AccountManager]; !ok {
			return []CustomerStatus{}, "", nil
		}
	}
	scope := uint32(noPartner)
	if f.Scope != "" {
		var ok bool
		if scope, ok = s.partnerIdx[f.Scope]; !ok {
			return []CustomerStatus{}, "", nil
		}
	}
	// Candidates: one partner's customers when filtered by partner, else all, from the cursor on.
	var cands []uint32
	all := true
	if f.PartnerID != "" {
		pi, ok := s.partnerIdx[f.PartnerID]
		if !ok {
			return []CustomerStatus{}, "", nil
		}
		cands, all = s.partners[pi].customers, false
		cands = cands[sort.Search(len(cands), func(i int) bool { return uint64(cands[i]) >= start }):]
	}
	n := len(cands)
	if all {
		n = 0
		if start < uint64(len(s.customers)) {
			n = len(s.customers) - int(start)
		}
	}
	out := []CustomerStatus{}
	for k := 0; k < n; k++ {
		ci := uint32(start) + uint32(k)
		if !all {
			ci = cands[k]
		}
		c := &s.customers[ci]
		if scope != noPartner && c.partner != scope && s.partners[c.partner].parent != scope {
			continue
		}
		if am != 0 && c.accountManager != am {
			continue
		}
		if tag != 0 && !containsTag(s.tagSets[c.tags], tag) {
			continue
		}
		if name != "" && !containsFold(s.cnameBytes(c), name) {
			continue
		}
		v, ok := s.view(ci, cut)
		if !ok {
			continue
		}
		if v.own.associatedAt <= after || v.own.associatedAt >= before {
			continue
		}
		if !matchEffective(s, &v, &f) {
			continue
		}
		if len(out) == limit {
			return out, encodeCursor('c', uint64(ci)), nil
		}
		out = append(out, s.status(&v, "", m.opts.Retention))
	}
	return out, "", nil
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
