package console

import (
	"encoding/json"
	"testing"
)

func ev(pos, typ, at string, data map[string]any) event {
	b, _ := json.Marshal(data)
	return event{Position: pos, Type: typ, Time: at, Actor: actor{Name: "ops", Role: "partner", PartnerID: "dist-1"}, Data: b}
}

func TestTimelineFromHistory(t *testing.T) {
	evs := []event{
		ev("1", "customer.associated", "2026-11-01T08:00:00Z", map[string]any{"partner_id": "dist-1"}),
		ev("2", "customer.frozen", "2026-11-01T08:00:00Z", map[string]any{"freeze_type": "ACCOUNT", "origin": "association", "reason": "new customer"}),
		ev("5", "customer.unfrozen", "2026-11-02T09:00:00Z", map[string]any{"unfreeze_type": "ACCOUNT", "reason": "verified"}),
		ev("7", "customer.frozen", "2026-11-03T10:00:00Z", map[string]any{"freeze_type": "ACCOUNT", "origin": "manual", "reason": "overdue invoice"}),
		ev("8", "customer.frozen", "2026-11-04T10:00:00Z", map[string]any{"freeze_type": "ACCOUNT_AND_RESOURCE", "previous_freeze_type": "ACCOUNT", "origin": "manual", "reason": "still overdue"}),
	}
	got := timelineFromHistory(evs)
	want := []interval{
		{From: "2026-11-01T08:00:00Z", To: "2026-11-02T09:00:00Z", FromPosition: "2", State: "FROZEN", FreezeType: "ACCOUNT", Origin: "association", Reason: "new customer"},
		{From: "2026-11-02T09:00:00Z", To: "2026-11-03T10:00:00Z", FromPosition: "5", State: "ACTIVE", Reason: "verified"},
		{From: "2026-11-03T10:00:00Z", To: "2026-11-04T10:00:00Z", FromPosition: "7", State: "FROZEN", FreezeType: "ACCOUNT", Origin: "manual", Reason: "overdue invoice"},
		{From: "2026-11-04T10:00:00Z", FromPosition: "8", State: "FROZEN", FreezeType: "ACCOUNT_AND_RESOURCE", Origin: "manual", Reason: "still overdue"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d intervals, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g := got[i]
		if g.From != want[i].From || g.To != want[i].To || g.FromPosition != want[i].FromPosition || g.State != want[i].State ||
			g.FreezeType != want[i].FreezeType || g.Origin != want[i].Origin || g.Reason != want[i].Reason || g.Cause != "own" || g.Actor == "" {
			t.Errorf("interval %d = %+v, want %+v", i, g, want[i])
		}
	}
	if up := eventsUpTo(evs, "position:5"); len(up) != 3 {
		t.Errorf("events up to position 5: %d, want 3", len(up))
	}
	if up := eventsUpTo(evs, "2026-11-03T10:00:00Z"); len(up) != 4 {
		t.Errorf("events up to 2026-11-03T10:00:00Z: %d, want 4", len(up))
	}
}

func TestNormalizeAsOf(t *testing.T) {
	for in, want := range map[string]string{
		"2026-11-26T10:00":     "2026-11-26T10:00:00Z",
		"2026-11-26T10:00:05":  "2026-11-26T10:00:05Z",
		" position:42 ":        "position:42",
		"2026-11-26T10:00:00Z": "2026-11-26T10:00:00Z",
	} {
		if got := normalizeAsOf(in); got != want {
			t.Errorf("normalizeAsOf(%q) = %q, want %q", in, got, want)
		}
	}
}
