package domain_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// flakyLog fails every n-th append with ErrStoreUnavailable (n = 0: never), before writing anything.
type flakyLog struct {
	storeLog
	n     int64
	count atomic.Int64
}

func (l *flakyLog) Append(ctx context.Context, stream string, expected int64, events []domain.NewEvent) (domain.Appended, error) {
	if l.n > 0 && l.count.Add(1)%l.n == 0 {
		return domain.Appended{}, fmt.Errorf("injected: %w", domain.ErrStoreUnavailable)
	}
	return l.storeLog.Append(ctx, stream, expected, events)
}

var (
	propActors = []domain.Actor{
		platform, auditor, reader, domain.SystemActor,
		op("dist-1"), op("dist-2"), op("sp-1"), op("res-1"), op("res-2"), op("res-3"), op("res-4"), op("dist-3"), op("ghost"),
	}
	propPartners  = []string{"dist-1", "dist-2", "dist-3", "sp-1", "res-1", "res-2", "res-3", "res-4", "ghost"}
	propCustomers = []string{"c-d", "c-r1", "c-r2", "c-r3", "c-s", "c-n1", "c-n2", "c-n3"}
	propTypes     = []domain.FreezeType{acct, anr, acct, anr, ""}
	propReasons   = []string{"overdue", "fraud check", "overdue", "fraud check", "overdue", "", " "}
	propKeys      = []string{"", "", "", "k1", "k2"}
	propPTypes    = []domain.PartnerType{domain.PartnerDistributor, domain.PartnerReseller, domain.PartnerReseller, domain.PartnerSolutionProvider}
)

// managers are the partners plausibly acting on each customer of world (or of a new association).
var managers = map[string][]string{
	"c-d": {"dist-1"}, "c-r1": {"dist-1", "res-1"}, "c-r2": {"dist-1", "res-2"}, "c-r3": {"dist-2", "res-3"},
	"c-s": {"sp-1"}, "c-n1": {"dist-1", "res-1"}, "c-n2": {"dist-2", "res-3"}, "c-n3": {"sp-1", "dist-1"},
}

// parents are the plausible actors on each partner (freezes, delegation, registration).
var parents = map[string][]string{
	"res-1": {"dist-1"}, "res-2": {"dist-1"}, "res-3": {"dist-2"}, "res-4": {"dist-1", "dist-2"},
}

// drawCommand draws one random command; most come from a plausible actor for their target (so that
// many succeed), the others from any actor.
func drawCommand(t *rapid.T, label string) cmd {
	cust := rapid.SampledFrom(propCustomers).Draw(t, label+" customer")
	partner := rapid.SampledFrom(propPartners).Draw(t, label+" partner")
	kind := rapid.IntRange(0, 9).Draw(t, label+" command")
	var a domain.Actor
	if rapid.IntRange(0, 4).Draw(t, label+" any actor") == 4 {
		a = rapid.SampledFrom(propActors).Draw(t, label+" actor")
	} else {
		switch kind {
		case 0, 7, 8, 9:
			if ps := parents[partner]; ps != nil && kind != 0 || rapid.Bool().Draw(t, label+" by parent") && ps != nil {
				a = op(rapid.SampledFrom(ps).Draw(t, label+" parent actor"))
			} else {
				a = platform
			}
		default:
			a = op(rapid.SampledFrom(managers[cust]).Draw(t, label+" manager"))
		}
	}
	m := domain.Meta{Actor: a, RequestID: label, IdempotencyKey: rapid.SampledFrom(propKeys).Draw(t, label+" key")}
	ft := rapid.SampledFrom(propTypes).Draw(t, label+" type")
	reason := rapid.SampledFrom(propReasons).Draw(t, label+" reason")
	if kind == 1 && a.Role == domain.RolePartner && rapid.Bool().Draw(t, label+" own partner") {
		partner = a.PartnerID
	}
	switch kind {
	case 0:
		pt := rapid.SampledFrom(propPTypes).Draw(t, label+" partner type")
		parent := ""
		if pt == domain.PartnerReseller && a.Role == domain.RolePlatform {
			parent = rapid.SampledFrom([]string{"dist-1", "dist-2", "sp-1"}).Draw(t, label+" parent")
		}
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.RegisterPartner(ctx, domain.RegisterPartner{Meta: m, PartnerID: partner, Name: "P", Type: pt, ParentID: parent})
		}
	case 1:
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.AssociateCustomer(ctx, domain.AssociateCustomer{Meta: m, CustomerID: cust, Name: "C", PartnerID: partner})
		}
	case 2, 3:
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.FreezeCustomer(ctx, domain.FreezeCustomer{Meta: m, CustomerID: cust, Reason: reason, FreezeType: ft})
		}
	case 4, 5:
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.UnfreezeCustomer(ctx, domain.UnfreezeCustomer{Meta: m, CustomerID: cust, Reason: reason, UnfreezeType: ft})
		}
	case 6:
		ids := rapid.SliceOfN(rapid.SampledFrom(propCustomers), 1, 4).Draw(t, label+" batch")
		freezeIt := rapid.Bool().Draw(t, label+" batch freeze")
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			var br domain.BatchResult
			var err error
			if freezeIt {
				br, err = s.FreezeCustomers(ctx, domain.FreezeCustomers{Meta: m, CustomerIDs: ids, Reason: reason, FreezeType: ft})
			} else {
				br, err = s.UnfreezeCustomers(ctx, domain.UnfreezeCustomers{Meta: m, CustomerIDs: ids, Reason: reason, UnfreezeType: ft})
			}
			if err == nil && len(br.Items) != len(ids) {
				err = fmt.Errorf("batch of %d has %d results", len(ids), len(br.Items))
			}
			return domain.Result{}, err
		}
	case 7:
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.FreezePartner(ctx, domain.FreezePartner{Meta: m, PartnerID: partner, Reason: reason})
		}
	case 8:
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.UnfreezePartner(ctx, domain.UnfreezePartner{Meta: m, PartnerID: partner, Reason: reason})
		}
	default:
		fr, b := rapid.Bool().Draw(t, label+" freeze perm"), rapid.Bool().Draw(t, label+" budget perm")
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.SetDelegation(ctx, domain.SetDelegation{Meta: m, ResellerID: partner, Freeze: fr, Budget: b})
		}
	}
}

