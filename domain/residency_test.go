package domain_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/domain/domaintest"
)

// fromSpy is a MemoryLog that records the revision every stream read starts from.
type fromSpy struct {
	*domaintest.MemoryLog
	mu    sync.Mutex
	froms map[string][]uint64
}

func (l *fromSpy) Read(ctx context.Context, stream string, from uint64) ([]domain.StoredEvent, error) {
	l.mu.Lock()
	if l.froms == nil {
		l.froms = map[string][]uint64{}
	}
	l.froms[stream] = append(l.froms[stream], from)
	l.mu.Unlock()
	return l.MemoryLog.Read(ctx, stream, from)
}

func (l *fromSpy) take(stream string) []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.froms[stream]
	delete(l.froms, stream)
	return out
}

// channelState is what a fresh service, without snapshots, loads for stream: the reference.
func channelState(t *testing.T, l domain.EventLog, stream string) (parts []domain.Partner, custs []domain.Customer) {
	t.Helper()
	parts, custs, _ = channelStateBilled(t, domain.NewService(l, domain.Options{}), stream)
	return parts, custs
}

// channelStateBilled is svc's state of stream: partners, customers and their billing states.
func channelStateBilled(t *testing.T, svc *domain.Service, stream string) (parts []domain.Partner, custs []domain.Customer, bills map[string]*domain.CustomerBilling) {
	t.Helper()
	err := svc.QueryChannel(context.Background(), stream, func(c *domain.Channel) {
		parts, custs, bills = c.Partners(), c.Customers(), map[string]*domain.CustomerBilling{}
		for _, cu := range custs {
			bills[cu.ID] = c.Billing(cu.ID)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return parts, custs, bills
}

// sameState fails unless svc's state of stream (partners, customers, billing states) is the one a
// fresh service loads from the whole log.
func sameState(t *testing.T, what string, svc *domain.Service, l domain.EventLog, stream string) {
	t.Helper()
	wantP, wantC, wantB := channelStateBilled(t, domain.NewService(l, domain.Options{}), stream)
	gotP, gotC, gotB := channelStateBilled(t, svc, stream)
	if !reflect.DeepEqual(gotP, wantP) || !reflect.DeepEqual(gotC, wantC) || !reflect.DeepEqual(gotB, wantB) {
		t.Fatalf("%s: the state of %s differs from a load of the whole log", what, stream)
	}
}

// phase2World gives dist-1's channel phase 2 state of every kind: a quota, a budget charged to it
// with usage past its first threshold, a resource, a verification switch, a customer with personal
// data (then erased) and a pending disassociation.
var phase2World = []cmd{
	quota(op("dist-1"), "res-1", "1000.00", "500.00"),
	deleg(op("dist-1"), "res-1", true, true),
	budget(op("res-1"), "c-r1", domain.BudgetMonthly, "100.00", domain.ExhaustionAlert),
	usage(rec("u-1", "c-r1", "80.00", t0), rec("u-2", "c-d", "5.00", t0)),
	resource("c-d", "vm-1", domain.ProductCloud, nil),
	assocPersonal(op("dist-1"), "c-p", "dist-1", withMobile()),
	erase(admin("dist-1"), true, "c-p"),
	requestDis(adminMeta("res-2", false), "c-r2"),
	setVerif(adminMeta("res-1", true), "res-1", true),
}

// TestEvictionBound: with MaxLoadedChannels 1, loading a second channel evicts the first, which
// leaves a snapshot; its next command loads it from the snapshot and reads only the events after
// it, and its state (phase 2's included) is the one the log gives; idempotency keys survive the
// eviction.
func TestEvictionBound(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(phase2World...)
	spy := &fromSpy{MemoryLog: f.log}
	snaps := domaintest.NewMemorySnapshots()
	var snapErrs []error
	svc := domain.NewService(spy, domain.Options{Clock: f.clock, MaxLoadedChannels: 1, Snapshots: snaps, SnapshotEvery: 1,
		SnapshotError: func(_ string, err error) { snapErrs = append(snapErrs, err) }})
	d1, d2 := domain.ChannelStream("dist-1"), domain.ChannelStream("dist-2")
	first, err := keyedUnfreeze("k-e", "c-d")(f.ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unfreeze(op("dist-2"), "c-r3", acct)(f.ctx, svc); err != nil { // loads dist-2: evicts dist-1
		t.Fatal(err)
	}
	domain.SettleForTest(svc)
	if n := svc.LoadedChannels(); n != 1 {
		t.Fatalf("%d channels loaded, want 1", n)
	}
	if snaps.Get(d1) == nil {
		t.Fatal("the evicted channel left no snapshot")
	}
	spy.take(d1)
	again, err := keyedUnfreeze("k-e", "c-d")(f.ctx, svc) // reloads dist-1 (evicting dist-2)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "a retry after the eviction", again, first)
	for _, from := range spy.take(d1) {
		if from == 0 {
			t.Fatalf("the reload read %s from revision 0: the snapshot was not used", d1)
		}
	}
	if _, err := freeze(op("dist-1"), "c-d", acct)(f.ctx, svc); err != nil {
		t.Fatal(err)
	}
	sameState(t, "after a reload from the snapshot", svc, f.log, d1)
	domain.SettleForTest(svc)
	sameState(t, "the other channel, reloaded", svc, f.log, d2)
	if len(snapErrs) > 0 {
		t.Fatalf("snapshot errors: %v", snapErrs)
	}
}

// TestSnapshotNeverTrusted: a damaged snapshot and one of another log (the same stream and commands,
// other events) are each reported and not used: the channel is rebuilt from the log. A stale but
// matching snapshot is used, with the events after it. The channel holds phase 2 state (billing,
// quota, verification, personal data, a disassociation), which the snapshots carry. (TestSnapshotOfShorterLog: one that claims
// more events than the log has.)
func TestSnapshotNeverTrusted(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	f.must(phase2World...)
	d1 := domain.ChannelStream("dist-1")
	snaps := domaintest.NewMemorySnapshots()
	mk := func(errs *[]error) *domain.Service {
		return domain.NewService(f.log, domain.Options{Clock: f.clock, Snapshots: snaps, SnapshotEvery: 1,
			SnapshotError: func(_ string, err error) { *errs = append(*errs, err) }})
	}
	var errs []error
	svc := mk(&errs)
	if _, err := unfreeze(op("dist-1"), "c-d", acct)(f.ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := svc.SaveSnapshots(f.ctx); err != nil {
		t.Fatal(err)
	}
	good := snaps.Get(d1)
	if good == nil || len(errs) > 0 {
		t.Fatalf("no snapshot saved (%v)", errs)
	}

	other := newFixture(t) // the same commands in another log: other event IDs
	other.must(world...)
	other.must(phase2World...)
	if _, err := unfreeze(op("dist-1"), "c-d", acct)(other.ctx, other.svc); err != nil {
		t.Fatal(err)
	}
	osnaps := domaintest.NewMemorySnapshots()
	osvc := domain.NewService(other.log, domain.Options{Clock: other.clock, Snapshots: osnaps, SnapshotEvery: 1})
	if err := osvc.QueryChannel(other.ctx, d1, func(*domain.Channel) {}); err != nil {
		t.Fatal(err)
	}
	if err := osvc.SaveSnapshots(other.ctx); err != nil {
		t.Fatal(err)
	}
	damaged := append([]byte(nil), good...)
	damaged[len(damaged)/2] ^= 0x40
	foreign := osnaps.Get(d1)
	if _, err := freeze(op("dist-1"), "c-d", acct)(f.ctx, svc); err != nil { // the log moves on: good is stale now
		t.Fatal(err)
	}
	if err := svc.SaveSnapshots(f.ctx); err != nil {
		t.Fatal(err)
	}
	fresh := snaps.Get(d1)
	if _, err := unfreeze(op("dist-1"), "c-d", acct)(f.ctx, svc); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		snap   []byte
		usable bool
	}{
		{"damaged", damaged, false},
		{"of another log", foreign, false},
		{"stale but matching", good, true},
		{"the latest", fresh, true},
	}
	for _, tc := range cases {
		if tc.snap == nil {
			t.Fatalf("%s: no snapshot to try", tc.name)
		}
		snaps.Put(d1, tc.snap)
		var errs []error
		svc := mk(&errs)
		sameState(t, tc.name, svc, f.log, d1)
		if tc.usable && len(errs) > 0 {
			t.Errorf("%s: refused: %v", tc.name, errs)
		}
		if !tc.usable && len(errs) != 1 {
			t.Errorf("%s: %d reports (%v), want the snapshot refused once", tc.name, len(errs), errs)
		}
	}
}

// TestSnapshotOfShorterLog: a snapshot that names a revision the log does not have (the log was
// restored from an older backup) is refused, not used.
func TestSnapshotOfShorterLog(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	d1 := domain.ChannelStream("dist-1")
	snaps := domaintest.NewMemorySnapshots()
	long := domain.NewService(f.log, domain.Options{Clock: f.clock, Snapshots: snaps, SnapshotEvery: 1})
	short := domaintest.NewMemoryLog() // the same events up to now: a backup
	for _, ev := range f.log.All() {
		if _, err := short.Append(f.ctx, ev.Stream, domain.ExpectAny, []domain.NewEvent{{ID: ev.ID, Type: ev.Type, Data: ev.Data, Metadata: ev.Metadata}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := unfreeze(op("dist-1"), "c-d", acct)(f.ctx, long); err != nil {
		t.Fatal(err)
	}
	if err := long.SaveSnapshots(f.ctx); err != nil {
		t.Fatal(err)
	}
	var errs []error
	svc := domain.NewService(short, domain.Options{Clock: f.clock, Snapshots: snaps, SnapshotError: func(_ string, err error) { errs = append(errs, err) }})
	sameState(t, "a snapshot ahead of the log", svc, short, d1)
	if len(errs) != 1 {
		t.Fatalf("reports %v, want one refusal", errs)
	}
}

// TestEvictIdleAndRetention: EvictIdle evicts the channels unused for the given time; the retention
// sweep does not load an evicted channel that has no release due, and does load (and release) one
// whose retention ran out. A channel another writer appended to is loaded again by the sweep.
func TestEvictIdleAndRetention(t *testing.T) {
	f := newFixture(t)
	f.must(world...)
	spy := &fromSpy{MemoryLog: f.log}
	svc := domain.NewService(spy, domain.Options{Clock: f.clock, Retention: time.Hour})
	d1, d2 := domain.ChannelStream("dist-1"), domain.ChannelStream("dist-2")
	if _, err := unfreeze(op("dist-1"), "c-d", acct)(f.ctx, svc); err != nil {
		t.Fatal(err)
	}
	if _, err := freeze(op("dist-1"), "c-d", anr)(f.ctx, svc); err != nil { // due in an hour
		t.Fatal(err)
	}
	if _, err := svc.ReleaseExpiredResources(f.ctx); err != nil { // loads every channel of the log
		t.Fatal(err)
	}
	loaded := svc.LoadedChannels()
	f.clock.Advance(30 * time.Minute)
	if n := svc.EvictIdle(time.Hour); n != 0 {
		t.Fatalf("EvictIdle evicted %d channels used 30 minutes ago", n)
	}
	if n := svc.EvictIdle(30 * time.Minute); n != loaded {
		t.Fatalf("EvictIdle evicted %d of %d channels (the sweep is no use)", n, loaded)
	}
	domain.SettleForTest(svc)
	if n := svc.LoadedChannels(); n != 0 {
		t.Fatalf("%d channels loaded after the eviction", n)
	}
	spy.take(d1)
	spy.take(d2)
	if n, err := svc.ReleaseExpiredResources(f.ctx); err != nil || n != 0 {
		t.Fatalf("a sweep before the deadline: %d %v", n, err)
	}
	if r := spy.take(d1); len(r) > 0 {
		t.Fatalf("the sweep loaded %s with nothing due (reads from %v)", d1, r)
	}
	if r := spy.take(d2); len(r) > 0 {
		t.Fatalf("the sweep loaded %s with nothing due (reads from %v)", d2, r)
	}
	// Another writer (another instance) appends to dist-2: an unfreeze brings nothing due, a freeze
	// with a retention deadline may: then the sweep must load it.
	other := domain.NewService(f.log, domain.Options{Clock: f.clock, Retention: time.Hour})
	if _, err := unfreeze(op("dist-2"), "c-r3", acct)(f.ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ReleaseExpiredResources(f.ctx); err != nil {
		t.Fatal(err)
	}
	if r := spy.take(d2); len(r) > 0 {
		t.Fatalf("the sweep loaded %s after another writer's unfreeze (reads from %v)", d2, r)
	}
	if _, err := freeze(op("dist-2"), "c-r3", anr)(f.ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ReleaseExpiredResources(f.ctx); err != nil {
		t.Fatal(err)
	}
	if r := spy.take(d2); len(r) == 0 {
		t.Fatalf("the sweep did not load %s after another writer's freeze with a deadline", d2)
	}
	f.clock.Advance(31 * time.Minute)
	n, err := svc.ReleaseExpiredResources(f.ctx)
	if err != nil || n != 1 {
		t.Fatalf("the sweep after the deadline released %d (%v), want 1", n, err)
	}
	var cu domain.Customer
	if err := svc.QueryChannel(f.ctx, d1, func(c *domain.Channel) { cu, _ = c.Customer("c-d") }); err != nil || !cu.ResourcesReleased {
		t.Fatalf("c-d not released: %+v %v", cu, err)
	}
}

// TestRetentionSweepLoadsOnlyWhatMayBeDue: a fresh Service's sweep scans the log and loads only the
// channels with a freeze that has a retention deadline; one whose evicted state had not seen another
// writer's events is loaded again.
func TestRetentionSweepLoadsOnlyWhatMayBeDue(t *testing.T) {
	f := newFixture(t)
	f.opts.Retention = time.Hour
	f.restart()
	f.must(world...)
	f.must(unfreeze(op("dist-1"), "c-d", acct), freeze(op("dist-1"), "c-d", anr))
	spy := &fromSpy{MemoryLog: f.log}
	svc := domain.NewService(spy, domain.Options{Clock: f.clock, Retention: time.Hour})
	if _, err := svc.ReleaseExpiredResources(f.ctx); err != nil {
		t.Fatal(err)
	}
	if n := svc.LoadedChannels(); n != 1 {
		t.Fatalf("the sweep loaded %d channels, want 1 (dist-1's)", n)
	}
	for _, st := range []string{domain.ChannelStream("dist-2"), domain.ChannelStream("sp-1")} {
		if r := spy.take(st); len(r) > 0 {
			t.Fatalf("the sweep loaded %s, which has nothing due (reads from %v)", st, r)
		}
	}
	// dist-1 is loaded; another writer appends to it; evicted, its state has not seen that event.
	other := domain.NewService(f.log, domain.Options{Clock: f.clock, Retention: time.Hour})
	if _, err := unfreeze(op("dist-1"), "c-r1", acct)(f.ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ReleaseExpiredResources(f.ctx); err != nil { // the scan meets the event while dist-1 is loaded
		t.Fatal(err)
	}
	svc.EvictIdle(0)
	domain.SettleForTest(svc)
	d1 := domain.ChannelStream("dist-1")
	spy.take(d1)
	f.clock.Advance(10 * time.Minute) // nothing due yet
	if _, err := svc.ReleaseExpiredResources(f.ctx); err != nil {
		t.Fatal(err)
	}
	if r := spy.take(d1); len(r) == 0 {
		t.Fatal("an evicted channel whose state missed another writer's event was not loaded again")
	}
}

// TestEvictionUnderLoad: many clients on more channels than may be loaded, with evictions all the
// time: every command is decided once against the right state (the log validates, the counts add
// up), and the bound holds once the evictions have run.
func TestEvictionUnderLoad(t *testing.T) {
	f := newFixture(t)
	const channels, per = 8, 30
	for i := range channels {
		d := fmt.Sprintf("dist-l%d", i)
		f.must(reg(platform, d, domain.PartnerDistributor, ""), assoc(op(d), "c-l"+fmt.Sprint(i), d))
	}
	snaps := domaintest.NewMemorySnapshots()
	svc := domain.NewService(f.log, domain.Options{Clock: f.clock, MaxLoadedChannels: 2, Snapshots: snaps, SnapshotEvery: 3})
	var wg sync.WaitGroup
	errs := make(chan error, channels*per)
	for i := range channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, c := fmt.Sprintf("dist-l%d", i), fmt.Sprintf("c-l%d", i)
			for k := range per {
				var err error
				if k%2 == 0 {
					_, err = unfreeze(op(d), c, acct)(f.ctx, svc)
				} else {
					_, err = freeze(op(d), c, acct)(f.ctx, svc)
				}
				if err != nil {
					errs <- fmt.Errorf("%s step %d: %w", c, k, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	domain.SettleForTest(svc)
	if n := svc.LoadedChannels(); n > 2 {
		t.Fatalf("%d channels loaded, bound 2", n)
	}
	f.validate()
	for i := range channels {
		_, custs := channelState(t, f.log, domain.ChannelStream(fmt.Sprintf("dist-l%d", i)))
		if len(custs) != 1 || !custs[0].Frozen { // associated frozen, then per/2 unfreeze-freeze pairs
			t.Fatalf("dist-l%d: %+v, want its customer frozen", i, custs)
		}
	}
	if _, saves := snaps.Counts(); saves == 0 {
		t.Fatal("no snapshot was written")
	}
}
