package domain

// The channel aggregate. A channel is one distributor or solution provider (its root partner) with
// its resellers, their delegations and all their customers, stored in one stream
// (ChannelStream(rootID)). Commands decide against a Channel and return events or an *Error; events
// apply to a Channel. apply is total and pure: it never validates and never fails, so replaying a
// stream always gives the same state.
//
// The rules of shared/DOMAIN.md, as enforced here (each has a TestRuleNN_ test):
//
//  1. A customer newly associated with a partner is frozen by default: AssociateCustomer emits
//     customer.associated followed, in the same append, by customer.frozen (ACCOUNT, origin association).
//  2. A customer's manager is its partner when that partner is a distributor or solution provider; for
//     a reseller's customer it is the distributor, unless the distributor granted the reseller the
//     freeze permission, then the reseller (and no longer the distributor). Anyone else is refused
//     (forbidden; not_found when the actor cannot even see the customer). The platform manages
//     partners, never customers.
//  3. A frozen partner cannot act: every command whose actor's partner is frozen is refused
//     (actor_frozen). A reseller whose distributor is frozen is effectively frozen (rule 7) and
//     cannot act either. Since a partner, its resellers and its customers share one stream, this
//     holds in log order: every append is conditional on the stream revision its decision saw.
//  4. Every freeze and unfreeze (customers and partners) carries a reason of 1 to 256 characters
//     after trimming (stored trimmed).
//  5. The unfreeze type must equal the freeze type (type_mismatch). Freezing an ACCOUNT-frozen customer
//     with ACCOUNT_AND_RESOURCE upgrades it; freezing with the type it has, or downgrading, is a
//     conflict; unfreezing an active customer is a conflict.
//  6. Only a reseller's own distributor grants or revokes its delegated permissions (freeze, budget);
//     delegation events change no freeze state. Setting the permissions it already has emits nothing.
//  7. Partner freezes: the platform freezes/unfreezes any partner, a distributor its own resellers.
//     The cascade to customers (effective ACCOUNT_AND_RESOURCE, origin partner) is derived by the read
//     models; the customer's own state is never rewritten.
//  8. Resource retention: an ACCOUNT_AND_RESOURCE freeze records its retention deadline; once it has
//     passed and the freeze was not lifted, the system actor appends customer.resources_released,
//     exactly once per such freeze. Unfreezing afterwards restores the account; ResourcesReleased stays.
//     (Cascaded partner freezes of rule 7 start no retention: they are not stored on the customer.)
//  9. Marketplace products are a read-side matter (projections); the domain keeps the freeze type and
//     resources-released flag they need.
//  10. A customer (and a partner) ID is associated with at most one channel: IDs are claimed in
//     reservation streams (see service_reservation.go) and an association is only permitted while its
//     channel holds the live reservation.
//  11. Batches take at most MaxBatch customers and report one result per customer; one refusal does
//     not undo the others.
//
// Actor roles: platform (registers distributors and solution providers, registers resellers naming a
// parent, freezes any partner), partner (acts for its partner ID within the rules above), auditor and
// reader (no writes: forbidden), system (only resource release and reservation housekeeping).

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Delegation is the set of permissions a distributor delegated to a reseller (rule 6).
type Delegation struct {
	Freeze bool `json:"freeze"`
	Budget bool `json:"budget"`
}

// Partner is a partner's state in its channel.
type Partner struct {
	ID           string
	Name         string
	Type         PartnerType
	ParentID     string // a reseller's distributor
	Frozen       bool
	FrozenReason string
	Delegation   Delegation
	RegisteredAt time.Time
}

// Customer is a customer's own state in its channel (rule 7's cascade is not applied here).
type Customer struct {
	ID             string
	Name           string
	PartnerID      string
	DistributorID  string // set when PartnerID is a reseller
	Tags           []string
	AccountManager string
	AssociatedAt   time.Time

	Frozen     bool
	FreezeType FreezeType // when Frozen
	Origin     Origin     // when Frozen
	Reason     string     // of the current freeze
	FrozenBy   string     // actor name of the current freeze
	FrozenAt   time.Time  // when the current freeze (or its latest upgrade) happened
	// RetentionDeadline is set while an ACCOUNT_AND_RESOURCE freeze's resources await release (rule 8).
	RetentionDeadline time.Time
	// ResourceFrozenAt is when the current ACCOUNT_AND_RESOURCE freeze began.
	ResourceFrozenAt  time.Time
	ResourcesReleased bool // sticky (rule 8)
}

