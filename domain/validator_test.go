package domain_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
)

// crafted builds events to append to a good history by hand.
type crafted struct {
	t    *testing.T
	good []domain.StoredEvent
	revs map[string]uint64
	at   time.Time
}

func newCrafted(t *testing.T, good []domain.StoredEvent, at time.Time) *crafted {
	c := &crafted{t: t, good: good, revs: map[string]uint64{}, at: at}
	for _, ev := range good {
		c.revs[ev.Stream] = ev.Revision + 1
	}
	return c
}

// ev makes the next event of stream with the given payload and actor.
func (c *crafted) ev(stream, typ string, data any, a domain.Actor, mutate ...func(*domain.StoredEvent)) domain.StoredEvent {
	c.t.Helper()
	d, err := json.Marshal(data)
	if err != nil {
		c.t.Fatal(err)
	}
	m, _ := json.Marshal(domain.Metadata{SchemaVersion: domain.SchemaVersions[typ], Actor: a, Time: c.at})
	ev := domain.StoredEvent{ID: uuid.New(), Type: typ, Stream: stream, Revision: c.revs[stream], Data: d, Metadata: m}
	c.revs[stream]++
	for _, f := range mutate {
		f(&ev)
	}
	return ev
}

func (c *crafted) history(extra ...domain.StoredEvent) []domain.StoredEvent {
	out := append([]domain.StoredEvent(nil), c.good...)
	out = append(out, extra...)
	for i := range out {
		out[i].Position = strconv.Itoa(i + 1)
	}
	return out
}

