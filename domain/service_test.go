package domain_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
)

// TestDependencies keeps the domain free of storage, HTTP and logging: the standard library,
// google/uuid, and the module's own internal packages (internal/jsonwire) provided that they import
// nothing but the standard library themselves. Any other module, directly or through an internal
// package, fails it.
func TestDependencies(t *testing.T) {
	const module = "github.com/freezeledger/freezeledger"
	for _, p := range nonStandardDeps(t, ".") {
		switch {
		case p == module+"/domain", p == "github.com/google/uuid":
		case strings.HasPrefix(p, module+"/internal/"):
			for _, q := range nonStandardDeps(t, p) {
				if q != p {
					t.Errorf("domain depends on %s, which depends on %s", p, q)
				}
			}
		default:
			t.Errorf("domain depends on %s", p)
		}
	}
}

// nonStandardDeps lists the packages outside the standard library that pkg is built from, pkg
// included.
func nonStandardDeps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func key(a domain.Actor, k string) domain.Meta {
	return domain.Meta{Actor: a, RequestID: "req-" + k, IdempotencyKey: k}
}

func TestIdempotency(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	freezeK := func(k, reason string) (domain.Result, error) {
		return f.svc.FreezeCustomer(f.ctx, domain.FreezeCustomer{Meta: key(op("dist-1"), k), CustomerID: "c-d", Reason: reason, FreezeType: anr})
	}
	first, err := freezeK("k-1", "overdue")
	if err != nil || first.Replayed || len(first.Events) != 1 {
		t.Fatalf("first: %+v %v", first, err)
	}
	n := len(f.log.All())
	again, err := freezeK("k-1", "overdue")
	if err != nil || !again.Replayed || again.Position != first.Position || again.Events[0].ID != first.Events[0].ID {
		t.Fatalf("retry: %+v %v", again, err)
	}
	if _, err := freezeK("k-1", "another reason"); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("same key, other command: %v", err)
	}
	// The key is scoped per actor: another operator's k-1 is a different key.
	other := domain.Actor{Name: "ops-dist-1-b", Role: domain.RolePartner, PartnerID: "dist-1"}
	if _, err := f.svc.UnfreezeCustomer(f.ctx, domain.UnfreezeCustomer{Meta: key(other, "k-1"), CustomerID: "c-d", Reason: "x", UnfreezeType: anr}); err != nil {
		t.Fatalf("other actor's key: %v", err)
	}
	n++
	// After a restart, keys are recovered from the channel's metadata.
	f.restart()
	again, err = freezeK("k-1", "overdue")
	if err != nil || !again.Replayed || again.Position != first.Position {
		t.Fatalf("retry after restart: %+v %v", again, err)
	}
	if _, err := freezeK("k-1", "changed"); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("conflict after restart: %v", err)
	}
	// Association (two streams) replays too, without reserving again.
	assocK := func(name string) (domain.Result, error) {
		return f.svc.AssociateCustomer(f.ctx, domain.AssociateCustomer{Meta: key(op("dist-1"), "k-assoc"), CustomerID: "c-new", Name: name, PartnerID: "dist-1"})
	}
	a1, err := assocK("New")
	if err != nil {
		t.Fatal(err)
	}
	n += 3
	f.restart()
	a2, err := assocK("New")
	if err != nil || !a2.Replayed || a2.Position != a1.Position || len(a2.Events) != 2 {
		t.Fatalf("association retry: %+v %v", a2, err)
	}
	if _, err := assocK("Renamed"); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("association with another body: %v", err)
	}
	// Batches replay per customer.
	batch := func(ids ...string) (domain.BatchResult, error) {
		return f.svc.FreezeCustomers(f.ctx, domain.FreezeCustomers{Meta: key(op("dist-1"), "k-batch"), CustomerIDs: ids, Reason: "b", FreezeType: anr})
	}
	b1, err := batch("c-r1", "c-none", "c-new")
	if err != nil || b1.Items[0].Err != nil || b1.Items[1].Err == nil || b1.Items[2].Err != nil {
		t.Fatalf("batch: %+v %v", b1, err)
	}
	n += 2
	f.restart()
	b2, err := batch("c-r1", "c-none", "c-new")
	if err != nil || !b2.Replayed || b2.Position != b1.Position || b2.Items[0].Err != nil || b2.Items[1].Err == nil || b2.Items[2].Err != nil {
		t.Fatalf("batch retry: %+v %v", b2, err)
	}
	if got := len(f.log.All()); got != n {
		t.Fatalf("log has %d events, want %d: a replay appended", got, n)
	}
	// The platform's keys span channels: reusing one for another channel's command is a conflict.
	if _, err := f.svc.FreezePartner(f.ctx, domain.FreezePartner{Meta: key(platform, "p-1"), PartnerID: "dist-1", Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.FreezePartner(f.ctx, domain.FreezePartner{Meta: key(platform, "p-1"), PartnerID: "dist-2", Reason: "x"}); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("platform key reused across channels: %v", err)
	}
	f.validate()
}