// Channel is the state of one channel stream. It is not safe for concurrent use; the Service owns
// each Channel through one worker at a time.
type Channel struct {
	stream    string
	root      string // root partner ID once registered
	revision  int64  // last applied revision; -1 for none
	position  string // position of the last applied event, when known
	partners  map[string]*Partner
	customers map[string]*Customer
	released  map[reservationKey]struct{} // reservations released in this channel
	idem      map[idemID]idemEntry        // remembered idempotency keys (see keyID)
	idemRuns  map[idemID][]idemRun        // the runs of keys whose events are not contiguous (rare)
	due       map[string]time.Time        // customers awaiting resource release: id -> deadline
	j         *journal
}

// NewChannel returns the empty state of the channel stored in stream.
func NewChannel(stream string) *Channel {
	return &Channel{
		stream:    stream,
		revision:  -1,
		partners:  map[string]*Partner{},
		customers: map[string]*Customer{},
		released:  map[reservationKey]struct{}{},
		idem:      map[idemID]idemEntry{},
		due:       map[string]time.Time{},
	}
}

// Stream is the channel's stream name; Revision the revision of its last applied event (-1: none);
// Position the position of its last applied event ("" when unknown); Root the root partner ID.
func (c *Channel) Stream() string   { return c.stream }
func (c *Channel) Revision() int64  { return c.revision }
func (c *Channel) Position() string { return c.position }
func (c *Channel) Root() string     { return c.root }

// Partner returns a copy of partner id's state.
func (c *Channel) Partner(id string) (Partner, bool) {
	p, ok := c.partners[id]
	if !ok {
		return Partner{}, false
	}
	return *p, true
}

// Customer returns a copy of customer id's state.
func (c *Channel) Customer(id string) (Customer, bool) {
	cu, ok := c.customers[id]
	if !ok {
		return Customer{}, false
	}
	return *cu, true
}

