// Package storetest is the conformance suite every eventstore.Store backend must pass, in the
// manner of testing/slogtest: a backend's tests call Run with a Factory.
//
// The suite is backend-neutral: it never assumes positions are dense or that Commit == Prepare, and
// with Factory.Shared it never assumes the store is empty (it uses unique stream names and compares
// positions only relative to ones it saw).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/eventstore"
)

// Factory makes stores for the suite.
type Factory struct {
	// New returns a ready store. It must arrange (t.Cleanup) for the store to be closed and its data
	// removed when t ends.
	New func(t *testing.T) eventstore.Store
	// Reopen closes s and returns a store on the same data. Nil skips the close-and-reopen tests.
	Reopen func(t *testing.T, s eventstore.Store) eventstore.Store
	// Shared says the store is a live server holding other data and possibly other writers: the suite
	// then uses unique stream names (it always does) and relative positions only.
	Shared bool
}

// timeout bounds every subtest.
const timeout = 60 * time.Second

// Run runs the conformance suite against the stores f makes.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f Factory)
	}{
		{"AppendAndRead", testAppendAndRead},
		{"ExpectedRevisionMatrix", testExpectedRevisionMatrix},
		{"EmptyAppendChecksOnly", testEmptyAppend},
		{"IdempotentRetry", testIdempotentRetry},
		{"ConcurrentOneStream", testConcurrentOneStream},
		{"ConcurrentManyStreams", testConcurrentManyStreams},
		{"ReadStreamDirectionsAndBounds", testReadStream},
		{"ReadAllAfterPosition", testReadAll},
		{"SubscriptionHandover", testSubscriptionHandover},
		{"SlowSubscriber", testSlowSubscriber},
		{"SubscriptionClose", testSubscriptionClose},
		{"CloseAndReopen", testCloseAndReopen},
		{"Limits", testLimits},
		{"CancelledContext", testCancelledContext},
		{"PositionStrings", testPositionStrings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, f) })
	}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// streamName is unique to this run, so that shared stores never mix runs.
func streamName(t *testing.T, name string) string {
	t.Helper()
	return fmt.Sprintf("st_%s-%s", name, strings.ReplaceAll(uuid.NewString()[:13], "-", ""))
}

func newEvent(typ string, i int) eventstore.EventData {
	return eventstore.EventData{
		ID:       uuid.New(),
		Type:     typ,
		Data:     []byte(fmt.Sprintf(`{"i":%d}`, i)),
		Metadata: []byte(fmt.Sprintf(`{"m":%d}`, i)),
	}
}

func newEvents(typ string, n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = newEvent(typ, i)
	}
	return out
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, exp eventstore.ExpectedRevision, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(testCtx(t), stream, exp, evs...)
	if err != nil {
		t.Fatalf("append %d events to %q expecting %s: %v", len(evs), stream, exp, err)
	}
	return res
}

func readStream(t *testing.T, s eventstore.Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	evs, err := s.ReadStream(testCtx(t), stream, eventstore.Forwards, 0, 0)
	if err != nil {
		t.Fatalf("read stream %q: %v", stream, err)
	}
	return evs
}

// streamLen is the number of events in stream, -1 if it does not exist.
func streamLen(t *testing.T, s eventstore.Store, stream string) int {
	t.Helper()
	evs, err := s.ReadStream(testCtx(t), stream, eventstore.Forwards, 0, 0)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return -1
	}
	if err != nil {
		t.Fatalf("read stream %q: %v", stream, err)
	}
	return len(evs)
}

func head(t *testing.T, s eventstore.Store) eventstore.Position {
	t.Helper()
	p, err := s.Head(testCtx(t))
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	return p
}

// readAllAfter reads every event after p, in pages.
func readAllAfter(t *testing.T, s eventstore.Store, p eventstore.Position) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for {
		page, err := s.ReadAll(testCtx(t), p, 1000)
		if err != nil {
			t.Fatalf("read all after %s: %v", p, err)
		}
		if len(page) == 0 {
			return out
		}
		for _, e := range page {
			if !p.Less(e.Position) {
				t.Fatalf("read all after %s returned position %s, not after it", p, e.Position)
			}
			p = e.Position
		}
		out = append(out, page...)
	}
}

