package domain

// The channel's state: Channel (one channel stream's partners and customers), its read accessors, and
// apply, the total and pure function from an event to the next state (with its journaled
// copy-on-write; the undo journal is journal.go).

import (
	"slices"
	"strings"
	"time"
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
	// Quota is a reseller's budget quota and what its budgets use of it (rule 18).
	Quota Quota
	// VerificationRequired: the partner's critical operations need a verification code (rule 19).
	VerificationRequired bool
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

	// Rule 21: the ID of the data key its personal data is sealed with ("" if it has none), and
	// whether that data was erased (sticky).
	PersonalKeyID  string
	PersonalErased bool
	// Rule 20 (disassociation.go): Disassociated once a disassociation was accepted (the customer is
	// no longer associated here, its history stays); Disassociation the latest request (its
	// RequestedAt starts the 90-day refusal), nil if none; it is never changed in place but replaced,
	// so the journal's copies stay intact.
	Disassociated  bool
	Disassociation *Disassociation
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
	keyTTL    idemExpiry                  // when remembered keys are forgotten (idempotency.go)
	due       map[string]time.Time        // customers awaiting resource release: id -> deadline
	bills     map[string]*CustomerBilling // customers' billing state (rules 12 to 17), copied on write
	records   map[idemID]idemID           // usage record IDs -> their content (rule 12); see billing_decisions.go
	j         *journal
	lapsing   map[string]time.Time // customers with a pending disassociation: id -> when it lapses (rule 20; made on first use)
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
		bills:     map[string]*CustomerBilling{},
		records:   map[idemID]idemID{},
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
			c.noteKey(keyID(ec.meta.Actor.Name, ec.meta.IdempotencyKey), ec.meta.CommandHash, uint64(c.revision), at)
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
		if d.Personal != nil {
			c.customers[d.CustomerID].PersonalKeyID = d.Personal.KeyID
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
		if len(d.Resources) > 0 {
			c.applyBilling(d.CustomerID, d, at, ec)
		}
	case *UsageRecorded, *ResourceReported, *ResourceRemoved, *BudgetSet, *BudgetRemoved, *BudgetThresholdReached, *BudgetReset, *PartnerQuotaSet:
		c.applyBilling(billingSubject(d), d, at, ec)
	case *IDReservationReleased:
		kind, _ := parseEntityKind(d.Kind) // a kind this service never writes: kept under none, never looked up
		k := reservationKey{kind, d.ID, d.ReservationRevision}
		c.j.saveReservation(c, k)
		c.released[k] = struct{}{}
	case *CustomerPersonalDataChanged:
		if cu := c.touchCustomer(d.CustomerID); cu != nil {
			cu.PersonalKeyID = d.Personal.KeyID
		}
	case *CustomerPersonalDataErased:
		if cu := c.touchCustomer(d.CustomerID); cu != nil {
			cu.PersonalErased = true
		}
	case *PartnerVerificationSet:
		if p := c.touchPartner(d.PartnerID); p != nil {
			p.VerificationRequired = d.Enabled
		}
	case *DisassociationRequested, *DisassociationAccepted, *DisassociationRejected, *DisassociationLapsed:
		c.applyDisassociation(data, ec.meta, at)
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
	c.syncLapsing(cu)
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
