package projections

import (
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// Zone maps of the billing search filters: per block of idBlockSize customers (the blocks of
// searchprefix.go), bounds of what any customer of the block can show, so a search skips the
// blocks where nobody can match (candidateIter.skip). Each bound is only ever moved outwards, so it
// holds for every cut (as_of) as well as the present; a checkpoint load refolds the billing events
// through billingFold, which keeps them, so they come out the same.
//
//   - Month-to-date spend (state.spendZones): per month (period) and block, the highest spend any
//     customer of the block reached in that month. A month's spend only grows (usage amounts are at
//     least 0), and at any cut a customer's spend of a month is the one noted at its last usage
//     event before the cut (or 0, once its fold forgets the month). mtd_spend_min above 0 skips
//     the blocks whose value is below it: at 1,000,000 customers a bound nobody reaches costs 245
//     zone reads instead of a million candidates. A bound of 0 (mtd_spend_max alone) matches every
//     customer without usage, which most blocks hold: it has no pruning and walks.
//   - Resource expiry (state.expiryZones): per block, the earliest and the latest expires_at ever
//     reported for a resource of a customer of the block; a customer's earliest expiry (of its
//     resources not released) is always one of them. resource_expires_before skips the blocks whose
//     earliest is not before it, resource_expires_after those whose latest is not after it, and both
//     skip the blocks where no resource ever had an expiry.
//
// A bound that most blocks hold a match for still walks candidates in proportion to how rare the
// match is (docs/BENCHMARKS.md). Memory: 8 bytes per block and month, 56 bytes per block for
// expiries (at 1,000,000 customers, 2 KB a month and 14 KB).

// expiryZone is the range of the expiries ever reported in a block; has is false when none was.
type expiryZone struct {
	earliest, latest time.Time
	has              bool
}

// noteBilling moves customer ci's block's zones out to what the billing event data (already
// folded into b, the customer's present) shows.
func (s *state) noteBilling(ci uint32, b *domain.CustomerBilling, data any) {
	blk := int(ci / idBlockSize)
	switch d := data.(type) {
	case *domain.UsageRecorded:
		if s.spendZones == nil {
			s.spendZones = map[string][]domain.Money{}
		}
		for _, r := range d.Records {
			p := domain.Period(r.Time)
			z := s.spendZones[p]
			if len(z) <= blk {
				z = append(z, make([]domain.Money, blk+1-len(z))...)
				s.spendZones[p] = z
			}
			z[blk] = max(z[blk], b.Spend(p))
		}
	case *domain.ResourceReported:
		if d.ExpiresAt == nil || d.ExpiresAt.IsZero() {
			return
		}
		if len(s.expiryZones) <= blk {
			s.expiryZones = append(s.expiryZones, make([]expiryZone, blk+1-len(s.expiryZones))...)
		}
		z, e := &s.expiryZones[blk], *d.ExpiresAt
		if !z.has || e.Before(z.earliest) {
			z.earliest = e
		}
		if !z.has || e.After(z.latest) {
			z.latest = e
		}
		z.has = true
	}
}

// spendBlockSkip returns the test that tells a block where no customer's spend in the reference
// month of cut reaches lo; nil when lo is 0 (every customer without usage matches).
func (s *state) spendBlockSkip(lo domain.Money, cut uint32) func(block uint32) bool {
	if lo <= 0 {
		return nil
	}
	z := s.spendZones[domain.Period(s.refAt(cut))]
	return func(block uint32) bool { return int(block) >= len(z) || z[block] < lo }
}

// expiryBlockSkip returns the test that tells a block where no customer's earliest expiry can be
// in f's bounds.
func (s *state) expiryBlockSkip(f resourceExpiryFilter) func(block uint32) bool {
	z := s.expiryZones
	return func(block uint32) bool {
		if int(block) >= len(z) || !z[block].has {
			return true
		}
		return (f.hasBefore && !z[block].earliest.Before(f.before)) || (f.hasAfter && !z[block].latest.After(f.after))
	}
}

// blockSkip is the union of the zone tests that filters allow at cut (nil: none applies).
func (s *state) blockSkip(filters []customerFilter, cut uint32) func(block uint32) bool {
	var tests []func(uint32) bool
	for _, f := range filters {
		switch f := f.(type) {
		case *mtdSpendFilter:
			if t := s.spendBlockSkip(f.lo, cut); t != nil {
				tests = append(tests, t)
			}
		case resourceExpiryFilter:
			tests = append(tests, s.expiryBlockSkip(f))
		}
	}
	switch len(tests) {
	case 0:
		return nil
	case 1:
		return tests[0]
	}
	return func(block uint32) bool {
		for _, t := range tests {
			if t(block) {
				return true
			}
		}
		return false
	}
}
