package projections

import (
	"bytes"
	"math"
	"strings"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// customerFilter is one condition of a customer search. A search is the conjunction of its
// filters; SearchCustomers takes its candidates from the most selective filter that has an index
// and asks every filter about each candidate. A new filter (phase 2: personal data) is one more type
// here and one more line in compileFilters; the billing filters (spend, budget usage and type,
// resource expiry) are in search_billing_filters.go.
type customerFilter interface {
	// index returns ascending lists of customer indices whose union holds every customer the
	// filter can match (a superset is fine), or ok false when the filter has no index.
	index(s *state) (lists [][]uint32, ok bool)
	// stateful reports whether match needs the customer's view at the search's cut (its freeze
	// state, cascade, delegation); the others decide on the customer record alone, before the
	// view is built.
	stateful() bool
	// match decides one candidate. v is nil for filters that are not stateful.
	match(s *state, ci uint32, c *customer, v *view) bool
}

// compileFilters turns f into filters. none reports a search that matches nothing whatever the
// state (an unknown partner, tag or account manager, associated=false). Errors: invalid.
func compileFilters(s *state, f *SearchFilter) (filters []customerFilter, none bool, err error) {
	partner := func(id string) (uint32, bool) {
		pi, ok := s.partnerIdx[id]
		return pi, ok && s.partners[pi].typ != ptypeUnknown
	}
	if f.Scope != "" {
		pi, ok := s.partnerIdx[f.Scope]
		if !ok {
			return nil, true, nil
		}
		filters = append(filters, subtreeFilter{pi})
	}
	if f.PartnerID != "" {
		pi, ok := s.partnerIdx[f.PartnerID]
		if !ok {
			return nil, true, nil
		}
		filters = append(filters, ownPartnerFilter{pi})
	}
	if f.DistributorID != "" {
		pi, ok := partner(f.DistributorID)
		if !ok || s.partners[pi].typ != ptypeDistributor {
			return nil, true, nil // only a distributor is anyone's distributor_id
		}
		filters = append(filters, subtreeFilter{pi})
	}
	switch f.AssociationType {
	case "":
	case AssociationDirect, AssociationReseller:
		filters = append(filters, associationTypeFilter{reseller: f.AssociationType == AssociationReseller})
	default:
		return nil, false, domain.Errorf(domain.CodeInvalid, "association_type %q is not direct or reseller", f.AssociationType)
	}
	if f.ManagedBy != "" {
		pi, ok := partner(f.ManagedBy)
		if !ok {
			return nil, true, nil
		}
		filters = append(filters, managedByFilter{pi})
	}
	if f.CustomerIDPrefix != "" {
		filters = append(filters, idPrefixFilter{[]byte(f.CustomerIDPrefix)})
	}
	if f.Tag != "" {
		tag, ok := s.strIdx[f.Tag]
		if !ok {
			return nil, true, nil
		}
		filters = append(filters, tagFilter{tag})
	}
	if f.AccountManager != "" {
		am, ok := s.strIdx[f.AccountManager]
		if !ok {
			return nil, true, nil
		}
		filters = append(filters, accountManagerFilter{am})
	}
	if f.Name != "" {
		filters = append(filters, nameFilter{strings.ToLower(f.Name)})
	}
	if f.Associated != nil {
		filters = append(filters, associatedFilter{*f.Associated})
	}
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
			return nil, false, domain.Errorf(domain.CodeInvalid, "%q is not an RFC 3339 time", t.s)
		}
		*t.dst = unixNanos(tm)
	}
	if after != math.MinInt64 || before != math.MaxInt64 {
		filters = append(filters, associatedAtFilter{after, before})
	}
	billing, err := compileBillingFilters(f)
	if err != nil {
		return nil, false, err
	}
	filters = append(filters, billing...)
	if f.Frozen != nil || f.FreezeType != "" || f.Origin != "" || f.AutoFrozen != nil {
		filters = append(filters, effectiveFilter{f})
	}
	for b, v := range [nBlind]string{blindMobile: f.Mobile, blindAccountName: f.AccountName} {
		if v == "" {
			continue
		}
		if s.pers == nil || s.keys == nil {
			return nil, true, nil
		}
		field := blindFields[b]
		filters = append(filters, blindFilter{b, s.keys.BlindIndex(field, BlindIndexValue(field, v))})
	}
	return filters, false, nil
}

// matchAll applies the filters that are not stateful (v nil) or those that are (v set).
func matchAll(s *state, filters []customerFilter, ci uint32, c *customer, v *view) bool {
	for _, f := range filters {
		if f.stateful() != (v != nil) {
			continue
		}
		if !f.match(s, ci, c, v) {
			return false
		}
	}
	return true
}

