package console

import "encoding/json"

// interval is one stretch of a customer's timeline: the state it was in from one event to the next.
type interval struct {
	From         string // time the interval began
	To           string // time it ended; "" for the interval still running (at the moment shown)
	FromPosition string // position of the event that began it
	State        string // ACTIVE or FROZEN
	FreezeType   string
	Origin       string
	Cause        string // own, partner (a cascade: a partner above the customer froze or unfroze) or none
	CausePartner string
	EventType    string
	Actor        string
	Reason       string
	Cascade      bool   // it began with a partner's freeze or unfreeze (rule 7)
	FromWhen     string // From and To as the page shows them
	ToWhen       string
}

// withDisplay fills in the fields the page shows, worked out once before rendering.
func withDisplay(ivs []interval) []interval {
	for i := range ivs {
		ivs[i].Cascade = ivs[i].Cause == "partner"
		ivs[i].FromWhen, ivs[i].ToWhen = when(ivs[i].From), when(ivs[i].To)
	}
	return ivs
}

// timelineFromHistory derives the customer's own state intervals from its own events, oldest first:
// each association, freeze, upgrade, unfreeze and resource release begins an interval. A partner's
// freeze above the customer (rule 7) is not among the customer's own events, so these intervals show
// the customer's own state; the API's timeline route, when it exists, gives the effective ones with
// cascades (features.Timeline).
func timelineFromHistory(evs []event) []interval {
	var out []interval
	state, ftype, origin := "", "", ""
	for _, e := range evs {
		d := e.data()
		switch e.Type {
		case "customer.associated":
			state, ftype, origin = "ACTIVE", "", ""
		case "customer.frozen":
			state, ftype, origin = "FROZEN", d.FreezeType, d.Origin
		case "customer.unfrozen":
			state, ftype, origin = "ACTIVE", "", ""
		case "customer.resources_released":
			// still frozen, same type: the interval records the release
		default:
			continue
		}
		if n := len(out); n > 0 {
			out[n-1].To = e.Time
			if out[n-1].From == e.Time && out[n-1].EventType == "customer.associated" {
				// The association and its default freeze are one append (rule 1): one interval.
				out = out[:n-1]
			}
		}
		out = append(out, interval{
			From: e.Time, FromPosition: e.Position, State: state, FreezeType: ftype, Origin: origin,
			Cause: "own", EventType: e.Type, Actor: e.Actor.String(), Reason: d.Reason,
		})
	}
	return out
}

// timelineAnswer is GET /v1/customers/{id}/timeline (shared/API.md, "Compliance queries").
type timelineAnswer struct {
	Intervals []struct {
		From                string  `json:"from"`
		To                  *string `json:"to"`
		EffectiveState      string  `json:"effective_state"`
		EffectiveFreezeType *string `json:"effective_freeze_type"`
		EffectiveOrigin     *string `json:"effective_origin"`
		Cause               struct {
			Kind      string          `json:"kind"`
			PartnerID string          `json:"partner_id"`
			Position  string          `json:"position"`
			EventType string          `json:"event_type"`
			Actor     json.RawMessage `json:"actor"`
			Reason    string          `json:"reason"`
		} `json:"cause"`
	} `json:"intervals"`
}

// intervals converts the API's timeline to the console's intervals. The API's first interval of an
// association lasts until the default freeze of the same append (rule 1); like timelineFromHistory,
// the console shows the two as one.
func (t timelineAnswer) intervals() []interval {
	out := make([]interval, 0, len(t.Intervals))
	for i, x := range t.Intervals {
		if x.Cause.EventType == "customer.associated" && x.To != nil && *x.To == x.From && i+1 < len(t.Intervals) {
			continue
		}
		iv := interval{From: x.From, FromPosition: x.Cause.Position, State: x.EffectiveState, Cause: x.Cause.Kind,
			CausePartner: x.Cause.PartnerID, EventType: x.Cause.EventType, Reason: x.Cause.Reason}
		if x.To != nil {
			iv.To = *x.To
		}
		if x.EffectiveFreezeType != nil {
			iv.FreezeType = *x.EffectiveFreezeType
		}
		if x.EffectiveOrigin != nil {
			iv.Origin = *x.EffectiveOrigin
		}
		var a actor
		if json.Unmarshal(x.Cause.Actor, &a) == nil {
			iv.Actor = a.String()
		} else {
			var s string
			_ = json.Unmarshal(x.Cause.Actor, &s)
			iv.Actor = s
		}
		out = append(out, iv)
	}
	return out
}
