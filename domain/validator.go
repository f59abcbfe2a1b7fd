package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Violation is an event that was not permitted at its position in the log.
type Violation struct {
	Position string
	EventID  uuid.UUID
	Type     string
	Stream   string
	Revision uint64
	Rule     string // "rule 3", "rule 10", "revision", "metadata", "data", "stream", "idempotency", ...
	Reason   string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("event %s (%s) at position %s, %s revision %d: %s: %s", v.EventID, v.Type, v.Position, v.Stream, v.Revision, v.Rule, v.Reason)
}

// HistoryOptions configure a HistoryValidator.
type HistoryOptions struct {
	// Retention is the retention the writer was configured with (rule 8): every ACCOUNT_AND_RESOURCE
	// freeze must record time + Retention as its deadline. Zero accepts any recorded deadline after
	// the freeze's time.
	Retention time.Duration
}

// HistoryValidator checks a log, event by event in global order (all streams interleaved, the
// reservation streams included), against the rules: every event must be one the command service could
// have appended at that point. It re-decides, against the state replayed so far, the command each
// event records (its actor from the metadata, its fields from the data, its time as "now") and
// requires the decision to produce exactly that event; and it checks what no single command sees:
// per-stream revisions without gaps, metadata, the association freeze following each association
// (rule 1), and the ID reservations (rule 10). It is not safe for concurrent use.
type HistoryValidator struct {
	opts      HistoryOptions
	channels  map[string]*Channel
	revs      map[string]uint64
	res       map[resID]*resState
	expect    map[string]expectedAssocFreeze // stream -> the association freeze that must come next
	keys      map[idemID][16]byte            // digest of stream, actor and idempotency key -> command hash
	follow    map[string][]expectedFollowUp  // stream -> the system follow-ups that must come next (rules 16, 17)
	checked   int
	lastValid string
}

type resState struct {
	holders  map[uint64]string // reservation revision -> holding channel stream
	current  uint64
	any      bool
	released map[uint64]bool
	taken    bool // the ID is registered or associated
}

type expectedAssocFreeze struct {
	data  []byte
	actor Actor
}

// NewHistoryValidator returns a validator for a log that starts empty.
func NewHistoryValidator(opts HistoryOptions) *HistoryValidator {
	return &HistoryValidator{
		opts:     opts,
		channels: map[string]*Channel{},
		revs:     map[string]uint64{},
		res:      map[resID]*resState{},
		expect:   map[string]expectedAssocFreeze{},
		keys:     map[idemID][16]byte{},
		follow:   map[string][]expectedFollowUp{},
	}
}

// ValidateHistory checks events, in global order, and returns the first *Violation, or nil.
func ValidateHistory(events []StoredEvent, opts HistoryOptions) error {
	v := NewHistoryValidator(opts)
	for i := range events {
		if err := v.Check(events[i]); err != nil {
			return err
		}
	}
	return v.Finish()
}

// Checked is how many events Check accepted.
func (v *HistoryValidator) Checked() int { return v.checked }

// Finish reports what can only be judged at the end: an association not followed by its freeze.
func (v *HistoryValidator) Finish() error {
	if err := v.finishFollowUps(); err != nil {
		return err
	}
	streams := make([]string, 0, len(v.expect))
	for stream := range v.expect {
		streams = append(streams, stream)
	}
	if len(streams) == 0 {
		return nil
	}
	slices.Sort(streams)
	return &Violation{Stream: streams[0], Rule: "rule 1", Reason: "the log ends after a customer.associated without its association freeze"}
}