// ofStreams keeps the events of the given streams.
func ofStreams(evs []eventstore.RecordedEvent, streams map[string]bool) []eventstore.RecordedEvent {
	var out []eventstore.RecordedEvent
	for _, e := range evs {
		if streams[e.Stream] {
			out = append(out, e)
		}
	}
	return out
}

func sameEvent(t *testing.T, got eventstore.RecordedEvent, stream string, rev uint64, want eventstore.EventData) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || got.Stream != stream || got.Revision != rev ||
		!bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Metadata, want.Metadata) {
		t.Fatalf("event = {ID:%s Type:%s Stream:%s Revision:%d Data:%s Metadata:%s}, want {ID:%s Type:%s Stream:%s Revision:%d Data:%s Metadata:%s}",
			got.ID, got.Type, got.Stream, got.Revision, got.Data, got.Metadata,
			want.ID, want.Type, stream, rev, want.Data, want.Metadata)
	}
	if got.Created.IsZero() {
		t.Fatalf("event %s at revision %d has no Created time", got.ID, rev)
	}
}

func wantWrong(t *testing.T, err error, actual int64) {
	t.Helper()
	var werr *eventstore.WrongExpectedRevisionError
	if !errors.Is(err, eventstore.ErrWrongExpectedRevision) || !errors.As(err, &werr) {
		t.Fatalf("err = %v, want a *WrongExpectedRevisionError", err)
	}
	if werr.Actual != actual {
		t.Fatalf("wrong expected revision error says actual %d, want %d (%v)", werr.Actual, actual, err)
	}
}

func testAppendAndRead(t *testing.T, f Factory) {
	s := f.New(t)
	stream := streamName(t, "basic")
	evs := newEvents("st.basic", 3)
	evs[2].Metadata = nil
	r1 := mustAppend(t, s, stream, eventstore.NoStream, evs[:2]...)
	if r1.NextRevision != 1 {
		t.Fatalf("first append NextRevision = %d, want 1", r1.NextRevision)
	}
	r2 := mustAppend(t, s, stream, eventstore.Exact(1), evs[2])
	if r2.NextRevision != 2 || !r1.Position.Less(r2.Position) {
		t.Fatalf("second append = %+v after %+v, want revision 2 at a later position", r2, r1)
	}
	got := readStream(t, s, stream)
	if len(got) != 3 {
		t.Fatalf("read %d events, want 3", len(got))
	}
	for i := range got {
		sameEvent(t, got[i], stream, uint64(i), evs[i])
		if i > 0 && !got[i-1].Position.Less(got[i].Position) {
			t.Fatalf("positions %s then %s are not increasing", got[i-1].Position, got[i].Position)
		}
	}
	if got[1].Position != r1.Position || got[2].Position != r2.Position {
		t.Fatalf("read positions %s, %s; append results said %s, %s", got[1].Position, got[2].Position, r1.Position, r2.Position)
	}
	if h := head(t, s); h.Less(r2.Position) || (!f.Shared && h != r2.Position) {
		t.Fatalf("head = %s after an append at %s", h, r2.Position)
	}
}

func testExpectedRevisionMatrix(t *testing.T, f Factory) {
	s := f.New(t)
	type state int
	const (
		missing state = iota
		atZero
		atTwo
	)
	exps := []eventstore.ExpectedRevision{
		eventstore.Any, eventstore.NoStream, eventstore.StreamExists,
		eventstore.Exact(0), eventstore.Exact(1), eventstore.Exact(2), eventstore.Exact(5),
	}
	// ok[state][i] says whether exps[i] holds in that state.
	ok := map[state][]bool{
		missing: {true, true, false, false, false, false, false},
		atZero:  {true, false, true, true, false, false, false},
		atTwo:   {true, false, true, false, false, true, false},
	}
	actual := map[state]int64{missing: -1, atZero: 0, atTwo: 2}
	for _, st := range []state{missing, atZero, atTwo} {
		for i, exp := range exps {
			t.Run(fmt.Sprintf("state%d/%s", actual[st], strings.ReplaceAll(exp.String(), " ", "_")), func(t *testing.T) {
				stream := streamName(t, "matrix")
				switch st {
				case atZero:
					mustAppend(t, s, stream, eventstore.NoStream, newEvent("st.setup", 0))
				case atTwo:
					mustAppend(t, s, stream, eventstore.NoStream, newEvents("st.setup", 3)...)
				}
				before := streamLen(t, s, stream)
				res, err := s.Append(testCtx(t), stream, exp, newEvent("st.matrix", 1))
				if ok[st][i] {
					if err != nil {
						t.Fatalf("append expecting %s on a stream at %d: %v", exp, actual[st], err)
					}
					if want := uint64(actual[st] + 1); res.NextRevision != want {
						t.Fatalf("NextRevision = %d, want %d", res.NextRevision, want)
					}
					if n := streamLen(t, s, stream); n != max(before, 0)+1 {
						t.Fatalf("stream has %d events after a successful append, had %d", n, before)
					}
					return
				}
				wantWrong(t, err, actual[st])
				if n := streamLen(t, s, stream); n != before {
					t.Fatalf("failed append changed the stream from %d to %d events", before, n)
				}
			})
		}
	}
}