// checkOutcome fails on anything but success or a *domain.Error.
func checkOutcome(t *rapid.T, label string, err error) {
	if err != nil && domain.ErrorCode(err) == "" {
		t.Fatalf("%s: not a domain refusal: %v", label, err)
	}
}

// TestPropertyRulesHoldInLog: random command sequences from random actors, some concurrent, across
// two service instances, restarts, clock moves, resource releases and injected store failures, on
// the embedded store. Afterwards the history validator accepts the whole log, two replays give the
// same state, and that state is the service's.
func TestPropertyRulesHoldInLog(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		dir, err := os.MkdirTemp("", "domain-prop-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		store, err := embedded.Open(dir, embedded.Options{UnsafeNoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		l := &flakyLog{storeLog: newStoreLog(store)}
		clock := domaintest.NewClock(t0)
		opts := domain.Options{Clock: clock, Retention: time.Hour, ReservationGrace: time.Minute, MaxGroup: rapid.IntRange(1, 8).Draw(t, "max group")}
		svcs := []*domain.Service{domain.NewService(l, opts), domain.NewService(l, opts)}
		ctx := context.Background()
		l.n = 0
		for i, c := range world {
			if _, err := c(ctx, svcs[0]); err != nil {
				t.Fatalf("world %d: %v", i, err)
			}
		}
		l.n = int64(rapid.SampledFrom([]int{0, 0, 7, 13}).Draw(t, "fail every"))
		steps := rapid.IntRange(5, 60).Draw(t, "steps")
		for step := 0; step < steps; step++ {
			label := fmt.Sprintf("step %d", step)
			switch rapid.IntRange(0, 9).Draw(t, label) {
			case 0, 1, 2, 3:
				c := drawCommand(t, label)
				s := svcs[rapid.IntRange(0, 1).Draw(t, label+" instance")]
				_, err := c(ctx, s)
				checkOutcome(t, label, err)
			case 4, 5:
				n := rapid.IntRange(2, 8).Draw(t, label+" burst")
				cmds := make([]cmd, n)
				inst := make([]int, n)
				for i := range cmds {
					cmds[i] = drawCommand(t, fmt.Sprintf("%s.%d", label, i))
					inst[i] = rapid.IntRange(0, 1).Draw(t, fmt.Sprintf("%s.%d instance", label, i))
				}
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range cmds {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, errs[i] = cmds[i](ctx, svcs[inst[i]])
					}()
				}
				wg.Wait()
				for i, err := range errs {
					checkOutcome(t, fmt.Sprintf("%s.%d", label, i), err)
				}
			case 6:
				clock.Advance(time.Duration(rapid.IntRange(1, 90).Draw(t, label+" minutes")) * time.Minute)
			case 7:
				_, err := svcs[rapid.IntRange(0, 1).Draw(t, label+" instance")].ReleaseExpiredResources(ctx)
				checkOutcome(t, label, err)
			case 8:
				i := rapid.IntRange(0, 1).Draw(t, label+" instance")
				svcs[i] = domain.NewService(l, opts)
			default:
				c := drawCommand(t, label)
				for range 2 { // an immediate retry, as a client would after a timeout
					_, err := c(ctx, svcs[0])
					checkOutcome(t, label, err)
				}
			}
		}
		evs, err := l.ReadAll(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		var states [2]map[string]domain.ChannelState
		for i := range states {
			v := domain.NewHistoryValidator(domain.HistoryOptions{Retention: opts.Retention})
			for _, ev := range evs {
				if err := v.Check(ev); err != nil {
					t.Fatalf("the service wrote an event the rules do not permit: %v", err)
				}
			}
			if err := v.Finish(); err != nil {
				t.Fatal(err)
			}
			states[i] = v.State()
		}
		if !reflect.DeepEqual(states[0], states[1]) {
			t.Fatal("two replays of the log differ")
		}
		l.n = 0
		fresh := domain.NewService(l, opts)
		for _, st := range states[0] {
			for _, cu := range st.Customers {
				got, _, _, err := fresh.Customer(ctx, cu.ID)
				if err != nil || !reflect.DeepEqual(got, cu) {
					t.Fatalf("customer %s: service %+v (%v), replay %+v", cu.ID, got, err, cu)
				}
			}
			for _, p := range st.Partners {
				got, _, err := fresh.Partner(ctx, p.ID)
				if err != nil || !reflect.DeepEqual(got, p) {
					t.Fatalf("partner %s: service %+v (%v), replay %+v", p.ID, got, err, p)
				}
			}
		}
	})
}