// Check checks the next event of the log. It returns nil or a *Violation; a rejected event is not
// applied (the stream's revision still advances, so later events can be checked).
func (v *HistoryValidator) Check(ev StoredEvent) error {
	viol := func(rule, format string, args ...any) error {
		return &Violation{Position: ev.Position, EventID: ev.ID, Type: ev.Type, Stream: ev.Stream, Revision: ev.Revision, Rule: rule, Reason: fmt.Sprintf(format, args...)}
	}
	prev, seen := v.revs[ev.Stream]
	v.revs[ev.Stream] = ev.Revision
	if (seen && ev.Revision != prev+1) || (!seen && ev.Revision != 0) {
		if seen {
			return viol("revision", "revision %d follows %d in its stream", ev.Revision, prev)
		}
		return viol("revision", "the stream's first event has revision %d, not 0", ev.Revision)
	}
	if ev.ID == uuid.Nil {
		return viol("data", "the event has no ID")
	}
	version, known := SchemaVersions[ev.Type]
	if !known {
		return viol("data", "unknown event type %q", ev.Type)
	}
	var meta Metadata
	dec := json.NewDecoder(bytes.NewReader(ev.Metadata))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		return viol("metadata", "malformed metadata: %v", err)
	}
	switch {
	case meta.SchemaVersion != version:
		return viol("metadata", "schema_version %d, want %d", meta.SchemaVersion, version)
	case strings.TrimSpace(meta.Actor.Name) == "":
		return viol("metadata", "no actor name")
	case meta.Time.IsZero():
		return viol("metadata", "no time")
	}
	switch meta.Actor.Role {
	case RolePlatform, RolePartner, RoleAuditor, RoleReader, RoleSystem, RoleBilling, RoleCustomer:
	default:
		return viol("metadata", "unknown actor role %q", meta.Actor.Role)
	}
	if err := checkPhase2Metadata(&meta); err != "" {
		return viol("metadata", "%s", err)
	}
	data, err := DecodeData(ev.Type, ev.Data)
	if err != nil {
		return viol("data", "%v", err)
	}
	switch {
	case strings.HasPrefix(ev.Stream, ChannelStreamPrefix):
		if err := v.checkChannelEvent(&ev, &meta, data, viol); err != nil {
			return err
		}
	case strings.HasPrefix(ev.Stream, PartnerReservationStreamPrefix), strings.HasPrefix(ev.Stream, CustomerReservationStreamPrefix):
		if err := v.checkReservation(&ev, &meta, data, viol); err != nil {
			return err
		}
	default:
		return viol("stream", "stream %q is neither a channel nor a reservation stream", ev.Stream)
	}
	v.checked++
	v.lastValid = ev.Position
	return nil
}

func normalized(data any) []byte {
	b, _ := json.Marshal(data)
	return b
}

// resID names a reserved ID: its kind and the ID.
type resID struct {
	kind entityKind
	id   string
}

func (v *HistoryValidator) resOf(kind entityKind, id string) *resState {
	k := resID{kind, id}
	r := v.res[k]
	if r == nil {
		r = &resState{holders: map[uint64]string{}, released: map[uint64]bool{}}
		v.res[k] = r
	}
	return r
}

func (v *HistoryValidator) checkReservation(ev *StoredEvent, meta *Metadata, data any, viol func(string, string, ...any) error) error {
	d, ok := data.(*IDReserved)
	if !ok {
		return viol("rule 10", "a reservation stream holds only id.reserved events (releases are recorded in the holding channel)")
	}
	kind := kindCustomer
	if strings.HasPrefix(ev.Stream, PartnerReservationStreamPrefix) {
		kind = kindPartner
	}
	if d.Kind != kind.String() || kind.reservationStream(d.ID) != ev.Stream || !ValidID(d.ID) {
		return viol("rule 10", "reservation of %s %q does not belong in stream %s", d.Kind, d.ID, ev.Stream)
	}
	if !strings.HasPrefix(d.Channel, ChannelStreamPrefix) {
		return viol("rule 10", "reservation names %q, not a channel stream", d.Channel)
	}
	if meta.Actor.Role != RoleSystem {
		return viol("metadata", "reservations are made by the system actor, not %q", meta.Actor.Name)
	}
	r := v.resOf(kind, d.ID)
	if r.taken {
		return viol("rule 10", "%s %q is already taken; it cannot be reserved again", kind, d.ID)
	}
	if r.any && !r.released[r.current] {
		return viol("rule 10", "%s %q is still reserved by %s (revision %d), which did not release it", kind, d.ID, r.holders[r.current], r.current)
	}
	r.any, r.current = true, ev.Revision
	r.holders[ev.Revision] = d.Channel
	return nil
}

