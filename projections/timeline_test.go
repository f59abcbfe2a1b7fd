package projections

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

// replayTimelines is the timelines' meaning: the log replayed one event at a time, each customer's
// effective state read after every event, a new interval wherever it changed.
func replayTimelines(t *testing.T, evs []eventstore.RecordedEvent, customers []string) map[string][]TimelineInterval {
	t.Helper()
	m := modelOf(nil)
	out := map[string][]TimelineInterval{}
	for i := range evs {
		m.applyLocked(m.st, evs[i:i+1])
		var md domain.Metadata
		if err := decodeMeta(evs[i].Metadata, &md); err != nil {
			t.Fatal(err)
		}
		var d struct {
			CustomerID string `json:"customer_id"`
			PartnerID  string `json:"partner_id"`
			Reason     *string
		}
		json.Unmarshal(evs[i].Data, &d)
		for _, id := range customers {
			st, err := m.Status(id, AsOf{})
			if err != nil {
				continue
			}
			ivs := out[id]
			if n := len(ivs); n > 0 && ivs[n-1].EffectiveState == st.EffectiveState &&
				deref(ivs[n-1].EffectiveFreezeType) == deref(st.EffectiveFreezeType) && deref(ivs[n-1].EffectiveOrigin) == deref(st.EffectiveOrigin) {
				continue
			}
			from := fmtTime(md.Time.UnixNano())
			if n := len(ivs); n > 0 {
				ivs[n-1].To = &from
			}
			cause := TimelineCause{Kind: CauseOwn, Index: uint64(i), Position: evs[i].Position.String(), EventType: evs[i].Type, Actor: md.Actor.Name, Reason: d.Reason}
			if d.CustomerID != id {
				cause.Kind, cause.PartnerID = CausePartner, d.PartnerID
			}
			out[id] = append(ivs, TimelineInterval{From: from, EffectiveState: st.EffectiveState,
				EffectiveFreezeType: st.EffectiveFreezeType, EffectiveOrigin: st.EffectiveOrigin, Cause: cause})
		}
	}
	return out
}

// Timelines equal the sequence of effective states obtained by replaying the log event by event,
// cascades (a partner's or distributor's freeze and unfreeze) included.
func TestTimelineEqualsEventByEventReplay(t *testing.T) {
	for _, seed := range []uint64{4, 9} {
		l := newLedger(t)
		customers, _ := randomLog(l, seed, 200)
		evs := readAll(t, l.store)
		full := modelOf(evs)
		want := replayTimelines(t, evs, customers)
		cascades := 0
		for _, id := range customers {
			tl, err := full.Timeline(id)
			if err != nil {
				t.Fatal(err)
			}
			if tl.CustomerID != id || !reflect.DeepEqual(tl.Intervals, want[id]) {
				g, _ := json.Marshal(tl.Intervals)
				w, _ := json.Marshal(want[id])
				t.Fatalf("seed %d: timeline of %s:\n got %s\nwant %s", seed, id, g, w)
			}
			for _, iv := range tl.Intervals {
				if iv.Cause.Kind == CausePartner {
					cascades++
				}
			}
		}
		if cascades == 0 {
			t.Fatalf("seed %d: no interval began with a partner's event", seed)
		}
	}
	if _, err := modelOf(nil).Timeline("nobody"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("unknown customer: %v", err)
	}
}

// BenchmarkTimeline10kEvents: the timeline of a customer with 10,000 events of its own and 200
// freezes and unfreezes of its reseller and distributor (target: < 20 ms).
func BenchmarkTimeline10kEvents(b *testing.B) {
	l := newLedger(b)
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	l.registerPartner("res-1", domain.PartnerReseller, "dist-1")
	l.associate("c-1", "res-1", "dist-1", nil, "")
	var evs []ev
	for i := 0; i < 5_000; i++ {
		evs = append(evs, ev{domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-1", UnfreezeType: domain.FreezeAccount, Reason: "paid"}},
			ev{domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: "c-1", FreezeType: domain.FreezeAccount, Origin: domain.OriginManual, Reason: "overdue"}})
		if i%50 == 0 {
			l.append(l.channel("res-1"), opsOf("dist-1"), evs...)
			evs = evs[:0]
			l.freezePartner([]string{"res-1", "dist-1"}[i/50%2], platform, "audit")
			l.unfreezePartner([]string{"res-1", "dist-1"}[i/50%2], platform, "done")
		}
	}
	pos := l.append(l.channel("res-1"), opsOf("dist-1"), evs...)
	m := modelOf(readAll(b, l.store))
	if m.Applied() != pos {
		b.Fatal("not applied")
	}
	b.ReportAllocs()
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		tl, err := m.Timeline("c-1")
		if err != nil {
			b.Fatal(err)
		}
		n = len(tl.Intervals)
	}
	b.ReportMetric(float64(n), "intervals")
}
