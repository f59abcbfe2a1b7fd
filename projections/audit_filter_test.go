package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// Filtered audit events, page by page, equal the reference: every event of a plain read of the log
// that passes each filter.
func TestAuditEventsEqualFilteredLog(t *testing.T) {
	l := newLedger(t)
	customers, partners := randomLog(l, 6, 250)
	head, _ := l.store.Head(context.Background())
	m := openModels(t, l.store, t.TempDir())
	waitFor(t, m, head)
	all := readAll(t, l.store)
	ref := make([]leaf.Event, len(all))
	times := make([]time.Time, len(all))
	for i, rec := range all {
		e, err := auditlog.FromRecorded(rec, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		ref[i] = e
		var md domain.Metadata
		if err := decodeMeta(rec.Metadata, &md); err != nil {
			t.Fatal(err)
		}
		times[i] = md.Time
	}
	// about reports whether event i is about customer c (its own events) or in partner p's tree.
	partnerOf := func(c string) string { st, _ := m.Status(c, AsOf{}); return st.PartnerID }
	about := func(e leaf.Event, customer, partner string) bool {
		var d struct {
			CustomerID string `json:"customer_id"`
			PartnerID  string `json:"partner_id"`
		}
		json.Unmarshal(e.Data, &d)
		if e.Type == domain.EventIDReserved {
			return false
		}
		if customer != "" {
			return d.CustomerID == customer
		}
		p := d.PartnerID
		if d.CustomerID != "" {
			p = partnerOf(d.CustomerID)
		}
		return p == partner || (len(p) > 4 && p[:3] == "res" && "dist-"+p[4:5] == partner)
	}
	r := rand.New(rand.NewPCG(6, 3))
	actors := []string{"ops-platform", "ops-dist-0", "ops-res-1-0", "system", "nobody"}
	for n := 0; n < 150; n++ {
		var q AuditQuery
		for k := 1 + r.IntN(3); k > 0; k-- {
			switch r.IntN(7) {
			case 0:
				q.Actor = actors[r.IntN(len(actors))]
			case 1:
				q.ActorPartnerID = partners[r.IntN(len(partners))]
			case 2:
				q.CustomerID = customers[r.IntN(len(customers))]
			case 3:
				q.PartnerID = partners[r.IntN(len(partners))]
			case 4:
				q.Types = []string{EventTypes[r.IntN(len(EventTypes))], EventTypes[r.IntN(len(EventTypes))]}
			case 5:
				i := r.IntN(len(all))
				if r.IntN(2) == 0 {
					q.From = AsOf{Position: &all[i].Position}
				} else {
					q.From = AsOf{Time: &times[i]}
				}
			default:
				i := r.IntN(len(all))
				if r.IntN(2) == 0 {
					q.To = AsOf{Position: &all[i].Position}
				} else {
					q.To = AsOf{Time: &times[i]}
				}
			}
		}
		var want []leaf.Event
		for i, e := range ref {
			switch {
			case q.Actor != "" && e.Actor.Name != q.Actor,
				q.ActorPartnerID != "" && e.Actor.PartnerID != q.ActorPartnerID,
				q.CustomerID != "" && !about(e, q.CustomerID, ""),
				q.PartnerID != "" && !about(e, "", q.PartnerID),
				len(q.Types) > 0 && !containsString(q.Types, e.Type),
				q.From.Position != nil && all[i].Position.Less(*q.From.Position),
				q.From.Time != nil && times[i].Before(*q.From.Time),
				q.To.Position != nil && !all[i].Position.Less(*q.To.Position),
				q.To.Time != nil && !times[i].Before(*q.To.Time):
				continue
			}
			want = append(want, e)
		}
		q.Limit = 1 + r.IntN(8)
		var got []leaf.Event
		for pages := 0; ; pages++ {
			p, err := m.AuditEvents(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, p.Events...)
			if p.NextAfter == "" {
				break
			}
			after, err := eventstore.ParsePosition(p.NextAfter)
			if err != nil || pages > 1000 {
				t.Fatalf("next_after %q: %v", p.NextAfter, err)
			}
			q.After = &after
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("query %+v: got %d events, want %d", q, len(got), len(want))
		}
	}
}