func testEmptyAppend(t *testing.T, f Factory) {
	s := f.New(t)
	stream := streamName(t, "empty")
	if _, err := s.Append(testCtx(t), stream, eventstore.StreamExists); !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("empty append expecting stream exists on a missing stream: %v, want ErrWrongExpectedRevision", err)
	}
	mustAppend(t, s, stream, eventstore.NoStream, newEvents("st.empty", 2)...)
	if _, err := s.Append(testCtx(t), stream, eventstore.Exact(1)); err != nil {
		t.Fatalf("empty append with a holding expectation: %v", err)
	}
	_, err := s.Append(testCtx(t), stream, eventstore.Exact(0))
	wantWrong(t, err, 1)
	if n := streamLen(t, s, stream); n != 2 {
		t.Fatalf("stream has %d events after empty appends, want 2", n)
	}
}

// wantRetried appends evs to stream again expecting exp, as a client retrying an append that
// returned first would, and fails t unless the retry returns first and the stream still holds
// wantLen events.
func wantRetried(t *testing.T, s eventstore.Store, stream string, exp eventstore.ExpectedRevision, evs []eventstore.EventData, first eventstore.AppendResult, wantLen int) {
	t.Helper()
	again := mustAppend(t, s, stream, exp, evs...)
	if again != first {
		t.Fatalf("retry returned %+v, first append %+v", again, first)
	}
	if n := streamLen(t, s, stream); n != wantLen {
		t.Fatalf("stream has %d events after a retry, want %d", n, wantLen)
	}
}

func testIdempotentRetry(t *testing.T, f Factory) {
	s := f.New(t)
	// A retry of a whole two-event append to a new stream, with the expectation it was made with.
	retryNew := func(exp eventstore.ExpectedRevision) func(t *testing.T) {
		return func(t *testing.T) {
			stream := streamName(t, "idem")
			evs := newEvents("st.idem", 2)
			first := mustAppend(t, s, stream, exp, evs...)
			wantRetried(t, s, stream, exp, evs, first, 2)
		}
	}
	t.Run("NoStream", retryNew(eventstore.NoStream))
	t.Run("Exact", func(t *testing.T) {
		stream := streamName(t, "idem")
		mustAppend(t, s, stream, eventstore.NoStream, newEvent("st.idem", 0))
		evs := newEvents("st.idem", 3)
		first := mustAppend(t, s, stream, eventstore.Exact(0), evs...)
		mustAppend(t, s, stream, eventstore.Exact(3), newEvent("st.after", 9))
		wantRetried(t, s, stream, eventstore.Exact(0), evs, first, 5)
	})
	t.Run("Any", retryNew(eventstore.Any))
	t.Run("PartialOverlapRefused", func(t *testing.T) {
		stream := streamName(t, "idem")
		evs := newEvents("st.idem", 2)
		mustAppend(t, s, stream, eventstore.NoStream, evs...)
		other := newEvent("st.other", 5)
		_, err := s.Append(testCtx(t), stream, eventstore.NoStream, evs[0], other)
		wantWrong(t, err, 1)
		if n := streamLen(t, s, stream); n != 2 {
			t.Fatalf("stream has %d events after a refused partial retry, want 2", n)
		}
	})
	t.Run("SameIDsOtherStream", func(t *testing.T) {
		a, b := streamName(t, "idem"), streamName(t, "idem")
		evs := newEvents("st.idem", 2)
		mustAppend(t, s, a, eventstore.NoStream, evs...)
		mustAppend(t, s, b, eventstore.NoStream, evs...)
		if na, nb := streamLen(t, s, a), streamLen(t, s, b); na != 2 || nb != 2 {
			t.Fatalf("streams have %d and %d events, want 2 and 2", na, nb)
		}
	})
}

