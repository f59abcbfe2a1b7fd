package projections

import (
	"github.com/freezeledger/freezeledger/domain"
)

// PartnerFilter is a partner listing (GET /v1/partners). Empty fields do not filter.
//
//   - Scope restricts the list to a partner's subtree (itself and its resellers; see
//     PartnerVisibleTo); "" lists every partner.
//   - Type is distributor, reseller or solution_provider; ParentID a reseller's distributor; Frozen
//     the partner's own freeze (PartnerStatus.Frozen; a reseller under a frozen distributor is
//     effective_frozen but not frozen).
//   - Limit defaults to DefaultLimit and is capped at MaxLimit; Cursor is a previous page's
//     NextCursor.
//
// Partners are listed in registration order, so cursors are stable.
type PartnerFilter struct {
	Scope    string
	Type     string
	ParentID string
	Frozen   *bool
	Limit    int
	Cursor   string
}

// ListPartners returns one page of the partners matching f and the next page's cursor ("" at the
// end). Errors: invalid (a bad cursor or type). Partners are few (thousands), so the list is a walk
// of the partner table from the cursor on.
func (m *ReadModels) ListPartners(f PartnerFilter) ([]PartnerStatus, string, error) {
	start := uint64(0)
	if f.Cursor != "" {
		n, ok := decodeCursor('p', f.Cursor)
		if !ok {
			return nil, "", domain.Errorf(domain.CodeInvalid, "cursor %q is not a cursor of this list", f.Cursor)
		}
		start = n
	}
	typ := ptypeUnknown
	if f.Type != "" {
		if typ = partnerType([]byte(f.Type)); typ == ptypeUnknown {
			return nil, "", domain.Errorf(domain.CodeInvalid, "type %q is not distributor, reseller or solution_provider", f.Type)
		}
	}
	limit := pageLimit(f.Limit)
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := m.st
	out := []PartnerStatus{}
	cut := s.leaves()
	for pi := start; pi < uint64(len(s.partners)); pi++ {
		p := &s.partners[pi]
		if p.typ == ptypeUnknown || (typ != ptypeUnknown && p.typ != typ) || !s.partnerInScope(uint32(pi), f.Scope) {
			continue
		}
		if f.ParentID != "" && (p.parent == noPartner || s.partners[p.parent].id != f.ParentID) {
			continue
		}
		st, ok := s.partnerStatus(uint32(pi), cut)
		if !ok || (f.Frozen != nil && st.Frozen != *f.Frozen) {
			continue
		}
		if len(out) == limit {
			return out, encodeCursor('p', pi), nil
		}
		out = append(out, st)
	}
	return out, "", nil
}
