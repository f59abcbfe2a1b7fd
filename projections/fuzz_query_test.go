package projections

import (
	"context"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
)

// FuzzQueryInputs: what a client sends to the read side as query parameters (a search's cursor, time
// and filter values; a history cursor; as_of) never panics the read models, a refusal is always an
// invalid *domain.Error, and a page never exceeds its limit. Cursors the read models hand out decode
// back to themselves.
func FuzzQueryInputs(f *testing.F) {
	l := newLedger(f)
	customers, _ := randomLog(l, 7, 120)
	m := openModels(f, l.store, f.TempDir())
	head, err := l.store.Head(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	waitFor(f, m, head)
	_, next, err := m.SearchCustomers(SearchFilter{Limit: 2})
	if err != nil || next == "" {
		f.Fatalf("no second page to seed with: %q, %v", next, err)
	}
	f.Add(next, "2026-11-26T10:00:00Z", "ACCOUNT", "position:5", 3)
	f.Add(encodeCursor('h', 1), "", "", "", 0)
	f.Add("AAAA", "not a time", "FROZEN", "2026-11-26T10:00:00.123+02:00", -1)
	f.Add(encodeCursor('c', 1<<63), "9999-12-31T23:59:59Z", "ACCOUNT_AND_RESOURCE", "position:18446744073709551615", 5000)
	f.Fuzz(func(t *testing.T, cursor, when, typ, asOf string, limit int) {
		invalidOnly := func(what string, err error) {
			t.Helper()
			if err != nil && domain.ErrorCode(err) != domain.CodeInvalid {
				t.Fatalf("%s: refusal %v is not invalid", what, err)
			}
		}
		page, _, err := m.SearchCustomers(SearchFilter{Cursor: cursor, AssociatedAfter: when, FreezeType: typ, Limit: limit})
		invalidOnly("search", err)
		if err == nil && len(page) > pageLimit(limit) {
			t.Fatalf("search: %d customers on a page of limit %d", len(page), pageLimit(limit))
		}
		_, _, err = m.SearchCustomers(SearchFilter{Cursor: cursor, AssociatedBefore: when, Name: asOf, Limit: limit})
		invalidOnly("search before", err)
		if len(customers) > 0 {
			_, err = m.History(context.Background(), HistoryQuery{Kind: "customer", ID: customers[0], Cursor: cursor, Limit: limit})
			invalidOnly("history", err)
		}
		_, err = ParseAsOf(asOf)
		invalidOnly("as_of", err)
		if n, ok := decodeCursor('c', cursor); ok {
			if back, ok := decodeCursor('c', encodeCursor('c', n)); !ok || back != n {
				t.Fatalf("cursor %d does not round-trip", n)
			}
		}
	})
}