// testConcurrentOneStream: in each round, 50 goroutines append to one stream expecting the same
// revision; exactly one wins, the others get the typed error carrying the winner's revision.
func testConcurrentOneStream(t *testing.T, f Factory) {
	s := f.New(t)
	stream := streamName(t, "race")
	const writers, rounds = 50, 8
	var winners []eventstore.EventData
	for round := 0; round < rounds; round++ {
		exp := eventstore.NoStream
		if round > 0 {
			exp = eventstore.Exact(uint64(round - 1))
		}
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			mu      sync.Mutex
			won     []eventstore.EventData
			results []eventstore.AppendResult
			errs    []error
		)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev := newEvent("st.race", round*writers+w)
				<-start
				res, err := s.Append(testCtx(t), stream, exp, ev)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				won = append(won, ev)
				results = append(results, res)
			}()
		}
		close(start)
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("round %d: %d appends won, want exactly 1", round, len(won))
		}
		if results[0].NextRevision != uint64(round) {
			t.Fatalf("round %d: the winner got revision %d", round, results[0].NextRevision)
		}
		for _, err := range errs {
			wantWrong(t, err, int64(round))
		}
		winners = append(winners, won[0])
	}
	got := readStream(t, s, stream)
	if len(got) != rounds {
		t.Fatalf("stream has %d events, want %d", len(got), rounds)
	}
	for i := range got {
		sameEvent(t, got[i], stream, uint64(i), winners[i])
	}
}

