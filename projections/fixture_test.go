package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

var t0 = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

// ledger appends domain events to a real embedded store, with a clock that advances one second per
// event, so tests write the log the domain would.
type ledger struct {
	t     testing.TB
	store *embedded.Store
	now   time.Time
	root  map[string]string // partner -> channel root
}

func newLedger(t testing.TB) *ledger {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "store"), embedded.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &ledger{t: t, store: st, now: t0, root: map[string]string{}}
}

var (
	platform = domain.Actor{Name: "ops-platform", Role: domain.RolePlatform}
)

func opsOf(partner string) domain.Actor {
	return domain.Actor{Name: "ops-" + partner, Role: domain.RolePartner, PartnerID: partner}
}

type ev struct {
	typ  string
	data any
}

// append writes evs to stream in one append, as actor, and returns the last position.
func (l *ledger) append(stream string, actor domain.Actor, evs ...ev) eventstore.Position {
	l.t.Helper()
	var data []eventstore.EventData
	for _, e := range evs {
		l.now = l.now.Add(time.Second)
		d, err := json.Marshal(e.data)
		if err != nil {
			l.t.Fatal(err)
		}
		md, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: actor, Time: l.now, RequestID: "req"})
		data = append(data, eventstore.EventData{ID: uuid.New(), Type: e.typ, Data: d, Metadata: md})
	}
	res, err := l.store.Append(context.Background(), stream, eventstore.Any, data...)
	if err != nil {
		l.t.Fatal(err)
	}
	return res.Position
}

func (l *ledger) channel(partner string) string { return domain.ChannelStream(l.root[partner]) }

func (l *ledger) registerPartner(id string, typ domain.PartnerType, parent string) eventstore.Position {
	l.t.Helper()
	actor := platform
	if parent != "" {
		l.root[id] = l.root[parent]
		actor = opsOf(parent)
	} else {
		l.root[id] = id
	}
	l.append(domain.PartnerReservationStreamPrefix+id, actor, ev{domain.EventIDReserved, domain.IDReserved{Kind: "partner", ID: id, Channel: l.channel(id)}})
	return l.append(l.channel(id), actor, ev{domain.EventPartnerRegistered, domain.PartnerRegistered{PartnerID: id, Name: "Partner " + id, Type: typ, ParentID: parent}})
}

func (l *ledger) associate(id, partner, distributor string, tags []string, am string) eventstore.Position {
	l.t.Helper()
	actor := opsOf(partner)
	l.append(domain.CustomerReservationStreamPrefix+id, actor, ev{domain.EventIDReserved, domain.IDReserved{Kind: "customer", ID: id, Channel: l.channel(partner)}})
	return l.append(l.channel(partner), actor,
		ev{domain.EventCustomerAssociated, domain.CustomerAssociated{CustomerID: id, Name: "Customer " + id, PartnerID: partner, DistributorID: distributor, Tags: tags, AccountManager: am}},
		ev{domain.EventCustomerFrozen, domain.CustomerFrozen{CustomerID: id, FreezeType: domain.FreezeAccount, Origin: domain.OriginAssociation, Reason: "new customer"}})
}

func (l *ledger) freeze(id, partner string, actor domain.Actor, ft domain.FreezeType, prev domain.FreezeType, reason string) eventstore.Position {
	l.t.Helper()
	f := domain.CustomerFrozen{CustomerID: id, FreezeType: ft, PreviousFreezeType: prev, Origin: domain.OriginManual, Reason: reason}
	if ft == domain.FreezeAccountAndResource {
		d := l.now.Add(time.Second + DefaultRetention)
		f.RetentionDeadline = &d
	}
	return l.append(l.channel(partner), actor, ev{domain.EventCustomerFrozen, f})
}

func (l *ledger) unfreeze(id, partner string, actor domain.Actor, ft domain.FreezeType, reason string) eventstore.Position {
	l.t.Helper()
	return l.append(l.channel(partner), actor, ev{domain.EventCustomerUnfrozen, domain.CustomerUnfrozen{CustomerID: id, UnfreezeType: ft, Reason: reason}})
}

func (l *ledger) release(id, partner string) eventstore.Position {
	l.t.Helper()
	return l.append(l.channel(partner), domain.SystemActor, ev{domain.EventCustomerResourcesRelease, domain.CustomerResourcesReleased{CustomerID: id, FrozenAt: l.now, Reason: "retention ran out"}})
}

func (l *ledger) freezePartner(id string, actor domain.Actor, reason string) eventstore.Position {
	l.t.Helper()
	return l.append(l.channel(id), actor, ev{domain.EventPartnerFrozen, domain.PartnerFrozen{PartnerID: id, Reason: reason}})
}