// candidates iterates, from customer index start on in ascending order, the customers of the
// indexed filter with the fewest of them, or every customer when no filter has an index. A customer
// ID prefix is an index too (searchprefix.go), counted from start on.
func (s *state) candidates(filters []customerFilter, start, cut uint32) *candidateIter {
	it := s.candidateSource(filters, start)
	if skip := s.blockSkip(filters, cut); skip != nil {
		it.skip, it.skipBlock = skip, noBlock
	}
	it.stop = s.createdBefore(cut)
	return it
}

// candidateSource is candidates without the blocks a filter rules out.
func (s *state) candidateSource(filters []customerFilter, start uint32) *candidateIter {
	var best [][]uint32
	bestN := -1
	for _, f := range filters {
		lists, ok := f.index(s)
		if !ok {
			continue
		}
		n := 0
		for _, l := range lists {
			n += len(l)
		}
		if bestN < 0 || n < bestN {
			best, bestN = lists, n
		}
	}
	for _, f := range filters {
		if pf, ok := f.(idPrefixFilter); ok {
			if p := s.newPrefixCandidates(pf.prefix, start); bestN < 0 || p.n < bestN {
				return &candidateIter{prefix: p}
			}
		}
	}
	it := &candidateIter{next0: start, end: uint32(len(s.customers)), all: bestN < 0, last: noPartner}
	for _, l := range best {
		it.lists = append(it.lists, l[searchU32(l, start):])
	}
	return it
}

// candidateIter merges ascending lists of customer indices (or counts through all customers, or
// takes them from the prefix index), leaving out the blocks of customers skip rules out, and
// ending at stop (the first customer created at or after the search's cut).
type candidateIter struct {
	stop       uint32
	all        bool
	next0, end uint32
	lists      [][]uint32
	last       uint32
	prefix     *prefixCandidates

	skip      func(block uint32) bool // nil: no block is ruled out
	skipBlock uint32                  // the block skipping was last decided for
	skipped   bool
}

const noBlock = ^uint32(0)

func (it *candidateIter) next() (uint32, bool) {
	for {
		ci, ok := it.source()
		if ok && ci >= it.stop {
			return 0, false
		}
		if !ok || it.skip == nil {
			return ci, ok
		}
		if b := ci / idBlockSize; b != it.skipBlock {
			it.skipBlock, it.skipped = b, it.skip(b)
		}
		if !it.skipped {
			return ci, true
		}
		if it.all { // jump to the next block
			it.next0 = max(it.next0, (it.skipBlock+1)*idBlockSize)
		}
	}
}

func (it *candidateIter) source() (uint32, bool) {
	if it.prefix != nil {
		return it.prefix.take()
	}
	if it.all {
		if it.next0 >= it.end {
			return 0, false
		}
		it.next0++
		return it.next0 - 1, true
	}
	for {
		k := -1
		for i, l := range it.lists {
			if len(l) > 0 && (k < 0 || l[0] < it.lists[k][0]) {
				k = i
			}
		}
		if k < 0 {
			return 0, false
		}
		ci := it.lists[k][0]
		it.lists[k] = it.lists[k][1:]
		if ci != it.last { // the lists of one filter may overlap
			it.last = ci
			return ci, true
		}
	}
}