// testConcurrentManyStreams: 50 goroutines on 50 streams; the global order holds every event once,
// consistent with each stream's order.
func testConcurrentManyStreams(t *testing.T, f Factory) {
	s := f.New(t)
	const writers, perWriter = 50, 6
	start := head(t, s)
	streams := make([]string, writers)
	ours := map[string]bool{}
	for i := range streams {
		streams[i] = streamName(t, fmt.Sprintf("many%d", i))
		ours[streams[i]] = true
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			exp := eventstore.NoStream
			for i := 0; i < perWriter; i++ {
				res, err := s.Append(testCtx(t), streams[w], exp, newEvent("st.many", i))
				if err != nil {
					errs <- err
					return
				}
				exp = eventstore.Exact(res.NextRevision)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}
	all := readAllAfter(t, s, start)
	got := ofStreams(all, ours)
	if !f.Shared && len(got) != len(all) {
		t.Fatalf("read all after %s returned %d events, %d of them not ours", start, len(all), len(all)-len(got))
	}
	if len(got) != writers*perWriter {
		t.Fatalf("read all holds %d of our events, want %d", len(got), writers*perWriter)
	}
	next := map[string]uint64{}
	seen := map[uuid.UUID]bool{}
	for i, e := range got {
		if i > 0 && !got[i-1].Position.Less(e.Position) {
			t.Fatalf("global order: position %s then %s", got[i-1].Position, e.Position)
		}
		if seen[e.ID] {
			t.Fatalf("event %s appears twice", e.ID)
		}
		seen[e.ID] = true
		if e.Revision != next[e.Stream] {
			t.Fatalf("global order has %s revision %d where revision %d was next", e.Stream, e.Revision, next[e.Stream])
		}
		next[e.Stream]++
	}
	for _, st := range streams {
		evs := readStream(t, s, st)
		if len(evs) != perWriter {
			t.Fatalf("stream %s has %d events, want %d", st, len(evs), perWriter)
		}
	}
}

func testReadStream(t *testing.T, f Factory) {
	s := f.New(t)
	stream := streamName(t, "dirs")
	evs := newEvents("st.dirs", 10)
	mustAppend(t, s, stream, eventstore.NoStream, evs...)
	revs := func(got []eventstore.RecordedEvent) []uint64 {
		out := []uint64{}
		for _, e := range got {
			out = append(out, e.Revision)
		}
		return out
	}
	cases := []struct {
		dir   eventstore.Direction
		from  uint64
		count int
		want  []uint64
	}{
		{eventstore.Forwards, 0, 0, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{eventstore.Forwards, 0, -1, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{eventstore.Forwards, 3, 4, []uint64{3, 4, 5, 6}},
		{eventstore.Forwards, 8, 5, []uint64{8, 9}},
		{eventstore.Forwards, 9, 1, []uint64{9}},
		{eventstore.Forwards, 10, 0, []uint64{}},
		{eventstore.Forwards, 1000, 3, []uint64{}},
		{eventstore.Backwards, eventstore.End, 3, []uint64{9, 8, 7}},
		{eventstore.Backwards, eventstore.End, 0, []uint64{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{eventstore.Backwards, 5, 0, []uint64{5, 4, 3, 2, 1, 0}},
		{eventstore.Backwards, 5, 2, []uint64{5, 4}},
		{eventstore.Backwards, 0, 5, []uint64{0}},
		{eventstore.Backwards, 9, 1, []uint64{9}},
	}
	for _, c := range cases {
		got, err := s.ReadStream(testCtx(t), stream, c.dir, c.from, c.count)
		if err != nil {
			t.Fatalf("read dir %d from %d count %d: %v", c.dir, c.from, c.count, err)
		}
		if g := revs(got); fmt.Sprint(g) != fmt.Sprint(c.want) {
			t.Fatalf("read dir %d from %d count %d = revisions %v, want %v", c.dir, c.from, c.count, g, c.want)
		}
		for _, e := range got {
			sameEvent(t, e, stream, e.Revision, evs[e.Revision])
		}
	}
	for _, dir := range []eventstore.Direction{eventstore.Forwards, eventstore.Backwards} {
		if _, err := s.ReadStream(testCtx(t), streamName(t, "nothing"), dir, 0, 0); !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Fatalf("read of a missing stream (dir %d): %v, want ErrStreamNotFound", dir, err)
		}
	}
}

func testReadAll(t *testing.T, f Factory) {
	s := f.New(t)
	stream := streamName(t, "all")
	ours := map[string]bool{stream: true}
	var pos []eventstore.Position
	for i := 0; i < 5; i++ {
		pos = append(pos, mustAppend(t, s, stream, eventstore.Any, newEvent("st.all", i)).Position)
	}
	got := ofStreams(readAllAfter(t, s, pos[1]), ours)
	if len(got) != 3 || got[0].Position != pos[2] || got[2].Position != pos[4] {
		t.Fatalf("read all after %s = %d of our events, want revisions 2..4 at %v", pos[1], len(got), pos[2:])
	}
	page, err := s.ReadAll(testCtx(t), pos[0], 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || !pos[0].Less(page[0].Position) || !page[0].Position.Less(page[1].Position) {
		t.Fatalf("read all after %s count 2 = %d events", pos[0], len(page))
	}
	if !f.Shared && (page[0].Position != pos[1] || page[1].Position != pos[2]) {
		t.Fatalf("read all after %s count 2 = %s, %s, want %s, %s", pos[0], page[0].Position, page[1].Position, pos[1], pos[2])
	}
	first, err := s.ReadAll(testCtx(t), eventstore.Start, 1)
	if err != nil || len(first) != 1 {
		t.Fatalf("read all from the start, count 1 = %d events, %v", len(first), err)
	}
	if !f.Shared {
		if tail, err := s.ReadAll(testCtx(t), pos[4], 0); err != nil || len(tail) != 0 {
			t.Fatalf("read all after the head = %d events, %v", len(tail), err)
		}
		all := readAllAfter(t, s, eventstore.Start)
		if len(all) != 5 || all[0].Position != pos[0] {
			t.Fatalf("read all from the start of a fresh store = %d events", len(all))
		}
	}
}

// subscribeCollect reads from sub until it has seen want of our events, checking order.
func subscribeCollect(t *testing.T, ctx context.Context, sub eventstore.Subscription, after eventstore.Position, ours map[string]bool, want int) []eventstore.RecordedEvent {
	t.Helper()
	var got []eventstore.RecordedEvent
	last := after
	for len(got) < want {
		evs, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("subscription Next after %d of %d events: %v", len(got), want, err)
		}
		if len(evs) == 0 {
			t.Fatal("subscription Next returned no events and no error")
		}
		for _, e := range evs {
			if !last.Less(e.Position) {
				t.Fatalf("subscription delivered position %s after %s (duplicate or out of order)", e.Position, last)
			}
			last = e.Position
			if ours[e.Stream] {
				got = append(got, e)
			}
		}
	}
	return got
}

func testSubscriptionHandover(t *testing.T, f Factory) {
	s := f.New(t)
	ctx := testCtx(t)
	const writers, perWriter, before = 4, 60, 20
	streams := make([]string, writers)
	ours := map[string]bool{}
	for i := range streams {
		streams[i] = streamName(t, fmt.Sprintf("sub%d", i))
		ours[streams[i]] = true
	}
	// Some events exist before the subscription's position, some between it and the subscription's
	// start (catch-up), and the rest are written while it runs (live).
	mustAppend(t, s, streams[0], eventstore.Any, newEvents("st.before", 3)...)
	from := head(t, s)
	for i := 0; i < before; i++ {
		mustAppend(t, s, streams[i%writers], eventstore.Any, newEvent("st.catchup", i))
	}
	sub, err := s.SubscribeAll(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				// Batches of one and two events, so handovers fall inside appends too.
				evs := newEvents("st.live", 1+i%2)
				if _, err := s.Append(ctx, streams[w], eventstore.Any, evs...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	total := before + writers*perWriter*3/2
	got := subscribeCollect(t, ctx, sub, from, ours, total)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}
	want := ofStreams(readAllAfter(t, s, from), ours)
	if len(want) != total {
		t.Fatalf("read all has %d of our events after %s, want %d", len(want), from, total)
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Position != want[i].Position {
			t.Fatalf("subscription event %d is %s at %s; read all has %s at %s", i, got[i].ID, got[i].Position, want[i].ID, want[i].Position)
		}
	}
}

// testSlowSubscriber: a subscriber that does not read while writers write many events does not
// stop them, and afterwards still gets every event, in order.
func testSlowSubscriber(t *testing.T, f Factory) {
	s := f.New(t)
	ctx := testCtx(t)
	stream := streamName(t, "slow")
	from := head(t, s)
	sub, err := s.SubscribeAll(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const appends = 200
	var ids []uuid.UUID
	for i := 0; i < appends; i++ {
		evs := newEvents("st.slow", 5)
		for _, e := range evs {
			ids = append(ids, e.ID)
		}
		mustAppend(t, s, stream, eventstore.Any, evs...)
	}
	got := subscribeCollect(t, ctx, sub, from, map[string]bool{stream: true}, len(ids))
	for i := range ids {
		if got[i].ID != ids[i] || got[i].Revision != uint64(i) {
			t.Fatalf("slow subscriber's event %d is %s revision %d, want %s revision %d", i, got[i].ID, got[i].Revision, ids[i], i)
		}
	}
}

func testSubscriptionClose(t *testing.T, f Factory) {
	s := f.New(t)
	ctx := testCtx(t)
	sub, err := s.SubscribeAll(ctx, head(t, s))
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := sub.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled context: %v, want context.Canceled", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := sub.Next(ctx)
		for err == nil {
			_, err = sub.Next(ctx) // a shared store may deliver others' events first
		}
		done <- err
	}()
	if err := sub.Close(); err != nil {
		t.Fatalf("subscription Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("Next after Close: %v, want ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("Next did not return after Close")
	}
}

func testCloseAndReopen(t *testing.T, f Factory) {
	if f.Reopen == nil {
		t.Skip("the backend cannot be reopened (Factory.Reopen is nil)")
	}
	s := f.New(t)
	streams := []string{streamName(t, "reopen"), streamName(t, "reopen")}
	ours := map[string]bool{streams[0]: true, streams[1]: true}
	retry := newEvents("st.reopen", 2)
	first := mustAppend(t, s, streams[0], eventstore.NoStream, retry...)
	for i := 0; i < 20; i++ {
		mustAppend(t, s, streams[i%2], eventstore.Any, newEvent("st.reopen", i))
	}
	beforeHead := head(t, s)
	beforeAll := ofStreams(readAllAfter(t, s, eventstore.Start), ours)

	s2 := f.Reopen(t, s)
	if _, err := s.Append(testCtx(t), streams[0], eventstore.Any, newEvent("st.closed", 0)); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append to a closed store: %v, want ErrClosed", err)
	}
	if _, err := s.ReadAll(testCtx(t), eventstore.Start, 1); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("read all of a closed store: %v, want ErrClosed", err)
	}
	if h := head(t, s2); h.Less(beforeHead) || (!f.Shared && h != beforeHead) {
		t.Fatalf("head after reopen = %s, before %s", h, beforeHead)
	}
	afterAll := ofStreams(readAllAfter(t, s2, eventstore.Start), ours)
	if len(afterAll) != len(beforeAll) {
		t.Fatalf("after reopen read all has %d of our events, before %d", len(afterAll), len(beforeAll))
	}
	for i := range afterAll {
		a, b := afterAll[i], beforeAll[i]
		if a.ID != b.ID || a.Position != b.Position || a.Revision != b.Revision || a.Stream != b.Stream ||
			a.Type != b.Type || !bytes.Equal(a.Data, b.Data) || !bytes.Equal(a.Metadata, b.Metadata) || !a.Created.Equal(b.Created) {
			t.Fatalf("event %d changed across reopen: %+v became %+v", i, b, a)
		}
	}
	if again := mustAppend(t, s2, streams[0], eventstore.NoStream, retry...); again != first {
		t.Fatalf("retry after reopen returned %+v, first append %+v", again, first)
	}
	n := streamLen(t, s2, streams[1])
	res := mustAppend(t, s2, streams[1], eventstore.Exact(uint64(n-1)), newEvent("st.reopen", 99))
	if res.NextRevision != uint64(n) || !beforeHead.Less(res.Position) {
		t.Fatalf("append after reopen = %+v, want revision %d after %s", res, n, beforeHead)
	}
}

func testLimits(t *testing.T, f Factory) {
	s := f.New(t)
	before := head(t, s)
	stream := streamName(t, "limits")
	long := strings.Repeat("a", eventstore.MaxNameLength+1)
	big := newEvent("st.big", 0)
	big.Data = bytes.Repeat([]byte("x"), eventstore.MaxAppendSize/2)
	big2 := newEvent("st.big", 1)
	big2.Data = bytes.Repeat([]byte("y"), eventstore.MaxAppendSize/2)
	big2.Metadata = []byte("{}")
	dup := newEvent("st.dup", 0)
	noID := newEvent("st.noid", 0)
	noID.ID = uuid.Nil
	cases := []struct {
		name   string
		stream string
		evs    []eventstore.EventData
		want   error
	}{
		{"EmptyStreamName", "", []eventstore.EventData{newEvent("st.ok", 0)}, eventstore.ErrInvalidStreamName},
		{"SystemStreamName", "$" + stream, []eventstore.EventData{newEvent("st.ok", 0)}, eventstore.ErrInvalidStreamName},
		{"StreamNameWithSpace", stream + " x", []eventstore.EventData{newEvent("st.ok", 0)}, eventstore.ErrInvalidStreamName},
		{"StreamNameNotASCII", stream + "é", []eventstore.EventData{newEvent("st.ok", 0)}, eventstore.ErrInvalidStreamName},
		{"StreamNameTooLong", long, []eventstore.EventData{newEvent("st.ok", 0)}, eventstore.ErrInvalidStreamName},
		{"EmptyType", stream, []eventstore.EventData{newEvent("", 0)}, eventstore.ErrInvalidEventType},
		{"TypeTooLong", stream, []eventstore.EventData{newEvent("st.ok", 0), newEvent(long, 1)}, eventstore.ErrInvalidEventType},
		{"TypeWithNewline", stream, []eventstore.EventData{newEvent("st.bad\n", 0)}, eventstore.ErrInvalidEventType},
		{"NilID", stream, []eventstore.EventData{newEvent("st.ok", 0), noID}, eventstore.ErrInvalidEvent},
		{"RepeatedID", stream, []eventstore.EventData{dup, dup}, eventstore.ErrInvalidEvent},
		{"OverOneMiB", stream, []eventstore.EventData{big, big2}, eventstore.ErrTooLarge},
	}
	for _, c := range cases {
		if _, err := s.Append(testCtx(t), c.stream, eventstore.Any, c.evs...); !errors.Is(err, c.want) {
			t.Fatalf("%s: append error %v, want %v", c.name, err, c.want)
		}
	}
	if n := streamLen(t, s, stream); n != -1 {
		t.Fatalf("refused appends wrote %d events", n)
	}
	if h := head(t, s); !f.Shared && h != before {
		t.Fatalf("refused appends moved the head from %s to %s", before, h)
	}
	if _, err := s.ReadStream(testCtx(t), "$"+stream, eventstore.Forwards, 0, 0); !errors.Is(err, eventstore.ErrInvalidStreamName) && !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("read of an invalid stream name: %v", err)
	}
	// Just under the limit is fine.
	big.Data = bytes.Repeat([]byte("x"), eventstore.MaxAppendSize/2-64)
	big2.Data = bytes.Repeat([]byte("y"), eventstore.MaxAppendSize/4)
	mustAppend(t, s, stream, eventstore.NoStream, big, big2)
	got := readStream(t, s, stream)
	if len(got) != 2 || !bytes.Equal(got[0].Data, big.Data) || !bytes.Equal(got[1].Data, big2.Data) {
		t.Fatalf("large events did not read back intact")
	}
	name := strings.Repeat("b", eventstore.MaxNameLength-40) + stream[:min(len(stream), 40)]
	mustAppend(t, s, name, eventstore.NoStream, newEvent(strings.Repeat("t", eventstore.MaxNameLength), 0))
	if n := streamLen(t, s, name); n != 1 {
		t.Fatalf("stream with a name of the longest length has %d events", n)
	}
}

func testCancelledContext(t *testing.T, f Factory) {
	s := f.New(t)
	stream := streamName(t, "cancel")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(ctx, stream, eventstore.Any, newEvent("st.cancel", 0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: %v, want context.Canceled", err)
	}
	if n := streamLen(t, s, stream); n != -1 {
		t.Fatalf("append with a cancelled context wrote %d events", n)
	}
	mustAppend(t, s, stream, eventstore.NoStream, newEvent("st.cancel", 1))
	if _, err := s.ReadStream(ctx, stream, eventstore.Forwards, 0, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("read stream with a cancelled context: %v", err)
	}
	if _, err := s.ReadAll(ctx, eventstore.Start, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("read all with a cancelled context: %v", err)
	}
	if _, err := s.SubscribeAll(ctx, eventstore.Start); !errors.Is(err, context.Canceled) {
		t.Fatalf("subscribe with a cancelled context: %v", err)
	}
	if _, err := s.Head(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("head with a cancelled context: %v", err)
	}
}

func testPositionStrings(t *testing.T, f Factory) {
	s := f.New(t)
	stream := streamName(t, "pos")
	var prev eventstore.Position
	for i := 0; i < 5; i++ {
		p := mustAppend(t, s, stream, eventstore.Any, newEvent("st.pos", i)).Position
		back, err := eventstore.ParsePosition(p.String())
		if err != nil || back != p {
			t.Fatalf("position %+v: string %q parses to %+v, %v", p, p.String(), back, err)
		}
		if i > 0 && (!prev.Less(p) || p.Compare(prev) != 1 || prev.Compare(p) != -1 || p.Compare(p) != 0) {
			t.Fatalf("positions %s then %s do not compare in order", prev, p)
		}
		prev = p
	}
	if back, err := eventstore.ParsePosition(eventstore.Start.String()); err != nil || back != eventstore.Start {
		t.Fatalf("start position %q parses to %+v, %v", eventstore.Start.String(), back, err)
	}
	for _, bad := range []string{"", "x", "-1", "01", "1/", "/1", "1/2/3", "3/3"} {
		if _, err := eventstore.ParsePosition(bad); !errors.Is(err, eventstore.ErrInvalidPosition) {
			t.Fatalf("ParsePosition(%q) = %v, want ErrInvalidPosition", bad, err)
		}
	}
}
