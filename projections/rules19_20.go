package projections

// The read models' part of rules 19 and 20: each partner's verification switch (PartnerStatus's
// verification_required) and each customer's disassociation requests (CustomerStatus's associated
// and disassociation), both as transitions by leaf so that as_of reads see them as they were.
// These events are rare, so they are decoded with encoding/json and kept in maps beside the
// compact state; the accepted disassociation is also a customer transition (kindDisassociated),
// which ends the own freeze and the cascade in every read.

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

// DisassociationInfo is a customer's latest disassociation request (docs/HTTP-API.md): who asked,
// when and why, its state (pending, accepted, rejected, lapsed), the answer (null while pending) and
// when it lapses.
type DisassociationInfo struct {
	RequestedBy  RequestedBy `json:"requested_by"`
	RequestedAt  string      `json:"requested_at"`
	Reason       string      `json:"reason"`
	State        string      `json:"state"`
	AnsweredAt   *string     `json:"answered_at"`
	AnswerReason *string     `json:"answer_reason"`
	ExpiresAt    string      `json:"expires_at"`
}

// RequestedBy is the actor who asked for a disassociation.
type RequestedBy struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	PartnerID string `json:"partner_id,omitempty"`
}

type rules1920State struct {
	verif map[uint32][]verifTrans // partner index -> its switches, in log order
	dis   map[uint32][]disTrans   // customer index -> its disassociation events, in log order
}

type verifTrans struct {
	leaf    uint32
	enabled bool
}

// disTrans is one disassociation event: kind is its event type.
type disTrans struct {
	leaf    uint32
	time    int64
	kind    string
	actor   domain.Actor
	reason  string
	expires int64 // a request's expiry
}

func (r *rules1920State) verificationAt(pi, cut uint32) bool {
	on := false
	for _, t := range r.verif[pi] {
		if t.leaf >= cut {
			break
		}
		on = t.enabled
	}
	return on
}

// applyRules19And20 applies a partner.verification_set or a disassociation event at leaf.
func (s *state) applyRules19And20(rec *eventstore.RecordedEvent, leaf uint32, t int64, actor uint32) error {
	if rec.Type == domain.EventPartnerVerificationSet {
		var d domain.PartnerVerificationSet
		if err := json.Unmarshal(rec.Data, &d); err != nil || d.PartnerID == "" {
			return fmt.Errorf("malformed %s data", rec.Type)
		}
		pi := s.partnerRef([]byte(d.PartnerID), leaf, t)
		if s.rules1920.verif == nil {
			s.rules1920.verif = map[uint32][]verifTrans{}
		}
		s.rules1920.verif[pi] = append(s.rules1920.verif[pi], verifTrans{leaf: leaf, enabled: d.Enabled})
		s.addPartnerHist(pi, leaf)
		return nil
	}
	var d struct {
		CustomerID string  `json:"customer_id"`
		Reason     string  `json:"reason"`
		ExpiresAt  *string `json:"expires_at"`
	}
	var m struct {
		Actor domain.Actor `json:"actor"`
	}
	if err := json.Unmarshal(rec.Data, &d); err != nil || d.CustomerID == "" {
		return fmt.Errorf("malformed %s data", rec.Type)
	}
	_ = json.Unmarshal(rec.Metadata, &m) // the actor is for display; apply has checked the metadata's time
	ci, ok := s.lookup(d.CustomerID)
	if !ok {
		return fmt.Errorf("unknown customer %q", d.CustomerID)
	}
	tr := disTrans{leaf: leaf, time: t, kind: rec.Type, actor: m.Actor, reason: d.Reason}
	if d.ExpiresAt != nil {
		ns, err := parseTime([]byte(`"` + *d.ExpiresAt + `"`))
		if err != nil {
			return errors.New("malformed expires_at")
		}
		tr.expires = ns
	}
	if s.rules1920.dis == nil {
		s.rules1920.dis = map[uint32][]disTrans{}
	}
	s.rules1920.dis[ci] = append(s.rules1920.dis[ci], tr)
	c := &s.customers[ci]
	if rec.Type == domain.EventDisassociationAccepted {
		// The association ends: the customer leaves its partner's lists (searches by partner, scope)
		// and its own freeze ends (a transition, so history and time travel see it).
		if c.partner != noPartner {
			p := &s.partners[c.partner]
			p.customers = removeSorted(p.customers, ci)
			if p.parent != noPartner {
				s.partners[p.parent].resold = removeSorted(s.partners[p.parent].resold, ci)
			}
		}
		s.addTrans(c, ctrans{time: t, leaf: leaf, actor: actor, reason: s.internString(d.Reason), kind: kindDisassociated})
		// Its budget ends with it (the billing model gives the amount back to the reseller's quota).
		if err := s.billingFold(billingEvt{leaf: leaf, at: t, actor: m.Actor.Name, typ: rec.Type,
			data: &domain.DisassociationAccepted{CustomerID: d.CustomerID, Reason: d.Reason}}); err != nil {
			return err
		}
	}
	s.addPartnerHist(c.partner, leaf)
	return nil
}