// searchU32 is the first index of the ascending list l whose value is at least v.
func searchU32(l []uint32, v uint32) int {
	lo, hi := 0, len(l)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if l[h] < v {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo
}

// subtreeFilter: the customer's partner is pi or a reseller of pi (a scope, or a distributor_id).
type subtreeFilter struct{ pi uint32 }

func (f subtreeFilter) index(s *state) ([][]uint32, bool) {
	p := &s.partners[f.pi]
	return [][]uint32{p.customers, p.resold}, true
}
func (subtreeFilter) stateful() bool { return false }
func (f subtreeFilter) match(s *state, _ uint32, c *customer, _ *view) bool {
	return c.partner == f.pi || s.partners[c.partner].parent == f.pi
}

// ownPartnerFilter: the customer's own partner is pi (partner_id).
type ownPartnerFilter struct{ pi uint32 }

func (f ownPartnerFilter) index(s *state) ([][]uint32, bool) {
	return [][]uint32{s.partners[f.pi].customers}, true
}
func (ownPartnerFilter) stateful() bool { return false }
func (f ownPartnerFilter) match(_ *state, _ uint32, c *customer, _ *view) bool {
	return c.partner == f.pi
}

// associationTypeFilter: associated with a reseller, or with a distributor or solution provider.
type associationTypeFilter struct{ reseller bool }

func (associationTypeFilter) index(*state) ([][]uint32, bool) { return nil, false }
func (associationTypeFilter) stateful() bool                  { return false }
func (f associationTypeFilter) match(s *state, _ uint32, c *customer, _ *view) bool {
	return (s.partners[c.partner].typ == ptypeReseller) == f.reseller
}

// managedByFilter: the customer's manager at the cut is pi (rule 2). Its candidates are pi's own
// customers and, for a distributor, its resellers' (a superset: delegation decides).
type managedByFilter struct{ pi uint32 }

func (f managedByFilter) index(s *state) ([][]uint32, bool) {
	p := &s.partners[f.pi]
	return [][]uint32{p.customers, p.resold}, true
}
func (managedByFilter) stateful() bool { return true }
func (f managedByFilter) match(s *state, _ uint32, _ *customer, v *view) bool {
	return v.managedBy() == s.partners[f.pi].id
}

// idPrefixFilter: the customer ID starts with prefix. Its index is state.idBlocks, which candidates
// reads through prefixCandidates (it is not one list).
type idPrefixFilter struct{ prefix []byte }

func (idPrefixFilter) index(*state) ([][]uint32, bool) { return nil, false }
func (idPrefixFilter) stateful() bool                  { return false }
func (f idPrefixFilter) match(s *state, _ uint32, c *customer, _ *view) bool {
	return bytes.HasPrefix(s.cidBytes(c), f.prefix)
}

// tagFilter: one of the customer's tags is tag.
type tagFilter struct{ tag uint32 }

func (f tagFilter) index(s *state) ([][]uint32, bool) { return [][]uint32{s.tagIndex[f.tag]}, true }
func (tagFilter) stateful() bool                      { return false }
func (f tagFilter) match(s *state, _ uint32, c *customer, _ *view) bool {
	return containsTag(s.tagSets[c.tags], f.tag)
}

// accountManagerFilter: the account manager is am.
type accountManagerFilter struct{ am uint32 }

func (accountManagerFilter) index(*state) ([][]uint32, bool) { return nil, false }
func (accountManagerFilter) stateful() bool                  { return false }
func (f accountManagerFilter) match(_ *state, _ uint32, c *customer, _ *view) bool {
	return c.accountManager == f.am
}

// nameFilter: the name contains lower, ignoring case.
type nameFilter struct{ lower string }

func (nameFilter) index(*state) ([][]uint32, bool) { return nil, false }
func (nameFilter) stateful() bool                  { return false }
func (f nameFilter) match(s *state, _ uint32, c *customer, _ *view) bool {
	return containsFold(s.cnameBytes(c), f.lower)
}

// associatedAtFilter: associated strictly after after and strictly before before (the extremes of
// int64: no bound; query times are saturated by unixNanos).
type associatedAtFilter struct{ after, before int64 }

func (associatedAtFilter) index(*state) ([][]uint32, bool) { return nil, false }
func (associatedAtFilter) stateful() bool                  { return true }
func (f associatedAtFilter) match(_ *state, _ uint32, _ *customer, v *view) bool {
	at := v.own.associatedAt
	return at > f.after && at < f.before
}

// effectiveFilter: frozen, freeze_type, origin, auto_frozen on the effective state.
type effectiveFilter struct{ f *SearchFilter }

func (effectiveFilter) index(*state) ([][]uint32, bool) { return nil, false }
func (effectiveFilter) stateful() bool                  { return true }
func (f effectiveFilter) match(s *state, _ uint32, _ *customer, v *view) bool {
	return matchEffective(s, v, f.f)
}

// blindFilter: the customer's indexed mobile or account name (rule 21) has the keyed hash h; the
// index holds hashes only (personal.go).
type blindFilter struct {
	field int
	h     [32]byte
}

func (f blindFilter) index(s *state) ([][]uint32, bool) { return [][]uint32{s.pers.index[f.h]}, true }
func (blindFilter) stateful() bool                      { return false }
func (f blindFilter) match(s *state, ci uint32, _ *customer, _ *view) bool {
	r := s.pers.recs[ci]
	return r != nil && r.indexed[f.field] && r.blind[f.field] == f.h
}

// associatedFilter: still associated (want true), or disassociated by an accepted request (rule 20),
// at the search's cut.
type associatedFilter struct{ want bool }

func (associatedFilter) index(*state) ([][]uint32, bool) { return nil, false }
func (associatedFilter) stateful() bool                  { return true }
func (f associatedFilter) match(_ *state, _ uint32, _ *customer, v *view) bool {
	return !v.own.disassociated == f.want
}