func TestValidatorRejectsBadHistories(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(deleg(op("dist-1"), "res-1", true, false), freezeP(op("dist-1"), "res-1"))
	f.must(freeze(op("dist-1"), "c-d", anr))
	good := f.log.All()
	if err := domain.ValidateHistory(good, domain.HistoryOptions{Retention: f.opts.Retention}); err != nil {
		t.Fatalf("good history rejected: %v", err)
	}
	at := t0.Add(time.Hour)
	ch1, ch2 := domain.ChannelStream("dist-1"), domain.ChannelStream("dist-2")
	cases := []struct {
		name  string
		extra func(c *crafted) []domain.StoredEvent
		rule  string
	}{
		{"a frozen reseller unfreezes a customer (rule 3 in log order)", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-r1", UnfreezeType: acct, Reason: "x"}, op("res-1"))}
		}, "rule 3"},
		{"a reseller without delegation freezes (rule 2)", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-r2", UnfreezeType: acct, Reason: "x"}, op("res-2"))}
		}, "rule 2"},
		{"the platform freezes a customer (rule 2)", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-r2", UnfreezeType: acct, Reason: "x"}, platform)}
		}, "rule 2"},
		{"an auditor writes", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-r2", UnfreezeType: acct, Reason: "x"}, auditor)}
		}, "forbidden"},
		{"an empty reason (rule 4)", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-r2", UnfreezeType: acct, Reason: " "}, op("dist-1"))}
		}, "rule 4"},
		{"unfreeze type differs (rule 5)", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-r2", UnfreezeType: anr, Reason: "x"}, op("dist-1"))}
		}, "rule 5"},
		{"a second freeze with the same type (rule 5)", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: "c-r2", FreezeType: acct, Origin: domain.OriginManual, Reason: "x"}, op("dist-1"))}
		}, "rule 5"},
		{"a reseller grants itself (rule 6)", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventPartnerDelegationGranted, domain.PartnerDelegationGranted{PartnerID: "res-2", Permissions: []domain.Permission{domain.PermissionFreeze}}, op("res-2"))}
		}, "rule 6"},
		{"a distributor freezes another channel's partner (rule 7)", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventPartnerFrozen, domain.PartnerFrozen{PartnerID: "dist-1", Reason: "x"}, op("dist-1"))}
		}, "rule 7"},
		{"resources released before the deadline (rule 8)", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerResourcesRelease, domain.CustomerResourcesReleased{CustomerID: "c-d", FrozenAt: t0, Reason: domain.ReleaseReason}, domain.SystemActor)}
		}, "rule 8"},
		{"resources released by a partner (rule 8)", func(c *crafted) []domain.StoredEvent {
			c.at = t0.Add(20 * 24 * time.Hour)
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerResourcesRelease, domain.CustomerResourcesReleased{CustomerID: "c-d", FrozenAt: t0, Reason: domain.ReleaseReason}, op("dist-1"))}
		}, "rule 8"},
		{"resources released twice (rule 8)", func(c *crafted) []domain.StoredEvent {
			c.at = t0.Add(20 * 24 * time.Hour)
			r := domain.CustomerResourcesReleased{CustomerID: "c-d", FrozenAt: t0, Reason: domain.ReleaseReason}
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerResourcesRelease, r, domain.SystemActor), c.ev(ch1, domain.EventCustomerResourcesRelease, r, domain.SystemActor)}
		}, "rule 8"},
		{"a wrong retention deadline (data)", func(c *crafted) []domain.StoredEvent {
			d := at.Add(time.Hour)
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: "c-r2", FreezeType: anr, PreviousFreezeType: acct, Origin: domain.OriginManual, Reason: "x", RetentionDeadline: &d}, op("dist-1"))}
		}, "data"},
		{"an association without a reservation (rule 10)", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch2, domain.EventCustomerAssociated, domain.CustomerAssociated{CustomerID: "c-x", Name: "X", PartnerID: "dist-2"}, op("dist-2"))}
		}, "rule 10"},
		{"a second channel associates an associated customer (rule 10)", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch2, domain.EventCustomerAssociated, domain.CustomerAssociated{CustomerID: "c-d", Name: "X", PartnerID: "dist-2"}, op("dist-2"))}
		}, "rule 10"},
		{"a reservation of a taken ID (rule 10)", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(domain.ReservationStream("customer", "c-d"), domain.EventIDReserved, domain.IDReserved{Kind: "customer", ID: "c-d", Channel: ch2}, domain.SystemActor)}
		}, "rule 10"},
		{"a reservation taken without the holder's release (rule 10)", func(c *crafted) []domain.StoredEvent {
			rs := domain.ReservationStream("customer", "c-x")
			return []domain.StoredEvent{
				c.ev(rs, domain.EventIDReserved, domain.IDReserved{Kind: "customer", ID: "c-x", Channel: ch1}, domain.SystemActor),
				c.ev(rs, domain.EventIDReserved, domain.IDReserved{Kind: "customer", ID: "c-x", Channel: ch2}, domain.SystemActor),
			}
		}, "rule 10"},
		{"an association after its reservation was released (rule 10)", func(c *crafted) []domain.StoredEvent {
			rs := domain.ReservationStream("customer", "c-x")
			return []domain.StoredEvent{
				c.ev(rs, domain.EventIDReserved, domain.IDReserved{Kind: "customer", ID: "c-x", Channel: ch2}, domain.SystemActor),
				c.ev(ch2, domain.EventIDReservationReleased, domain.IDReservationReleased{Kind: "customer", ID: "c-x", Channel: ch2, Reason: "r", ReservationRevision: 0}, domain.SystemActor),
				c.ev(ch2, domain.EventCustomerAssociated, domain.CustomerAssociated{CustomerID: "c-x", Name: "X", PartnerID: "dist-2"}, op("dist-2")),
			}
		}, "rule 10"},
		{"an association not followed by its freeze (rule 1)", func(c *crafted) []domain.StoredEvent {
			rs := domain.ReservationStream("customer", "c-x")
			return []domain.StoredEvent{
				c.ev(rs, domain.EventIDReserved, domain.IDReserved{Kind: "customer", ID: "c-x", Channel: ch2}, domain.SystemActor),
				c.ev(ch2, domain.EventCustomerAssociated, domain.CustomerAssociated{CustomerID: "c-x", Name: "X", PartnerID: "dist-2"}, op("dist-2")),
				c.ev(ch2, domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-x", UnfreezeType: acct, Reason: "x"}, op("dist-2")),
			}
		}, "rule 1"},
		{"an association freeze on its own (rule 1)", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch2, domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: "c-r3", FreezeType: anr, Origin: domain.OriginAssociation, Reason: "x"}, op("dist-2"))}
		}, "rule 1"},
		{"a revision gap", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-r2", UnfreezeType: acct, Reason: "x"}, op("dist-1"), func(e *domain.StoredEvent) { e.Revision++ })}
		}, "revision"},
		{"malformed metadata", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-r2", UnfreezeType: acct, Reason: "x"}, op("dist-1"), func(e *domain.StoredEvent) { e.Metadata = []byte(`{"actor":`) })}
		}, "metadata"},
		{"a wrong schema version", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-r2", UnfreezeType: acct, Reason: "x"}, op("dist-1"), func(e *domain.StoredEvent) {
				e.Metadata = []byte(`{"schema_version":7,"actor":{"name":"ops-dist-1","role":"partner","partner_id":"dist-1"},"time":"2026-11-01T09:00:00Z"}`)
			})}
		}, "metadata"},
		{"malformed data", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{}, op("dist-1"), func(e *domain.StoredEvent) { e.Data = []byte(`[1,2]`) })}
		}, "data"},
		{"an origin the command cannot produce", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev(ch1, domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: "c-r2", FreezeType: anr, PreviousFreezeType: acct, Origin: domain.OriginBudget, Reason: "x"}, op("dist-1"))}
		}, "data"},
		{"an unknown stream", func(c *crafted) []domain.StoredEvent {
			return []domain.StoredEvent{c.ev("misc", domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-r2", UnfreezeType: acct, Reason: "x"}, op("dist-1"))}
		}, "stream"},
		{"an idempotency key reused for another command", func(c *crafted) []domain.StoredEvent {
			withKey := func(hash string) func(*domain.StoredEvent) {
				return func(e *domain.StoredEvent) {
					var m domain.Metadata
					_ = json.Unmarshal(e.Metadata, &m)
					m.IdempotencyKey, m.CommandHash = "k", hash
					e.Metadata, _ = json.Marshal(m)
				}
			}
			return []domain.StoredEvent{
				c.ev(ch1, domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: "c-r2", UnfreezeType: acct, Reason: "x"}, op("dist-1"), withKey("aaaa")),
				c.ev(ch1, domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: "c-r2", FreezeType: acct, Origin: domain.OriginManual, Reason: "x"}, op("dist-1"), withKey("bbbb")),
			}
		}, "idempotency"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCrafted(t, good, at)
			extra := tc.extra(c)
			h := c.history(extra...)
			err := domain.ValidateHistory(h, domain.HistoryOptions{Retention: f.opts.Retention})
			var v *domain.Violation
			if !errors.As(err, &v) {
				t.Fatalf("accepted (or not a *Violation): %v", err)
			}
			if v.Rule != tc.rule {
				t.Errorf("violation %q, want rule %q: %v", v.Rule, tc.rule, v)
			}
			if pos, err := strconv.Atoi(v.Position); err != nil || pos <= len(good) || v.EventID == uuid.Nil || v.Type == "" {
				t.Errorf("violation does not say where (after the good history of %d events): %+v", len(good), v)
			}
		})
	}
}

// TestValidatorReplayIsDeterministic: replaying a history twice gives the same state, equal to the
// service's own.
func TestValidatorReplayIsDeterministic(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(freeze(op("dist-1"), "c-d", anr), deleg(op("dist-1"), "res-1", true, true), freezeP(platform, "sp-1"))
	states := make([]map[string]domain.ChannelState, 2)
	for i := range states {
		v := domain.NewHistoryValidator(domain.HistoryOptions{})
		for _, ev := range f.log.All() {
			if err := v.Check(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := v.Finish(); err != nil {
			t.Fatal(err)
		}
		if v.Checked() != len(f.log.All()) {
			t.Fatalf("checked %d of %d", v.Checked(), len(f.log.All()))
		}
		states[i] = v.State()
	}
	if !reflect.DeepEqual(states[0], states[1]) {
		t.Fatal("two replays differ")
	}
	st := states[0][domain.ChannelStream("dist-1")]
	for _, cu := range st.Customers {
		got := f.customer(cu.ID)
		if !reflect.DeepEqual(got, cu) {
			t.Errorf("customer %s: service %+v, validator %+v", cu.ID, got, cu)
		}
	}
}