func (l *ledger) unfreezePartner(id string, actor domain.Actor, reason string) eventstore.Position {
	l.t.Helper()
	return l.append(l.channel(id), actor, ev{domain.EventPartnerUnfrozen, domain.PartnerUnfrozen{PartnerID: id, Reason: reason}})
}

func (l *ledger) delegate(reseller string, grant bool, perms ...domain.Permission) eventstore.Position {
	l.t.Helper()
	actor := opsOf(l.root[reseller])
	if grant {
		return l.append(l.channel(reseller), actor, ev{domain.EventPartnerDelegationGranted, domain.PartnerDelegationGranted{PartnerID: reseller, Permissions: perms}})
	}
	return l.append(l.channel(reseller), actor, ev{domain.EventPartnerDelegationRevoked, domain.PartnerDelegationRevoked{PartnerID: reseller, Permissions: perms}})
}

// openModels opens read models over l's store in dir and runs them until the test ends.
func openModels(t testing.TB, store eventstore.Store, dir string) *ReadModels {
	t.Helper()
	m, err := Open(store, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		m.Close()
	})
	return m
}

func waitFor(t testing.TB, m *ReadModels, pos eventstore.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.WaitFor(ctx, pos); err != nil {
		t.Fatalf("WaitFor(%s): %v (applied %s)", pos, err, m.Applied())
	}
}

// randomLog writes a random but rule-abiding log: partners, customers, customer and partner freezes
// and unfreezes, upgrades, releases and delegation changes. It returns the customer and partner IDs.
func randomLog(l *ledger, seed uint64, steps int) (customers, partners []string) {
	r := rand.New(rand.NewPCG(seed, 1))
	type cst struct {
		partner, dist string
		sev           domain.FreezeType // "" active
	}
	cs := map[string]*cst{}
	frozenP := map[string]bool{}
	var dists, resellers []string
	for i := 0; i < 2; i++ {
		d := fmt.Sprintf("dist-%d", i)
		l.registerPartner(d, domain.PartnerDistributor, "")
		dists = append(dists, d)
		for j := 0; j < 2; j++ {
			rs := fmt.Sprintf("res-%d-%d", i, j)
			l.registerPartner(rs, domain.PartnerReseller, d)
			resellers = append(resellers, rs)
		}
	}
	l.registerPartner("sp-0", domain.PartnerSolutionProvider, "")
	partners = append(append(append(partners, dists...), resellers...), "sp-0")
	for step := 0; step < steps; step++ {
		switch k := r.IntN(10); {
		case k < 3 || len(customers) < 3:
			id := fmt.Sprintf("c-%d", len(customers))
			p := partners[r.IntN(len(partners))]
			dist := ""
			if p[:3] == "res" {
				dist = "dist-" + p[4:5]
			}
			tags := [][]string{nil, {"gold"}, {"gold", "eu"}}[r.IntN(3)]
			l.associate(id, p, dist, tags, []string{"", "li", "wang"}[r.IntN(3)])
			cs[id] = &cst{partner: p, dist: dist, sev: domain.FreezeAccount}
			customers = append(customers, id)
		case k < 7:
			id := customers[r.IntN(len(customers))]
			c := cs[id]
			actor := opsOf(c.partner)
			switch c.sev {
			case "":
				ft := []domain.FreezeType{domain.FreezeAccount, domain.FreezeAccountAndResource}[r.IntN(2)]
				l.freeze(id, c.partner, actor, ft, "", fmt.Sprintf("reason %d", step))
				c.sev = ft
			case domain.FreezeAccount:
				if r.IntN(2) == 0 {
					l.freeze(id, c.partner, actor, domain.FreezeAccountAndResource, domain.FreezeAccount, "upgrade")
					c.sev = domain.FreezeAccountAndResource
				} else {
					l.unfreeze(id, c.partner, actor, c.sev, "paid")
					c.sev = ""
				}
			default:
				if r.IntN(3) == 0 {
					l.release(id, c.partner)
				} else {
					l.unfreeze(id, c.partner, actor, c.sev, "paid")
					c.sev = ""
				}
			}
		case k < 9:
			p := partners[r.IntN(len(partners))]
			actor := platform
			if p[:3] == "res" {
				actor = opsOf(l.root[p])
			}
			if frozenP[p] {
				l.unfreezePartner(p, actor, "resolved")
			} else {
				l.freezePartner(p, actor, fmt.Sprintf("partner issue %d", step))
			}
			frozenP[p] = !frozenP[p]
		default:
			rs := resellers[r.IntN(len(resellers))]
			l.delegate(rs, r.IntN(2) == 0, []domain.Permission{domain.PermissionFreeze, domain.PermissionBudget}[r.IntN(2)])
		}
	}
	return customers, partners
}
