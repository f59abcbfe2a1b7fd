package auditlog

import (
	"context"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
)

// CheckHistory replays every stored event, across pages, and names the first one refused.
func TestCheckHistory(t *testing.T) {
	defer func(p uint64) { exportPage = p }(exportPage)
	exportPage = 7
	s := newMemStore()
	appendEvents(t, s, 40)
	val := &countEvents{}
	if n, err := CheckHistory(context.Background(), s, val); n != 40 || err != nil || val.checked != 40 {
		t.Fatalf("%d events, %v (checked %d)", n, err, val.checked)
	}
	// The fixture freezes customers no one registered: the domain's rules refuse the first.
	n, err := CheckHistory(context.Background(), s, domain.NewHistoryValidator(domain.HistoryOptions{}))
	if n != 0 || err == nil || !strings.HasPrefix(err.Error(), "leaf 0: ") {
		t.Fatalf("%d events, %v", n, err)
	}
}
