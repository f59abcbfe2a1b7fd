package projections

import "github.com/freezeledger/freezeledger/domain"

// The month-to-date spend zone map: per month (period) and per block of idBlockSize customers (the
// blocks of searchprefix.go), the highest spend any customer of the block has reached in that month
// (state.spendZones). A month's spend only grows (usage amounts are at least 0), so the value is
// kept by a max at each usage.recorded (billingFold, also when a checkpoint is refolded) and is never
// lowered: it stays an upper bound even when a customer's fold forgets old months.
//
// Plan of mtd_spend_min (docs/BENCHMARKS.md): a live search (no as_of) whose lower bound is above
// 0 skips every block whose zone value is below the bound, so a selective bound walks only the
// blocks that hold a match: at 1,000,000 customers a bound nobody reaches costs 245 zone reads
// instead of a million candidates. The customers of the blocks it keeps are walked as before. A
// bound of 0 (mtd_spend_max alone) matches every customer without usage, which most blocks hold, so
// it has no pruning and walks; so does a search as of a past moment (its month's spend is the
// fold's at the cut, which the zones, kept for the present, do not bound after a checkpoint load).
// Memory: 8 bytes per block and month (2 KB a month at 1,000,000 customers).

// noteSpend raises customer ci's block in the zone of every month the usage event u adds to, to
// the customer's spend of that month after it (b, the customer's present fold).
func (s *state) noteSpend(ci uint32, b *domain.CustomerBilling, u *domain.UsageRecorded) {
	if s.spendZones == nil {
		s.spendZones = map[string][]domain.Money{}
	}
	blk := int(ci / idBlockSize)
	for _, r := range u.Records {
		p := domain.Period(r.Time)
		z := s.spendZones[p]
		if len(z) <= blk {
			z = append(z, make([]domain.Money, blk+1-len(z))...)
			s.spendZones[p] = z
		}
		z[blk] = max(z[blk], b.Spend(p))
	}
}

// spendBlockSkip returns, for a live search (cut at the head) with a lower bound lo above 0, the
// test that tells a block without any customer whose spend in the reference month reaches lo; nil
// when the zones do not apply.
func (s *state) spendBlockSkip(lo domain.Money, cut uint32) func(block uint32) bool {
	if lo <= 0 || cut < s.leaves() {
		return nil
	}
	z := s.spendZones[domain.Period(s.refAt(cut))]
	return func(block uint32) bool { return int(block) >= len(z) || z[block] < lo }
}