// TestGroupCommit: many concurrent commands for one channel share appends, and each still gets its
// own events and position.
func TestGroupCommit(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	gate := make(chan struct{})
	var once sync.Once
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("c-g%02d", i)
		f.must(assoc(op("dist-1"), ids[i], "dist-1"))
	}
	var held atomic.Int64
	f.log.BeforeAppend = func(stream string, evs []domain.NewEvent) error {
		if stream == domain.ChannelStream("dist-1") {
			once.Do(func() { // hold the first append so that the others queue up
				held.Store(int64(len(evs)))
				<-gate
			})
		}
		return nil
	}
	appendsBefore := f.log.Appends()
	var wg sync.WaitGroup
	results := make([]domain.Result, n)
	errs := make([]error, n)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = freeze(op("dist-1"), ids[i], anr)(f.ctx, f.svc)
		}()
	}
	// Wait until every command is either in the held append or queued behind it.
	deadline := time.Now().Add(10 * time.Second)
	for int(held.Load())+domain.QueuedForTest(f.svc, domain.ChannelStream("dist-1")) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d commands held, %d queued", held.Load(), domain.QueuedForTest(f.svc, domain.ChannelStream("dist-1")))
		}
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	seen := map[string]bool{}
	for i := range ids {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if len(results[i].Events) != 1 || customerID(t, results[i].Events[0]) != ids[i] || results[i].Position != results[i].Events[0].Position {
			t.Fatalf("result %d: %+v", i, results[i])
		}
		if seen[results[i].Position] {
			t.Fatalf("two commands report position %s", results[i].Position)
		}
		seen[results[i].Position] = true
	}
	if a := f.log.Appends() - appendsBefore; a >= n {
		t.Errorf("%d commands took %d appends: no grouping", n, a)
	}
	f.validate()
}

func customerID(t *testing.T, ev domain.StoredEvent) string {
	t.Helper()
	var d struct {
		CustomerID string `json:"customer_id"`
	}
	if err := jsonUnmarshal(ev.Data, &d); err != nil {
		t.Fatal(err)
	}
	return d.CustomerID
}