func (v *HistoryValidator) checkChannelEvent(ev *StoredEvent, meta *Metadata, data any, viol func(string, string, ...any) error) error {
	c := v.channels[ev.Stream]
	if c == nil {
		c = NewChannel(ev.Stream)
		v.channels[ev.Stream] = c
	}
	if exp, ok := v.expect[ev.Stream]; ok {
		if ev.Type != EventCustomerFrozen || !bytes.Equal(normalized(data), exp.data) || meta.Actor != exp.actor {
			return viol("rule 1", "a customer.associated must be followed in its stream by its association freeze (ACCOUNT, origin association)")
		}
		delete(v.expect, ev.Stream)
		c.apply(ev.Type, data, eventCtx{meta: meta, stored: ev})
		return nil
	}
	if handled, err := v.checkFollowUp(c, ev, meta, data, viol); handled {
		return err
	}
	if meta.IdempotencyKey != "" {
		k, hash := digest(ev.Stream, meta.Actor.Name, meta.IdempotencyKey), hashID(meta.CommandHash)
		if h, ok := v.keys[k]; ok && h != hash {
			return viol("idempotency", "idempotency key %q of %q was used for a different command before", meta.IdempotencyKey, meta.Actor.Name)
		}
		v.keys[k] = hash
	}
	m := metaOf(meta)
	now := meta.Time
	if criticalEvent(ev.Type) {
		if err := c.checkVerification(m); err != nil {
			return viol("rule 19", "not permitted here: %v", err)
		}
	}
	var produced []pendingEvent
	var err error
	var after func()
	var followUps func() []pendingEvent // computed after the event is applied
	switch d := data.(type) {
	case *PartnerRegistered:
		r := v.resOf(kindPartner, d.PartnerID)
		if !r.any || r.holders[r.current] != ev.Stream || r.released[r.current] || r.taken {
			return viol("rule 10", "partner %q is registered without %s holding its live reservation", d.PartnerID, ev.Stream)
		}
		produced, err = c.decideRegisterPartner(RegisterPartner{Meta: m, PartnerID: d.PartnerID, Name: d.Name, Type: d.Type, ParentID: d.ParentID})
		after = func() { r.taken = true }
	case *PartnerFrozen:
		produced, err = c.decideFreezePartner(FreezePartner{Meta: m, PartnerID: d.PartnerID, Reason: d.Reason})
	case *PartnerUnfrozen:
		produced, err = c.decideUnfreezePartner(UnfreezePartner{Meta: m, PartnerID: d.PartnerID, Reason: d.Reason})
	case *PartnerDelegationGranted, *PartnerDelegationRevoked:
		var id string
		var perms []Permission
		grant := false
		if g, ok := d.(*PartnerDelegationGranted); ok {
			id, perms, grant = g.PartnerID, g.Permissions, true
		} else {
			r := d.(*PartnerDelegationRevoked)
			id, perms = r.PartnerID, r.Permissions
		}
		var want Delegation
		if p := c.partners[id]; p != nil {
			want = p.Delegation
		}
		for _, perm := range perms {
			setPerm(&want, perm, grant)
		}
		produced, err = c.decideSetDelegation(SetDelegation{Meta: m, ResellerID: id, Freeze: want.Freeze, Budget: want.Budget})
	case *CustomerAssociated:
		r := v.resOf(kindCustomer, d.CustomerID)
		if !r.any || r.holders[r.current] != ev.Stream || r.released[r.current] || r.taken {
			return viol("rule 10", "customer %q is associated without %s holding its live reservation", d.CustomerID, ev.Stream)
		}
		produced, err = c.decideAssociate(AssociateCustomer{Meta: m, CustomerID: d.CustomerID, Name: d.Name, PartnerID: d.PartnerID, Tags: d.Tags, AccountManager: d.AccountManager, Personal: d.Personal}, r.current)
		if err == nil && len(produced) == 2 {
			freeze := produced[1]
			after = func() {
				r.taken = true
				v.expect[ev.Stream] = expectedAssocFreeze{data: normalized(freeze.Data), actor: meta.Actor}
			}
			produced = produced[:1]
		}
	case *CustomerFrozen:
		if d.Origin == OriginAssociation {
			return viol("rule 1", "an association freeze must directly follow its customer.associated")
		}
		if d.Origin == OriginBudget && meta.Actor.Role == RoleSystem {
			return viol("rule 17", "a budget freeze of customer %q must directly follow recorded spend that reached 100 %% of a budget with a freeze policy", d.CustomerID)
		}
		retention := v.opts.Retention
		if retention == 0 && d.RetentionDeadline != nil {
			retention = d.RetentionDeadline.Sub(now)
			if retention <= 0 {
				return viol("rule 8", "retention deadline %s is not after the freeze", d.RetentionDeadline.Format(time.RFC3339Nano))
			}
		}
		produced, err = c.decideFreezeCustomer(meta.Actor, d.CustomerID, d.Reason, d.FreezeType, now, retention)
	case *CustomerUnfrozen:
		produced, err = c.decideUnfreezeCustomer(meta.Actor, d.CustomerID, d.Reason, d.UnfreezeType)
	case *CustomerResourcesReleased:
		if meta.Actor.Role != RoleSystem {
			return viol("rule 8", "resources are released by the system actor, not %q", meta.Actor.Name)
		}
		produced, err = c.decideReleaseResources(d.CustomerID, now)
	case *IDReservationReleased:
		if meta.Actor.Role != RoleSystem {
			return viol("rule 10", "reservations are released by the system actor, not %q", meta.Actor.Name)
		}
		kind, ok := parseEntityKind(d.Kind)
		if !ok { // no reservation of another kind is ever held
			return viol("rule 10", "%s releases reservation %d of %s %q, which it never held", ev.Stream, d.ReservationRevision, d.Kind, d.ID)
		}
		r := v.resOf(kind, d.ID)
		if d.Channel != ev.Stream || r.holders[d.ReservationRevision] != ev.Stream {
			return viol("rule 10", "%s releases reservation %d of %s %q, which it never held", ev.Stream, d.ReservationRevision, d.Kind, d.ID)
		}
		produced, err = c.decideReleaseReservation(kind, d.ID, d.ReservationRevision, d.Reason)
		if err == nil && len(produced) == 0 {
			return viol("rule 10", "reservation %d of %s %q was already released", d.ReservationRevision, d.Kind, d.ID)
		}
		after = func() { r.released[d.ReservationRevision] = true }
	case *UsageRecorded, *ResourceReported, *ResourceRemoved, *BudgetSet, *BudgetRemoved, *BudgetThresholdReached, *BudgetReset, *PartnerQuotaSet:
		var refused error
		if produced, followUps, refused, err = v.decideBilling(c, meta, data, viol); refused != nil {
			return refused
		}
	case *CustomerPersonalDataChanged, *CustomerPersonalDataErased:
		produced, err = decidePersonalEvent(c, m, data)
	case *PartnerVerificationSet, *DisassociationRequested, *DisassociationAccepted, *DisassociationRejected, *DisassociationLapsed:
		var verr error
		if produced, after, err, verr = v.decideRules19And20(c, ev, m, now, data, viol); verr != nil {
			return verr
		}
	default:
		return viol("stream", "%s events do not belong in a channel stream", ev.Type)
	}
	if err != nil {
		return viol(ruleOf(err), "not permitted here: %v", err)
	}
	if len(produced) != 1 || produced[0].Type != ev.Type || !bytes.Equal(normalized(produced[0].Data), normalized(data)) {
		got := make([]string, len(produced))
		for i, p := range produced {
			got[i] = p.Type + " " + string(normalized(p.Data))
		}
		return viol("data", "the command it records decides %v, not %s %s", got, ev.Type, normalized(data))
	}
	if after != nil {
		after()
	}
	c.apply(ev.Type, data, eventCtx{meta: meta, stored: ev})
	if followUps != nil {
		v.expectFollowUps(ev.Stream, followUps())
	}
	return v.checkQuotas(c, data, viol)
}

// ruleOf extracts "rule N" from a refusal's message, or names the refusal's code.
func ruleOf(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "rule "); i >= 0 {
		j := i + len("rule ")
		for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
			j++
		}
		if j > i+len("rule ") {
			return msg[i:j]
		}
	}
	if code := ErrorCode(err); code != "" {
		return string(code)
	}
	return "invalid"
}

// ChannelState is a channel's replayed state, for comparisons and offline inspection.
type ChannelState struct {
	Revision  int64
	Partners  []Partner
	Customers []Customer
}

// State returns the replayed state of every channel stream, by stream name.
func (v *HistoryValidator) State() map[string]ChannelState {
	out := make(map[string]ChannelState, len(v.channels))
	for s, c := range v.channels {
		out[s] = ChannelState{Revision: c.revision, Partners: c.Partners(), Customers: c.Customers()}
	}
	return out
}

// Streams returns the names of the channel streams seen, sorted.
func (v *HistoryValidator) Streams() []string {
	out := make([]string, 0, len(v.channels))
	for s := range v.channels {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
