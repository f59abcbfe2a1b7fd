package verify

import (
	"fmt"
	"iter"

	"github.com/freezeledger/freezeledger/domain"
)

// ReplayHistory replays a whole log through val, in global order: events yields each event and
// its leaf index is the number before it. It returns how many events val permitted, and an error:
// the first event val did not permit (wrapped with its leaf index, "leaf N: …"), else the first
// error events yields (returned as is), else val's Finish. It stops at the first error.
func ReplayHistory(events iter.Seq2[domain.StoredEvent, error], val HistoryValidator) (int, error) {
	n := 0
	for ev, err := range events {
		if err != nil {
			return n, err
		}
		if err := val.Check(ev); err != nil {
			return n, fmt.Errorf("leaf %d: %w", n, err)
		}
		n++
	}
	return n, val.Finish()
}
