package projections

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"pgregory.net/rapid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// TestManagedByAgreesWithDomain: over random logs written by the domain's command service
// (associations under every kind of partner, delegations granted and revoked, some refused), the
// read models' managed_by is, as of every step's position, the manager the domain's own state gives
// (rule 2). The rule is written once (domain.ManagerOf); this holds the data each side feeds it
// together: the customer's recorded distributor and delegation on the domain side, the partner tree
// and delegation history on the read side.
func TestManagedByAgreesWithDomain(t *testing.T) {
	partners := []string{"dist-1", "dist-2", "sp-1", "res-1", "res-2", "res-3"}
	parentOf := map[string]string{"res-1": "dist-1", "res-2": "dist-1", "res-3": "dist-2"}
	resellers := []string{"res-1", "res-2", "res-3"}
	customers := []string{"c-1", "c-2", "c-3", "c-4", "c-5", "c-6"}
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		st, err := embedded.Open(filepath.Join(t.TempDir(), "store"), embedded.Options{UnsafeNoSync: true})
		if err != nil {
			rt.Fatal(err)
		}
		defer st.Close()
		svc := domain.NewService(eventstore.DomainLog(st), domain.Options{})
		must := func(_ domain.Result, err error) {
			if err != nil {
				rt.Fatal(err)
			}
		}
		for _, id := range []string{"dist-1", "dist-2"} {
			must(svc.RegisterPartner(ctx, domain.RegisterPartner{Meta: domain.Meta{Actor: platform}, PartnerID: id, Name: id, Type: domain.PartnerDistributor}))
		}
		must(svc.RegisterPartner(ctx, domain.RegisterPartner{Meta: domain.Meta{Actor: platform}, PartnerID: "sp-1", Name: "sp-1", Type: domain.PartnerSolutionProvider}))
		for _, id := range resellers {
			must(svc.RegisterPartner(ctx, domain.RegisterPartner{Meta: domain.Meta{Actor: opsOf(parentOf[id])}, PartnerID: id, Name: id, Type: domain.PartnerReseller}))
		}

		type step struct {
			pos     eventstore.Position
			manager map[string]string // customer -> the domain's manager after the step
		}
		var steps []step
		n := rapid.IntRange(1, 24).Draw(rt, "steps")
		for i := range n {
			label := strconv.Itoa(i)
			switch rapid.IntRange(0, 2).Draw(rt, label+" command") {
			case 0: // an association by the partner or its distributor (refused when the ID is taken)
				p := rapid.SampledFrom(partners).Draw(rt, label+" partner")
				actor := p
				if d := parentOf[p]; d != "" && rapid.Bool().Draw(rt, label+" by distributor") {
					actor = d
				}
				_, _ = svc.AssociateCustomer(ctx, domain.AssociateCustomer{Meta: domain.Meta{Actor: opsOf(actor)},
					CustomerID: rapid.SampledFrom(customers).Draw(rt, label+" customer"), Name: "n", PartnerID: p})
			default: // a delegation change, mostly by the reseller's own distributor
				r := rapid.SampledFrom(resellers).Draw(rt, label+" reseller")
				actor := parentOf[r]
				if rapid.IntRange(0, 4).Draw(rt, label+" other actor") == 0 {
					actor = rapid.SampledFrom(partners).Draw(rt, label+" actor")
				}
				_, _ = svc.SetDelegation(ctx, domain.SetDelegation{Meta: domain.Meta{Actor: opsOf(actor)}, ResellerID: r,
					Freeze: rapid.Bool().Draw(rt, label+" freeze"), Budget: rapid.Bool().Draw(rt, label+" budget")})
			}
			pos, err := st.Head(ctx)
			if err != nil {
				rt.Fatal(err)
			}
			s := step{pos: pos, manager: map[string]string{}}
			for _, id := range customers {
				_, m, _, err := svc.Customer(ctx, id)
				if domain.ErrorCode(err) == domain.CodeNotFound {
					continue
				}
				if err != nil {
					rt.Fatal(err)
				}
				s.manager[id] = m
			}
			steps = append(steps, s)
		}

		evs, err := st.ReadAll(ctx, eventstore.Start, 0)
		if err != nil {
			rt.Fatal(err)
		}
		m := modelOf(evs)
		for i, s := range steps {
			for _, id := range customers {
				got, err := m.Status(id, AsOf{Position: &s.pos})
				want, ok := s.manager[id]
				switch {
				case !ok && err == nil:
					rt.Fatalf("step %d: customer %s has a status (managed by %s) but the domain does not know it", i, id, got.ManagedBy)
				case ok && err != nil:
					rt.Fatalf("step %d: customer %s: %v; the domain's manager is %s", i, id, err, want)
				case ok && got.ManagedBy != want:
					rt.Fatalf("step %d (position %s): customer %s managed_by %s, the domain's manager %s", i, s.pos, id, got.ManagedBy, want)
				}
			}
		}
	})
}