// rules1920Status fills the status's association fields as of the view's cut: associated, the
// latest disassociation request; a disassociated customer has no manager and no cascade. A
// request, rejection or lapse later than the view's other changes is the status's position.
func (s *state) rules1920Status(st *CustomerStatus, v *view) {
	st.Associated = !v.own.disassociated
	if v.own.disassociated {
		st.ManagedBy = ""
	}
	trs := s.rules1920.dis[v.ci]
	var info *DisassociationInfo
	for i := range trs {
		t := &trs[i]
		if t.leaf >= v.cut {
			break
		}
		if t.leaf > v.lastLeaf {
			v.lastLeaf = t.leaf
			st.Position = s.pos.at(t.leaf).String()
		}
		switch t.kind {
		case domain.EventDisassociationRequested:
			info = &DisassociationInfo{
				RequestedBy: RequestedBy{Name: t.actor.Name, Role: string(t.actor.Role), PartnerID: t.actor.PartnerID},
				RequestedAt: fmtTime(t.time), Reason: t.reason, State: domain.DisassociationStatePending, ExpiresAt: fmtTime(t.expires),
			}
		default:
			if info == nil {
				continue
			}
			state := domain.DisassociationStateLapsed
			switch t.kind {
			case domain.EventDisassociationAccepted:
				state = domain.DisassociationStateAccepted
			case domain.EventDisassociationRejected:
				state = domain.DisassociationStateRejected
			}
			reason := t.reason
			info.State, info.AnsweredAt, info.AnswerReason = state, fmtTimePtr(t.time), &reason
		}
	}
	st.Disassociation = info
}

// encodeRules1920 and decodeRules1920 write and read the maps into checkpoints, in index order.
func encodeRules1920(e *encoder, r *rules1920State) {
	keys := sortedKeys(r.verif)
	e.u(uint64(len(keys)))
	for _, k := range keys {
		e.u(uint64(k))
		e.u(uint64(len(r.verif[k])))
		for _, t := range r.verif[k] {
			e.u(uint64(t.leaf))
			if t.enabled {
				e.u(1)
			} else {
				e.u(0)
			}
		}
	}
	keys = sortedKeys(r.dis)
	e.u(uint64(len(keys)))
	for _, k := range keys {
		e.u(uint64(k))
		e.u(uint64(len(r.dis[k])))
		for _, t := range r.dis[k] {
			e.u(uint64(t.leaf))
			e.i(t.time)
			e.s(t.kind)
			e.s(t.actor.Name)
			e.s(string(t.actor.Role))
			e.s(t.actor.PartnerID)
			e.s(t.reason)
			e.i(t.expires)
		}
	}
}

func decodeRules1920(d *decoder, r *rules1920State) {
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		k := d.u32()
		m := d.count()
		for j := 0; j < m && d.err == nil; j++ {
			if r.verif == nil {
				r.verif = map[uint32][]verifTrans{}
			}
			r.verif[k] = append(r.verif[k], verifTrans{leaf: d.u32(), enabled: d.u() == 1})
		}
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		k := d.u32()
		m := d.count()
		for j := 0; j < m && d.err == nil; j++ {
			t := disTrans{leaf: d.u32(), time: d.i(), kind: d.s()}
			t.actor = domain.Actor{Name: d.s(), Role: domain.Role(d.s()), PartnerID: d.s()}
			t.reason, t.expires = d.s(), d.i()
			if r.dis == nil {
				r.dis = map[uint32][]disTrans{}
			}
			r.dis[k] = append(r.dis[k], t)
		}
	}
}

func sortedKeys[V any](m map[uint32]V) []uint32 {
	out := make([]uint32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// validate checks a decoded checkpoint's references: np partners, nc customers, nl leaves.
func (r *rules1920State) validate(np, nc, nl uint32) error {
	for k, ts := range r.verif {
		for _, t := range ts {
			if k >= np || t.leaf >= nl {
				return errors.New("verification switch out of range")
			}
		}
	}
	for k, ts := range r.dis {
		for _, t := range ts {
			if k >= nc || t.leaf >= nl {
				return errors.New("disassociation out of range")
			}
		}
	}
	return nil
}

// customerLeaves are the leaves of every event about customer ci, ascending: its transitions and
// its disassociation requests, rejections and lapses (an acceptance is both, once).
func (s *state) customerLeaves(ci uint32) []uint32 {
	tr := s.transOf(&s.customers[ci])
	dis := s.rules1920.dis[ci]
	out := make([]uint32, 0, len(tr)+len(dis))
	i, j := 0, 0
	for i < len(tr) || j < len(dis) {
		switch {
		case j == len(dis) || (i < len(tr) && tr[i].leaf < dis[j].leaf):
			out = append(out, tr[i].leaf)
			i++
		case i == len(tr) || dis[j].leaf < tr[i].leaf:
			out = append(out, dis[j].leaf)
			j++
		default: // the same leaf (an acceptance)
			out = append(out, tr[i].leaf)
			i, j = i+1, j+1
		}
	}
	return out
}