// TestTwoInstances: two services on one log (two server instances) race on the same channel; the
// expected revision makes the loser reload and decide again, so the rules hold in the log.
func TestTwoInstances(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(deleg(op("dist-1"), "res-1", true, false))
	b := domain.NewService(f.log, f.opts)
	var wg sync.WaitGroup
	var okFreeze, okUnfreeze int
	var mu sync.Mutex
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := f.svc
			if i%2 == 1 {
				s = b
			}
			var err error
			if i%4 < 2 {
				_, err = freeze(op("res-1"), "c-r1", anr)(f.ctx, s)
			} else {
				_, err = unfreeze(op("res-1"), "c-r1", anr)(f.ctx, s)
			}
			mu.Lock()
			defer mu.Unlock()
			switch domain.ErrorCode(err) {
			case "":
				if err != nil {
					t.Error(err)
				} else if i%4 < 2 {
					okFreeze++
				} else {
					okUnfreeze++
				}
			case domain.CodeConflict, domain.CodeTypeMismatch:
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if okFreeze == 0 {
		t.Error("no freeze succeeded")
	}
	if d := okFreeze - okUnfreeze; d != 0 && d != 1 {
		t.Errorf("%d freezes and %d unfreezes succeeded on one customer", okFreeze, okUnfreeze)
	}
	f.validate()
}

type failingLog struct {
	domain.EventLog
	fail bool
}

func (l *failingLog) Append(ctx context.Context, stream string, expected int64, events []domain.NewEvent) (domain.Appended, error) {
	if l.fail {
		return domain.Appended{}, fmt.Errorf("disk on fire: %w", domain.ErrStoreUnavailable)
	}
	return l.EventLog.Append(ctx, stream, expected, events)
}

// TestStoreFailure: a failed append is reported as unavailable, leaves the in-memory state as it
// was, and the same command succeeds once the store is back.
func TestStoreFailure(t *testing.T) {
	mem := domaintest.NewMemoryLog()
	l := &failingLog{EventLog: mem}
	clock := domaintest.NewClock(t0)
	svc := domain.NewService(l, domain.Options{Clock: clock})
	ctx := context.Background()
	for i, c := range world {
		if _, err := c(ctx, svc); err != nil {
			t.Fatalf("world %d: %v", i, err)
		}
	}
	l.fail = true
	_, err := freeze(op("dist-1"), "c-d", anr)(ctx, svc)
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeUnavailable {
		t.Fatalf("got %v", err)
	}
	l.fail = false
	if _, err := freeze(op("dist-1"), "c-d", anr)(ctx, svc); err != nil {
		t.Fatalf("after recovery: %v (the failed freeze leaked into the state?)", err)
	}
	if err := domain.ValidateHistory(mem.All(), domain.HistoryOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestReadHelpers(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(deleg(op("dist-1"), "res-1", true, false))
	ch, err := f.svc.PartnerChannel(f.ctx, "res-1")
	if err != nil || ch != domain.ChannelStream("dist-1") {
		t.Fatalf("PartnerChannel: %q %v", ch, err)
	}
	cu, manager, ch, err := f.svc.Customer(f.ctx, "c-r1")
	if err != nil || manager != "res-1" || ch != domain.ChannelStream("dist-1") || cu.DistributorID != "dist-1" {
		t.Fatalf("Customer: %+v %q %q %v", cu, manager, ch, err)
	}
	if _, _, _, err := f.svc.Customer(f.ctx, "c-none"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("unknown customer: %v", err)
	}
	if _, err := f.svc.CustomerChannel(f.ctx, "../etc"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("invalid id: %v", err)
	}
}

func TestServiceOnEmbeddedStore(t *testing.T) {
	_, l := openStore(t, false)
	svc := domain.NewService(l, domain.Options{Clock: domaintest.NewClock(t0)})
	ctx := context.Background()
	for i, c := range world {
		if _, err := c(ctx, svc); err != nil {
			t.Fatalf("world %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c-e%d", i)
			if _, err := assoc(op("dist-1"), id, "dist-1")(ctx, svc); err != nil {
				t.Error(err)
				return
			}
			if _, err := freeze(op("dist-1"), id, anr)(ctx, svc); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := domain.ValidateHistory(readAll(t, l), domain.HistoryOptions{Retention: domain.DefaultRetention}); err != nil {
		t.Fatal(err)
	}
}

// TestMillisecondTimes: the service records times at millisecond resolution (what the API and the
// exports show), so that the offline verifier's replay derives the same retention deadlines.
func TestMillisecondTimes(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.clock.Advance(1234567 * time.Nanosecond)
	res, err := freeze(op("dist-1"), "c-d", anr)(f.ctx, f.svc)
	if err != nil {
		t.Fatal(err)
	}
	m := metaOf(t, res.Events[0])
	want := t0.Add(time.Millisecond)
	if !m.Time.Equal(want) {
		t.Errorf("recorded time %v, want %v", m.Time, want)
	}
	if d := decode[domain.CustomerFrozen](t, res.Events[0]); !d.RetentionDeadline.Equal(want.Add(f.opts.Retention)) {
		t.Errorf("deadline %v", d.RetentionDeadline)
	}
}
