package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

func readAll(t testing.TB, s eventstore.Store) []eventstore.RecordedEvent {
	t.Helper()
	evs, err := s.ReadAll(context.Background(), eventstore.Start, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// modelOf builds read models from evs alone, as a fresh replay of that log prefix.
func modelOf(evs []eventstore.RecordedEvent) *ReadModels {
	m := &ReadModels{st: newState(), opts: Options{Retention: DefaultRetention}, log: hclog.NewNullLogger(), notify: make(chan struct{})}
	m.applyLocked(m.st, evs)
	return m
}

func stateBytes(t testing.TB, m *ReadModels) []byte {
	t.Helper()
	m.mu.RLock()
	defer m.mu.RUnlock()
	var b bytes.Buffer
	if err := writeState(&b, m.st); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type snapshot struct {
	Status   CustomerStatus
	Err      string
	Ops      [2]Operations
	SaaS     Operations
	Partners []PartnerStatus
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return string(domain.ErrorCode(err))
}

// snap takes everything a client can read about customer id (and all partners) as of a.
func snap(m *ReadModels, id string, partners []string, a AsOf) snapshot {
	var s snapshot
	var err error
	s.Status, err = m.Status(id, a)
	s.Err = errString(err)
	s.Ops[0], _ = m.Operations(id, OperationsQuery{BillingMode: BillingYearlyMonthly, AsOf: a})
	s.Ops[1], _ = m.Operations(id, OperationsQuery{BillingMode: BillingPayPerUse, AsOf: a})
	s.SaaS, _ = m.Operations(id, OperationsQuery{Product: ProductMarketplaceSaaS, AsOf: a})
	for _, p := range partners {
		ps, _ := m.Partner(p, a)
		s.Partners = append(s.Partners, ps)
	}
	return s
}

// Time travel: the state as of a position or a time equals the state of read models built from the
// log prefix up to that moment, across the partner cascade.
func TestTimeTravelEqualsPrefixReplay(t *testing.T) {
	l := newLedger(t)
	customers, partners := randomLog(l, 7, 300)
	evs := readAll(t, l.store)
	full := modelOf(evs)
	checked := 0
	for k := 1; k <= len(evs); k += 1 + k/7 {
		prefix := modelOf(evs[:k])
		pos := evs[k-1].Position
		var md domain.Metadata
		if err := decodeMeta(evs[k-1].Metadata, &md); err != nil {
			t.Fatal(err)
		}
		at := md.Time
		for _, id := range customers {
			want := snap(prefix, id, partners, AsOf{})
			if got := snap(full, id, partners, AsOf{Position: &pos}); !reflect.DeepEqual(got, want) {
				t.Fatalf("customer %s as of position %s:\n got %+v\nwant %+v", id, pos, got, want)
			}
			if got := snap(full, id, partners, AsOf{Time: &at}); !reflect.DeepEqual(got, want) {
				t.Fatalf("customer %s as of time %s:\n got %+v\nwant %+v", id, at, got, want)
			}
			checked++
		}
	}
	// Before the first event nothing exists.
	early := t0.Add(-time.Hour)
	if _, err := full.Status(customers[0], AsOf{Time: &early}); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("before the log: %v", err)
	}
	if checked < 1000 {
		t.Fatalf("only %d comparisons", checked)
	}
}

// Incremental application (live, while events arrive), a rebuild from zero, and a restart from a
// checkpoint taken half-way give byte-identical read models.
func TestIncrementalRebuildRestartIdentical(t *testing.T) {
	l := newLedger(t)
	live := openModels(t, l.store, t.TempDir())
	ckDir := t.TempDir()
	first, err := Open(l.store, ckDir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()

	randomLog(l, 11, 150)
	head, _ := l.store.Head(context.Background())
	waitFor(t, first, head)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	mid := first.Events()

	// More events after the checkpoint, with customers of the existing partners.
	for i := 0; i < 30; i++ {
		id := "late-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		l.associate(id, "res-0-1", "dist-0", []string{"late"}, "")
		if i%3 == 0 {
			l.unfreeze(id, "res-0-1", opsOf("dist-0"), domain.FreezeAccount, "ok")
		}
	}
	l.freezePartner("dist-0", platform, "late freeze")
	head, _ = l.store.Head(context.Background())
	waitFor(t, live, head)

	restarted, err := Open(l.store, ckDir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if restarted.Events() != mid || mid == 0 {
		t.Fatalf("restart loaded %d events from the checkpoint, want %d", restarted.Events(), mid)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- restarted.Run(ctx2) }()
	waitFor(t, restarted, head)
	cancel2()
	<-done2

	rebuilt, err := Open(l.store, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rebuilt.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}

	want := stateBytes(t, live)
	for name, m := range map[string]*ReadModels{"restarted": restarted, "rebuilt": rebuilt, "replayed": modelOf(readAll(t, l.store))} {
		if got := stateBytes(t, m); !bytes.Equal(got, want) {
			t.Errorf("%s read models differ from the incrementally built ones (%d vs %d bytes)", name, len(got), len(want))
		}
	}
	// And what clients read is the same.
	s1, _, err1 := live.SearchCustomers(SearchFilter{Limit: 1000})
	s2, _, err2 := restarted.SearchCustomers(SearchFilter{Limit: 1000})
	if err1 != nil || err2 != nil || !reflect.DeepEqual(s1, s2) || len(s1) == 0 {
		t.Fatalf("search differs after restart: %v %v", err1, err2)
	}
	// Rebuild on live read models swaps in equal ones, and Run keeps going.
	if err := live.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := l.associate("after-rebuild", "sp-0", "", nil, "")
	waitFor(t, live, p)
	if _, err := live.Status("after-rebuild", AsOf{}); err != nil {
		t.Fatal(err)
	}
	if got := stateBytes(t, live); !bytes.Equal(got, stateBytes(t, modelOf(readAll(t, l.store)))) {
		t.Fatal("live read models after Rebuild differ from a replay")
	}
}

func rewriteCRC(b []byte) {
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
}

// A checkpoint of another projection version, a corrupt one, or one of another store is not used:
// the read models rebuild from the log.
func TestCheckpointNotUsedWhenStale(t *testing.T) {
	l := newLedger(t)
	randomLog(l, 3, 40)
	head, _ := l.store.Head(context.Background())
	dir := t.TempDir()
	m, err := Open(l.store, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Rebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, CheckpointFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	reopen := func() uint64 {
		t.Helper()
		m, err := Open(l.store, dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return m.Events()
	}
	if n := reopen(); n != uint64(head.Commit) {
		t.Fatalf("good checkpoint: %d events, want %d", n, head.Commit)
	}
	for name, mutate := range map[string]func([]byte){
		"version": func(b []byte) { b[len(ckptMagic)] = ProjectionVersion + 1; rewriteCRC(b) },
		"corrupt": func(b []byte) { b[len(b)/2] ^= 0xff },
		"torn":    func(b []byte) {},
	} {
		b := bytes.Clone(good)
		mutate(b)
		if name == "torn" {
			b = b[:len(b)/2]
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if n := reopen(); n != 0 {
			t.Errorf("%s checkpoint was used (%d events)", name, n)
		}
	}
	// A checkpoint of a different store (same positions, other events) is not used either.
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	other := newLedger(t)
	randomLog(other, 4, 40)
	m2, err := Open(other.store, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Events() != 0 {
		t.Fatalf("checkpoint of another store used (%d events)", m2.Events())
	}
}

func decodeMeta(b []byte, md *domain.Metadata) error { return json.Unmarshal(b, md) }

// flakyStore fails every other subscription after one batch, and every other ReadAll page, as a
// flapping connection would.
type flakyStore struct {
	eventstore.Store
	mu    sync.Mutex
	calls int
}

var errFlaky = errors.New("flaky: connection reset")

func (f *flakyStore) flip() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.calls%2 == 0
}

func (f *flakyStore) ReadAll(ctx context.Context, after eventstore.Position, count int) ([]eventstore.RecordedEvent, error) {
	if f.flip() {
		return nil, errFlaky
	}
	return f.Store.ReadAll(ctx, after, min(count, 7))
}

func (f *flakyStore) SubscribeAll(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	sub, err := f.Store.SubscribeAll(ctx, after)
	if err != nil {
		return nil, err
	}
	return &flakySub{Subscription: sub, fail: f.flip()}, nil
}

type flakySub struct {
	eventstore.Subscription
	fail bool
	n    int
}

func (s *flakySub) Next(ctx context.Context) ([]eventstore.RecordedEvent, error) {
	s.n++
	if s.fail && s.n > 1 {
		return nil, errFlaky
	}
	return s.Subscription.Next(ctx)
}

// Run survives failing reads and subscriptions: it resubscribes where it stopped, without gaps or
// duplicates (the leaf numbering stays that of a plain replay), and Close stops it.
func TestRunResubscribesAfterErrors(t *testing.T) {
	l := newLedger(t)
	randomLog(l, 21, 40)
	m, err := Open(&flakyStore{Store: l.store}, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	randomLog(l, 22, 40) // more events while it runs (partners re-registered: refused, still leaves)
	head, _ := l.store.Head(context.Background())
	waitFor(t, m, head)
	if got, want := stateBytes(t, m), stateBytes(t, modelOf(readAll(t, l.store))); !bytes.Equal(got, want) {
		t.Fatal("read models fed through failures differ from a replay")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
	if err := m.WaitFor(context.Background(), eventstore.Position{Commit: head.Commit + 1, Prepare: head.Commit + 1}); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("WaitFor after Close: %v", err)
	}
}

// Run writes checkpoints by itself (here every 5 events), so a crash loses at most that much work.
func TestRunCheckpointsPeriodically(t *testing.T) {
	l := newLedger(t)
	dir := t.TempDir()
	m, err := Open(l.store, dir, Options{CheckpointEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	randomLog(l, 9, 30)
	head, _ := l.store.Head(context.Background())
	waitFor(t, m, head)
	// Checkpoints are written by Run's goroutine after a batch: once Run has returned, all are
	// done. Close is not called, so only the periodic ones exist.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	again, err := Open(l.store, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Events() < 5 {
		t.Fatalf("the periodic checkpoint holds %d events", again.Events())
	}
}