// Partners and Customers return copies of every partner and customer, sorted by ID.
func (c *Channel) Partners() []Partner {
	out := make([]Partner, 0, len(c.partners))
	for _, p := range c.partners {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Partner) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (c *Channel) Customers() []Customer {
	out := make([]Customer, 0, len(c.customers))
	for _, cu := range c.customers {
		out = append(out, *cu)
	}
	slices.SortFunc(out, func(a, b Customer) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Manager returns the partner ID that may freeze and unfreeze customer cu (rule 2).
func (c *Channel) Manager(cu Customer) string {
	if cu.DistributorID == "" {
		return cu.PartnerID
	}
	if r := c.partners[cu.PartnerID]; r != nil && r.Delegation.Freeze {
		return cu.PartnerID
	}
	return cu.DistributorID
}

// effectivelyFrozen reports whether partner p cannot act (rules 3 and 7).
func (c *Channel) effectivelyFrozen(p *Partner) (bool, string) {
	if p.Frozen {
		return true, "partner " + p.ID + " is frozen"
	}
	if p.ParentID != "" {
		if d := c.partners[p.ParentID]; d != nil && d.Frozen {
			return true, "its distributor " + d.ID + " is frozen, so reseller " + p.ID + " is effectively frozen (rule 7)"
		}
	}
	return false, ""
}

// ---- events as decided ----

// pendingEvent is an event a decision produced, before it gets an ID and metadata.
type pendingEvent struct {
	Type string
	Data any // a pointer to a payload type of events.go
}

// eventCtx is what apply needs besides the payload: the metadata and, when known, the stored event.
type eventCtx struct {
	meta   *Metadata
	stored *StoredEvent
}

// apply applies one event. It is total: unknown types and payloads that do not fit the state are
// ignored (the validator, not apply, judges events).
func (c *Channel) apply(typ string, data any, ec eventCtx) {
	c.j.saveHeader(c)
	if ec.stored != nil {
		c.revision = int64(ec.stored.Revision)
		if ec.stored.Position != "" {
			c.position = ec.stored.Position
		}
	} else {
		c.revision++
	}
	var at time.Time
	var actorName string
	if ec.meta != nil {
		at = ec.meta.Time
		actorName = ec.meta.Actor.Name
		if ec.meta.IdempotencyKey != "" {
			c.noteKey(keyID(ec.meta.Actor.Name, ec.meta.IdempotencyKey), ec.meta.CommandHash, uint64(c.revision))
		}
	}
	switch d := data.(type) {
	case *PartnerRegistered:
		c.j.savePartner(c, d.PartnerID)
		c.partners[d.PartnerID] = &Partner{ID: d.PartnerID, Name: d.Name, Type: d.Type, ParentID: d.ParentID, RegisteredAt: at}
		if d.Type != PartnerReseller && c.root == "" {
			c.root = d.PartnerID
		}
	case *PartnerFrozen:
		if p := c.touchPartner(d.PartnerID); p != nil {
			p.Frozen, p.FrozenReason = true, d.Reason
		}
	case *PartnerUnfrozen:
		if p := c.touchPartner(d.PartnerID); p != nil {
			p.Frozen, p.FrozenReason = false, ""
		}
	case *PartnerDelegationGranted:
		if p := c.touchPartner(d.PartnerID); p != nil {
			for _, perm := range d.Permissions {
				setPerm(&p.Delegation, perm, true)
			}
		}
	case *PartnerDelegationRevoked:
		if p := c.touchPartner(d.PartnerID); p != nil {
			for _, perm := range d.Permissions {
				setPerm(&p.Delegation, perm, false)
			}
		}
	case *CustomerAssociated:
		c.j.saveCustomer(c, d.CustomerID)
		c.customers[d.CustomerID] = &Customer{
			ID: d.CustomerID, Name: d.Name, PartnerID: d.PartnerID, DistributorID: d.DistributorID,
			Tags: d.Tags, AccountManager: d.AccountManager, AssociatedAt: at,
		}
	case *CustomerFrozen:
		if cu := c.touchCustomer(d.CustomerID); cu != nil {
			cu.Frozen, cu.FreezeType, cu.Origin, cu.Reason, cu.FrozenBy, cu.FrozenAt = true, d.FreezeType, d.Origin, d.Reason, actorName, at
			if d.FreezeType == FreezeAccountAndResource {
				cu.ResourceFrozenAt = at
				cu.RetentionDeadline = time.Time{}
				if d.RetentionDeadline != nil {
					cu.RetentionDeadline = *d.RetentionDeadline
				}
			}
			c.syncDue(cu)
		}
	case *CustomerUnfrozen:
		if cu := c.touchCustomer(d.CustomerID); cu != nil {
			cu.Frozen, cu.FreezeType, cu.Origin, cu.Reason, cu.FrozenBy = false, "", "", "", ""
			cu.FrozenAt, cu.ResourceFrozenAt, cu.RetentionDeadline = time.Time{}, time.Time{}, time.Time{}
			c.syncDue(cu)
		}
	case *CustomerResourcesReleased:
		if cu := c.touchCustomer(d.CustomerID); cu != nil {
			cu.ResourcesReleased = true
			cu.RetentionDeadline = time.Time{}
			c.syncDue(cu)
		}
	case *IDReservationReleased:
		k := reservationKey{d.Kind, d.ID, d.ReservationRevision}
		c.j.saveReservation(c, k)
		c.released[k] = struct{}{}
	}
}

func setPerm(d *Delegation, p Permission, v bool) {
	switch p {
	case PermissionFreeze:
		d.Freeze = v
	case PermissionBudget:
		d.Budget = v
	}
}

func (c *Channel) touchPartner(id string) *Partner {
	if c.j != nil {
		c.j.savePartner(c, id)
	}
	return copyOnWrite(c.partners, id, c.j != nil)
}

func (c *Channel) touchCustomer(id string) *Customer {
	if c.j != nil {
		c.j.saveCustomer(c, id)
	}
	return copyOnWrite(c.customers, id, c.j != nil)
}

// copyOnWrite returns m[id] (nil if absent) ready to change: inside a group (journaled) it is a fresh
// copy put in m, so that the journal keeps the value from before the group.
func copyOnWrite[V any](m map[string]*V, id string, journaled bool) *V {
	v := m[id]
	if v == nil || !journaled {
		return v
	}
	cp := *v
	m[id] = &cp
	return &cp
}

func (c *Channel) syncDue(cu *Customer) {
	if cu.Frozen && cu.FreezeType == FreezeAccountAndResource && !cu.RetentionDeadline.IsZero() {
		c.due[cu.ID] = cu.RetentionDeadline
	} else {
		delete(c.due, cu.ID)
	}
}

// ---- journal: undo of tentative applies (the service decides a group of commands, applies their
// events, and rolls back if the append fails) ----

type journal struct {
	header    bool
	root      string
	revision  int64
	position  string
	partners  map[string]*Partner
	customers map[string]*Customer
	idem      map[idemID]savedIdem
	idemRuns  map[idemID]savedRuns
	res       []reservationKey
}

type savedIdem struct {
	e  idemEntry
	ok bool
}

type savedRuns struct {
	runs []idemRun
	ok   bool
}

func (j *journal) saveHeader(c *Channel) {
	if j == nil || j.header {
		return
	}
	j.header, j.root, j.revision, j.position = true, c.root, c.revision, c.position
}

// remember keeps current[key] (nil if absent) in *saved the first time key is seen, so that a
// rollback can restore the state from before the group.
func remember[V any](saved *map[string]*V, current map[string]*V, key string) {
	if *saved == nil {
		*saved = make(map[string]*V, 4)
	}
	if _, ok := (*saved)[key]; !ok {
		(*saved)[key] = current[key]
	}
}

func (j *journal) savePartner(c *Channel, id string) {
	if j != nil {
		remember(&j.partners, c.partners, id)
	}
}

func (j *journal) saveCustomer(c *Channel, id string) {
	if j != nil {
		remember(&j.customers, c.customers, id)
	}
}

func (j *journal) saveIdem(c *Channel, id idemID) {
	if j == nil {
		return
	}
	if j.idem == nil {
		j.idem = make(map[idemID]savedIdem, 4)
	}
	if _, seen := j.idem[id]; !seen {
		e, ok := c.idem[id]
		j.idem[id] = savedIdem{e, ok}
	}
}

func (j *journal) saveIdemRuns(c *Channel, id idemID) {
	if j == nil {
		return
	}
	if j.idemRuns == nil {
		j.idemRuns = map[idemID]savedRuns{}
	}
	if _, seen := j.idemRuns[id]; !seen {
		runs, ok := c.idemRuns[id]
		j.idemRuns[id] = savedRuns{runs, ok}
	}
}

func (j *journal) saveReservation(c *Channel, k reservationKey) {
	if j == nil {
		return
	}
	if _, ok := c.released[k]; !ok {
		j.res = append(j.res, k)
	}
}

// begin starts recording undo information; commit forgets it; rollback restores the state begin saw.
func (c *Channel) begin() {
	c.j = &journal{}
}

func (c *Channel) commit() { c.j = nil }

func (c *Channel) rollback() {
	j := c.j
	c.j = nil
	if j == nil {
		return
	}
	if j.header {
		c.root, c.revision, c.position = j.root, j.revision, j.position
	}
	for id, p := range j.partners {
		if p == nil {
			delete(c.partners, id)
		} else {
			c.partners[id] = p
		}
	}
	for id, cu := range j.customers {
		if cu == nil {
			delete(c.customers, id)
			delete(c.due, id)
		} else {
			c.customers[id] = cu
			c.syncDue(cu)
		}
	}
	for id, sv := range j.idem {
		if sv.ok {
			c.idem[id] = sv.e
		} else {
			delete(c.idem, id)
		}
	}
	for id, sv := range j.idemRuns {
		if sv.ok {
			c.idemRuns[id] = sv.runs
		} else {
			delete(c.idemRuns, id)
		}
	}
	for _, k := range j.res {
		delete(c.released, k)
	}
}

// ---- decisions ----

// checkWriter refuses actors that may not write at all.
func checkWriter(a Actor) error {
	if strings.TrimSpace(a.Name) == "" {
		return Errorf(CodeInvalid, "the actor has no name: every event records its operator")
	}
	switch a.Role {
	case RolePlatform, RolePartner:
		return nil
	case RoleAuditor, RoleReader:
		return Errorf(CodeForbidden, "role %q is read-only and cannot change anything", a.Role)
	case RoleSystem:
		return Errorf(CodeForbidden, "the system role only releases resources (rule 8); it issues no commands")
	}
	return Errorf(CodeForbidden, "unknown role %q", a.Role)
}

// actingPartner returns the actor's partner in this channel, refusing frozen ones (rule 3).
func (c *Channel) actingPartner(a Actor) (*Partner, error) {
	p := c.partners[a.PartnerID]
	if p == nil {
		return nil, Errorf(CodeForbidden, "actor %q acts for partner %q, which is not registered in this channel", a.Name, a.PartnerID)
	}
	if frozen, why := c.effectivelyFrozen(p); frozen {
		return nil, Errorf(CodeActorFrozen, "rule 3: a frozen partner cannot act: %s", why)
	}
	return p, nil
}

// cleanReason checks a freeze or unfreeze reason (rule 4) and returns it trimmed.
func cleanReason(r string) (string, error) {
	t := strings.TrimSpace(r)
	n := utf8.RuneCountInString(t)
	if n < 1 || n > 256 {
		return "", Errorf(CodeInvalid, "rule 4: a reason of 1 to 256 characters after trimming is required (got %d)", n)
	}
	return t, nil
}

func checkID(what, id string) error {
	if !ValidID(id) {
		return Errorf(CodeInvalid, "%s %q is not a valid ID (%s)", what, truncateString(id, 80), IDPattern.String())
	}
	return nil
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (c *Channel) decideRegisterPartner(cmd RegisterPartner) ([]pendingEvent, error) {
	if err := checkWriter(cmd.Actor); err != nil {
		return nil, err
	}
	if err := checkID("partner_id", cmd.PartnerID); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(cmd.Name)
	if name == "" || utf8.RuneCountInString(name) > 256 {
		return nil, Errorf(CodeInvalid, "a partner name of 1 to 256 characters is required")
	}
	ev := &PartnerRegistered{PartnerID: cmd.PartnerID, Name: name, Type: cmd.Type}
	switch cmd.Type {
	case PartnerDistributor, PartnerSolutionProvider:
		if cmd.Actor.Role != RolePlatform {
			return nil, Errorf(CodeForbidden, "only the platform registers distributors and solution providers")
		}
		if cmd.ParentID != "" {
			return nil, Errorf(CodeInvalid, "a %s has no parent", cmd.Type)
		}
		if c.stream != ChannelStream(cmd.PartnerID) {
			return nil, Errorf(CodeInvalid, "a %s is the root of its own channel %s, not of %s", cmd.Type, ChannelStream(cmd.PartnerID), c.stream)
		}
		if c.root != "" {
			return nil, Errorf(CodeConflict, "rule 10: partner %q is already registered", cmd.PartnerID)
		}
	case PartnerReseller:
		parent := cmd.ParentID
		switch cmd.Actor.Role {
		case RolePlatform:
			if parent == "" {
				return nil, Errorf(CodeInvalid, "the platform registering a reseller must name its distributor (parent_id)")
			}
		case RolePartner:
			if parent == "" {
				parent = cmd.Actor.PartnerID
			}
			if _, err := c.actingPartner(cmd.Actor); err != nil {
				return nil, err
			}
			if parent != cmd.Actor.PartnerID {
				return nil, Errorf(CodeForbidden, "a distributor registers resellers only under itself, not under %q", parent)
			}
		}
		d := c.partners[parent]
		if d == nil {
			return nil, Errorf(CodeNotFound, "distributor %q not found", parent)
		}
		if d.Type != PartnerDistributor {
			return nil, Errorf(CodeInvalid, "a reseller's parent must be a distributor; %q is a %s", parent, d.Type)
		}
		if _, ok := c.partners[cmd.PartnerID]; ok {
			return nil, Errorf(CodeConflict, "rule 10: partner %q is already registered", cmd.PartnerID)
		}
		ev.ParentID = parent
	default:
		return nil, Errorf(CodeInvalid, "partner type must be distributor, reseller or solution_provider, not %q", cmd.Type)
	}
	return []pendingEvent{{EventPartnerRegistered, ev}}, nil
}

// partnerAuthority checks that the actor may freeze or unfreeze partner id (rule 7) and returns it.
func (c *Channel) partnerAuthority(a Actor, id string) (*Partner, error) {
	if err := checkWriter(a); err != nil {
		return nil, err
	}
	if err := checkID("partner_id", id); err != nil {
		return nil, err
	}
	if a.Role == RolePartner {
		if _, err := c.actingPartner(a); err != nil {
			return nil, err
		}
	}
	p := c.partners[id]
	if p == nil {
		return nil, Errorf(CodeNotFound, "partner %q not found", id)
	}
	if a.Role == RolePartner && (p.Type != PartnerReseller || p.ParentID != a.PartnerID) {
		return nil, Errorf(CodeForbidden, "rule 7: partners are frozen and unfrozen by the platform, or a reseller by its own distributor; %q is not a reseller of %q", id, a.PartnerID)
	}
	return p, nil
}

func (c *Channel) decideFreezePartner(cmd FreezePartner) ([]pendingEvent, error) {
	p, err := c.partnerAuthority(cmd.Actor, cmd.PartnerID)
	if err != nil {
		return nil, err
	}
	reason, err := cleanReason(cmd.Reason)
	if err != nil {
		return nil, err
	}
	if p.Frozen {
		return nil, Errorf(CodeConflict, "partner %q is already frozen", p.ID)
	}
	return []pendingEvent{{EventPartnerFrozen, &PartnerFrozen{PartnerID: p.ID, Reason: reason}}}, nil
}

func (c *Channel) decideUnfreezePartner(cmd UnfreezePartner) ([]pendingEvent, error) {
	p, err := c.partnerAuthority(cmd.Actor, cmd.PartnerID)
	if err != nil {
		return nil, err
	}
	reason, err := cleanReason(cmd.Reason)
	if err != nil {
		return nil, err
	}
	if !p.Frozen {
		return nil, Errorf(CodeConflict, "partner %q is not frozen", p.ID)
	}
	return []pendingEvent{{EventPartnerUnfrozen, &PartnerUnfrozen{PartnerID: p.ID, Reason: reason}}}, nil
}

func (c *Channel) decideSetDelegation(cmd SetDelegation) ([]pendingEvent, error) {
	if err := checkWriter(cmd.Actor); err != nil {
		return nil, err
	}
	if err := checkID("partner_id", cmd.ResellerID); err != nil {
		return nil, err
	}
	if cmd.Actor.Role != RolePartner {
		return nil, Errorf(CodeForbidden, "rule 6: only the reseller's own distributor grants or revokes delegation")
	}
	if _, err := c.actingPartner(cmd.Actor); err != nil {
		return nil, err
	}
	r := c.partners[cmd.ResellerID]
	if r == nil {
		return nil, Errorf(CodeNotFound, "partner %q not found", cmd.ResellerID)
	}
	if r.Type != PartnerReseller || r.ParentID != cmd.Actor.PartnerID {
		return nil, Errorf(CodeForbidden, "rule 6: only the reseller's own distributor grants or revokes delegation; %q is not a reseller of %q", cmd.ResellerID, cmd.Actor.PartnerID)
	}
	var grant, revoke []Permission
	diff := func(p Permission, have, want bool) {
		switch {
		case want && !have:
			grant = append(grant, p)
		case have && !want:
			revoke = append(revoke, p)
		}
	}
	diff(PermissionFreeze, r.Delegation.Freeze, cmd.Freeze)
	diff(PermissionBudget, r.Delegation.Budget, cmd.Budget)
	var out []pendingEvent
	if len(grant) > 0 {
		out = append(out, pendingEvent{EventPartnerDelegationGranted, &PartnerDelegationGranted{PartnerID: r.ID, Permissions: grant}})
	}
	if len(revoke) > 0 {
		out = append(out, pendingEvent{EventPartnerDelegationRevoked, &PartnerDelegationRevoked{PartnerID: r.ID, Permissions: revoke}})
	}
	return out, nil
}

// decideAssociate decides an association; reservationRev is the revision of the reservation-stream
// event by which this channel holds the customer ID (rule 10).
func (c *Channel) decideAssociate(cmd AssociateCustomer, reservationRev uint64) ([]pendingEvent, error) {
	if err := c.checkAssociate(cmd); err != nil {
		return nil, err
	}
	if _, lost := c.released[reservationKey{"customer", cmd.CustomerID, reservationRev}]; lost {
		return nil, errReservationLost
	}
	target := c.partners[cmd.PartnerID]
	ev := &CustomerAssociated{
		CustomerID: cmd.CustomerID, Name: strings.TrimSpace(cmd.Name), PartnerID: cmd.PartnerID,
		Tags: cmd.Tags, AccountManager: cmd.AccountManager,
	}
	if target.Type == PartnerReseller {
		ev.DistributorID = target.ParentID
	}
	return []pendingEvent{
		{EventCustomerAssociated, ev},
		{EventCustomerFrozen, &CustomerFrozen{CustomerID: cmd.CustomerID, FreezeType: FreezeAccount, Origin: OriginAssociation, Reason: AssociationReason}},
	}, nil
}

// AssociationReason is the reason recorded on the freeze every association starts with (rule 1).
const AssociationReason = "frozen by default on association (rule 1)"

// checkAssociate is everything decideAssociate checks except the reservation.
func (c *Channel) checkAssociate(cmd AssociateCustomer) error {
	if err := checkWriter(cmd.Actor); err != nil {
		return err
	}
	if err := checkID("customer_id", cmd.CustomerID); err != nil {
		return err
	}
	if err := checkID("partner_id", cmd.PartnerID); err != nil {
		return err
	}
	name := strings.TrimSpace(cmd.Name)
	if name == "" || utf8.RuneCountInString(name) > 256 {
		return Errorf(CodeInvalid, "a customer name of 1 to 256 characters is required")
	}
	if len(cmd.Tags) > 32 {
		return Errorf(CodeInvalid, "at most 32 tags")
	}
	for _, t := range cmd.Tags {
		if t == "" || utf8.RuneCountInString(t) > 64 {
			return Errorf(CodeInvalid, "tags are 1 to 64 characters")
		}
	}
	if utf8.RuneCountInString(cmd.AccountManager) > 256 {
		return Errorf(CodeInvalid, "account_manager is at most 256 characters")
	}
	if cmd.Actor.Role != RolePartner {
		return Errorf(CodeForbidden, "rule 2: the platform manages partners, not customers; a customer is associated by its partner or the distributor of its reseller")
	}
	if _, err := c.actingPartner(cmd.Actor); err != nil {
		return err
	}
	target := c.partners[cmd.PartnerID]
	if target == nil {
		return Errorf(CodeNotFound, "partner %q not found", cmd.PartnerID)
	}
	if cmd.PartnerID != cmd.Actor.PartnerID && !(target.Type == PartnerReseller && target.ParentID == cmd.Actor.PartnerID) {
		return Errorf(CodeForbidden, "rule 2: a customer is associated by its partner or the distributor of its reseller; %q is neither for %q", cmd.Actor.PartnerID, cmd.PartnerID)
	}
	if _, ok := c.customers[cmd.CustomerID]; ok {
		return Errorf(CodeConflict, "rule 10: customer %q is already associated with a partner", cmd.CustomerID)
	}
	return nil
}

// managedCustomer returns customer id if the actor is its manager (rules 2 and 3).
func (c *Channel) managedCustomer(a Actor, id string) (*Customer, error) {
	if err := checkWriter(a); err != nil {
		return nil, err
	}
	if err := checkID("customer_id", id); err != nil {
		return nil, err
	}
	if a.Role != RolePartner {
		return nil, Errorf(CodeForbidden, "rule 2: the platform manages partners, not customers")
	}
	if _, err := c.actingPartner(a); err != nil {
		return nil, err
	}
	cu := c.customers[id]
	if cu == nil || (cu.PartnerID != a.PartnerID && cu.DistributorID != a.PartnerID) {
		return nil, Errorf(CodeNotFound, "customer %q not found", id)
	}
	if m := c.Manager(*cu); m != a.PartnerID {
		if cu.DistributorID == a.PartnerID {
			return nil, Errorf(CodeForbidden, "rule 2: distributor %q delegated the freeze permission to reseller %q, which now manages customer %q", a.PartnerID, cu.PartnerID, id)
		}
		return nil, Errorf(CodeForbidden, "rule 2: customer %q is managed by its distributor %q; reseller %q has no freeze permission", id, m, a.PartnerID)
	}
	return cu, nil
}

func normFreezeType(t FreezeType) (FreezeType, error) {
	switch t {
	case "":
		return FreezeAccount, nil
	case FreezeAccount, FreezeAccountAndResource:
		return t, nil
	}
	return "", Errorf(CodeInvalid, "freeze type must be ACCOUNT or ACCOUNT_AND_RESOURCE, not %q", t)
}

func (c *Channel) decideFreezeCustomer(a Actor, id, reason string, ft FreezeType, now time.Time, retention time.Duration) ([]pendingEvent, error) {
	cu, err := c.managedCustomer(a, id)
	if err != nil {
		return nil, err
	}
	if reason, err = cleanReason(reason); err != nil {
		return nil, err
	}
	if ft, err = normFreezeType(ft); err != nil {
		return nil, err
	}
	ev := &CustomerFrozen{CustomerID: id, FreezeType: ft, Origin: OriginManual, Reason: reason}
	if cu.Frozen {
		if cu.FreezeType == ft {
			return nil, Errorf(CodeConflict, "rule 5: customer %q is already frozen with %s", id, ft)
		}
		if ft == FreezeAccount {
			return nil, Errorf(CodeConflict, "rule 5: customer %q is frozen with ACCOUNT_AND_RESOURCE; a freeze cannot downgrade it (unfreeze it first)", id)
		}
		ev.PreviousFreezeType = cu.FreezeType
	}
	if ft == FreezeAccountAndResource {
		d := now.Add(retention)
		ev.RetentionDeadline = &d
	}
	return []pendingEvent{{EventCustomerFrozen, ev}}, nil
}

func (c *Channel) decideUnfreezeCustomer(a Actor, id, reason string, ut FreezeType) ([]pendingEvent, error) {
	cu, err := c.managedCustomer(a, id)
	if err != nil {
		return nil, err
	}
	if reason, err = cleanReason(reason); err != nil {
		return nil, err
	}
	if ut, err = normFreezeType(ut); err != nil {
		return nil, err
	}
	if !cu.Frozen {
		return nil, Errorf(CodeConflict, "rule 5: customer %q is not frozen", id)
	}
	if cu.FreezeType != ut {
		return nil, Errorf(CodeTypeMismatch, "rule 5: the unfreeze type %s must equal the freeze type %s of customer %q", ut, cu.FreezeType, id)
	}
	return []pendingEvent{{EventCustomerUnfrozen, &CustomerUnfrozen{CustomerID: id, UnfreezeType: ut, Reason: reason}}}, nil
}

// applyStored applies a stored event (used when loading a stream).
func (c *Channel) applyStored(se *StoredEvent) error {
	data, m, err := decodeEvent(se, nil)
	if err != nil {
		return err
	}
	c.apply(se.Type, data, eventCtx{meta: &m, stored: se})
	return nil
}
