package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

// readFeed reads viewer's whole feed after cursor after, limit items per Next. It checks every
// item's AppendJSON against encoding/json, then drops the shared encoding, so that items compare
// equal whether they came from the cache or not.
func readFeed(t *testing.T, m *ReadModels, viewer ChangeViewer, after ChangeCursor, limit int) []Change {
	t.Helper()
	r := m.Changes(viewer, after)
	defer r.Close()
	var out []Change
	for {
		items, err := r.Next(context.Background(), limit)
		if err != nil {
			t.Fatalf("Next after %s: %v", r.Cursor(), err)
		}
		if len(items) > limit {
			t.Fatalf("Next(%d) returned %d items", limit, len(items))
		}
		if len(items) == 0 {
			return out
		}
		for i := range items {
			want, err := json.Marshal(&items[i])
			if got := items[i].AppendJSON([]byte("x")); err != nil || string(got[1:]) != string(want) {
				t.Fatalf("item %s: AppendJSON\n%s\nencoding/json\n%s", items[i].ID, got[1:], want)
			}
			items[i].raw = nil
		}
		out = append(out, items...)
	}
}

// statusKey is what an item shows of a status.
func statusKey(s CustomerStatus) string {
	return strings.Join([]string{s.PartnerID, s.EffectiveState, deref(s.EffectiveFreezeType), deref(s.EffectiveOrigin), s.State, deref(s.FreezeType), deref(s.Origin)}, " ")
}

func changeKey(c Change) string {
	return c.CustomerID + " " + strings.Join([]string{c.PartnerID, c.EffectiveState, deref(c.EffectiveFreezeType), deref(c.EffectiveOrigin), c.State, deref(c.FreezeType), deref(c.Origin)}, " ")
}

// oracle computes the feed by brute force: for every event, every customer's status just before and
// just after it (time travel by position), and an item for each difference (a new customer's first
// item is its association freeze). It returns, per position, the sorted item keys.
func oracle(t *testing.T, m *ReadModels, evs []eventstore.RecordedEvent, customers []string, visible func(string) bool) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	prev := map[string]string{}
	for _, e := range evs {
		pos := e.Position
		var keys []string
		for _, id := range customers {
			s, err := m.Status(id, AsOf{Position: &pos})
			now := ""
			if err == nil {
				now = statusKey(s)
			}
			if now != prev[id] && now != "" && e.Type != domain.EventCustomerAssociated && visible(id) {
				keys = append(keys, id+" "+now)
			}
			prev[id] = now
		}
		if len(keys) > 0 {
			sort.Strings(keys)
			out[pos.String()] = keys
		}
	}
	return out
}

// byPosition groups items per position (sorted keys) and checks their IDs: "P" for a single item,
// "P.0", "P.1", ... in order for several; and Index is the event's leaf.
func byPosition(t *testing.T, items []Change, leafOf map[string]uint64) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	var groups [][]Change
	for i, c := range items {
		if i == 0 || items[i-1].Position != c.Position {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], c)
	}
	for _, g := range groups {
		pos := g[0].Position
		if _, dup := out[pos]; dup {
			t.Fatalf("items of position %s are not contiguous", pos)
		}
		for n, c := range g {
			want := pos
			if len(g) > 1 {
				want = fmt.Sprintf("%s.%d", pos, n)
			}
			if c.ID != want {
				t.Fatalf("item %d of position %s has ID %q, want %q", n, pos, c.ID, want)
			}
			if c.Index != leafOf[pos] {
				t.Fatalf("item %s: index %d, want %d", c.ID, c.Index, leafOf[pos])
			}
			out[pos] = append(out[pos], changeKey(c))
		}
		sort.Strings(out[pos])
	}
	return out
}

// The feed yields exactly the status changes that time travel shows, event by event, cascades
// included, in log order, for every viewer's subtree; and any item's ID resumes right after it. It
// holds with the shared item cache, without it, and with a tiny one (4 events of at most 2 items:
// readers mix cached events, evicted ones and ones too big to keep).
func TestChangesEqualTimeTravelDifferences(t *testing.T) {
	for _, c := range []struct {
		name string
		tune func(*changeCache)
	}{
		{"cache", func(*changeCache) {}},
		{"no cache", func(c *changeCache) { c.disabled = true }},
		{"tiny cache", func(c *changeCache) { c.size, c.maxItems = 4, 2 }},
	} {
		t.Run(c.name, func(t *testing.T) { testChangesEqualTimeTravel(t, c.tune) })
	}
}

func testChangesEqualTimeTravel(t *testing.T, tune func(*changeCache)) {
	l := newLedger(t)
	customers, partners := randomLog(l, 11, 400)
	evs := readAll(t, l.store)
	m := openModels(t, l.store, t.TempDir())
	tune(&m.changeSets)
	waitFor(t, m, evs[len(evs)-1].Position)
	leafOf := map[string]uint64{}
	for i, e := range evs {
		leafOf[e.Position.String()] = uint64(i)
	}
	cascades := 0
	for _, viewer := range append([]string{""}, partners...) {
		visible := func(id string) bool { return m.VisibleTo(viewer, id) }
		want := oracle(t, m, evs, customers, visible)
		all := readFeed(t, m, ChangeViewer{Scope: viewer}, ChangeCursor{Item: WholeEvent}, 1000)
		got := byPosition(t, all, leafOf)
		if !reflect.DeepEqual(got, want) {
			for pos := range want {
				if !reflect.DeepEqual(got[pos], want[pos]) {
					t.Errorf("viewer %q, position %s:\n got %q\nwant %q", viewer, pos, got[pos], want[pos])
				}
			}
			for pos := range got {
				if _, ok := want[pos]; !ok {
					t.Errorf("viewer %q, position %s: unexpected %q", viewer, pos, got[pos])
				}
			}
			t.FailNow()
		}
		for i := 1; i < len(all); i++ {
			if !evPositionLess(all[i-1].Position, all[i].Position) && all[i-1].Position != all[i].Position {
				t.Fatalf("viewer %q: items out of log order: %s then %s", viewer, all[i-1].ID, all[i].ID)
			}
			if strings.Contains(all[i].ID, ".") {
				cascades++
			}
		}
		// Small pages give the same sequence.
		for _, limit := range []int{1, 2, 7} {
			if paged := readFeed(t, m, ChangeViewer{Scope: viewer}, ChangeCursor{Item: WholeEvent}, limit); !reflect.DeepEqual(paged, all) {
				t.Fatalf("viewer %q, pages of %d: %d items, want %d", viewer, limit, len(paged), len(all))
			}
		}
		// Resuming after any item (by its ID, as Last-Event-ID would) gives the rest.
		for i := 0; i < len(all); i += 1 + i/10 {
			cur, err := ParseChangeCursor(all[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			if rest := readFeed(t, m, ChangeViewer{Scope: viewer}, cur, 3); len(rest)+len(all[i+1:]) > 0 && !reflect.DeepEqual(rest, all[i+1:]) {
				t.Fatalf("viewer %q: after %s: %d items, want %d", viewer, all[i].ID, len(rest), len(all)-i-1)
			}
		}
	}
	if cascades == 0 {
		t.Fatal("the random log produced no cascade with several items: the test checks nothing about them")
	}
}

func evPositionLess(a, b string) bool {
	pa, _ := eventstore.ParsePosition(a)
	pb, _ := eventstore.ParsePosition(b)
	return pa.Less(pb)
}

// A distributor freeze yields one item per customer below it (its own and its resellers'), except
// those already effectively frozen by their reseller's freeze; a reader resumes mid-cascade.
func TestChangesDistributorCascade(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	l.registerPartner("res-1", domain.PartnerReseller, "dist-1")
	l.registerPartner("res-2", domain.PartnerReseller, "dist-1")
	l.registerPartner("sp-1", domain.PartnerSolutionProvider, "")
	for i := 0; i < 3; i++ {
		l.associate(fmt.Sprintf("d-%d", i), "dist-1", "", nil, "")
		l.associate(fmt.Sprintf("r1-%d", i), "res-1", "dist-1", nil, "")
		l.associate(fmt.Sprintf("r2-%d", i), "res-2", "dist-1", nil, "")
		l.associate(fmt.Sprintf("s-%d", i), "sp-1", "", nil, "")
	}
	l.freezePartner("res-2", opsOf("dist-1"), "reseller unpaid")
	before := l.unfreeze("d-0", "dist-1", opsOf("dist-1"), domain.FreezeAccount, "paid")
	pos := l.freezePartner("dist-1", platform, "distributor unpaid")
	l.associate("late", "res-1", "dist-1", nil, "")
	m := openModels(t, l.store, t.TempDir())
	waitFor(t, m, l.unfreezePartner("dist-1", platform, "settled"))

	items := readFeed(t, m, ChangeViewer{}, ChangeCursor{Position: before, Item: WholeEvent}, 100)
	var ids, custs []string
	for _, c := range items {
		if c.Position != pos.String() {
			break
		}
		ids, custs = append(ids, c.ID), append(custs, c.CustomerID)
		if c.EffectiveState != "FROZEN" || deref(c.EffectiveFreezeType) != "ACCOUNT_AND_RESOURCE" || deref(c.EffectiveOrigin) != "partner" ||
			c.Cause.EventType != domain.EventPartnerFrozen || c.Cause.PartnerID != "dist-1" || c.Cause.Actor != platform {
			t.Fatalf("cascade item %+v", c)
		}
	}
	if want := []string{"d-0", "d-1", "d-2", "r1-0", "r1-1", "r1-2"}; !reflect.DeepEqual(custs, want) {
		t.Fatalf("cascade items for %v, want %v", custs, want)
	}
	p := pos.String()
	if want := []string{p + ".0", p + ".1", p + ".2", p + ".3", p + ".4", p + ".5"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("cascade IDs %v", ids)
	}
	if d0 := items[0]; d0.State != "ACTIVE" || d0.FreezeType != nil {
		t.Fatalf("d-0's own state under the cascade: %+v", d0)
	}
	// The reseller sees its own customers only, numbered among what it sees.
	mine := readFeed(t, m, ChangeViewer{Scope: "res-1"}, ChangeCursor{Position: before, Item: WholeEvent}, 100)
	if len(mine) < 3 || mine[0].ID != p+".0" || mine[0].CustomerID != "r1-0" || mine[2].ID != p+".2" {
		t.Fatalf("res-1's cascade: %+v", mine)
	}
	// Resume in the middle of the cascade.
	rest := readFeed(t, m, ChangeViewer{}, ChangeCursor{Position: pos, Item: 3}, 2)
	if len(rest) < 2 || rest[0].ID != p+".4" || rest[1].ID != p+".5" {
		t.Fatalf("after %s.3: %+v", p, rest[:min(2, len(rest))])
	}
	// The unfreeze: the same six, plus "late" (associated in between), come back to their own state.
	var back []string
	for _, c := range rest[2:] {
		if c.Cause.EventType == domain.EventPartnerUnfrozen {
			back = append(back, c.CustomerID+"="+c.EffectiveState)
		}
	}
	if want := []string{"d-0=ACTIVE", "d-1=FROZEN", "d-2=FROZEN", "r1-0=FROZEN", "r1-1=FROZEN", "r1-2=FROZEN", "late=FROZEN"}; !reflect.DeepEqual(back, want) {
		t.Fatalf("unfreeze items %v, want %v", back, want)
	}
	// One customer only (the customer role's seam).
	one := readFeed(t, m, ChangeViewer{CustomerID: "r1-1"}, ChangeCursor{Item: WholeEvent}, 100)
	if len(one) != 3 || one[0].CustomerID != "r1-1" || one[1].ID != p || one[2].Cause.EventType != domain.EventPartnerUnfrozen {
		t.Fatalf("customer r1-1's feed: %+v", one)
	}
}

// Readers of different viewers share one computation of an event's items: the second reader's
// item carries the first one's encoding, and a cascade larger than the cache takes is not kept.
func TestChangeCacheSharesItems(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	l.registerPartner("res-1", domain.PartnerReseller, "dist-1")
	for i := 0; i < changeCacheMaxItems+1; i++ {
		l.associate(fmt.Sprintf("c-%d", i), "res-1", "dist-1", nil, "")
	}
	pos := l.freeze("c-0", "res-1", opsOf("res-1"), domain.FreezeAccountAndResource, domain.FreezeAccount, "upgrade")
	big := l.freezePartner("dist-1", platform, "unpaid")
	m := openModels(t, l.store, t.TempDir())
	waitFor(t, m, big)
	first := readOne(t, m, ChangeViewer{Scope: "dist-1"}, pos)
	second := readOne(t, m, ChangeViewer{Scope: "res-1"}, pos)
	if first.ID != pos.String() || second.ID != pos.String() || &first.raw[0] != &second.raw[0] {
		t.Fatalf("items of one event not shared: %s %s", first.ID, second.ID)
	}
	if items := readFeed(t, m, ChangeViewer{}, ChangeCursor{Position: pos, Item: WholeEvent}, 100); len(items) != changeCacheMaxItems+1 {
		t.Fatalf("the cascade: %d items", len(items))
	}
	if set := m.changeSets.get(big); set == nil || !set.big || set.items != nil {
		t.Fatalf("the %d-item cascade's cache entry: %+v", changeCacheMaxItems+1, set)
	}
}

// readOne is the first item viewer sees of the event at pos (read from the event before it).
func readOne(t *testing.T, m *ReadModels, viewer ChangeViewer, pos eventstore.Position) Change {
	t.Helper()
	m.mu.RLock()
	cut := m.st.cutAtPosition(pos)
	prev := m.st.pos.at(cut - 2)
	m.mu.RUnlock()
	r := m.Changes(viewer, ChangeCursor{Position: prev, Item: WholeEvent})
	defer r.Close()
	items, err := r.Next(context.Background(), 1)
	if err != nil || len(items) != 1 || items[0].Position != pos.String() || items[0].raw == nil {
		t.Fatalf("viewer %+v: %v %+v", viewer, err, items)
	}
	return items[0]
}

// Wait returns once something new is applied; Next never runs ahead of the read models.
func TestChangesWaitForNewEvents(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("sp-1", domain.PartnerSolutionProvider, "")
	pos := l.associate("c-1", "sp-1", "", nil, "")
	m := openModels(t, l.store, t.TempDir())
	waitFor(t, m, pos)
	r := m.Changes(ChangeViewer{}, ChangeCursor{Item: WholeEvent})
	defer r.Close()
	items, err := r.Next(context.Background(), 10)
	if err != nil || len(items) != 1 {
		t.Fatalf("first Next: %v %+v", err, items)
	}
	if items, _ := r.Next(context.Background(), 10); len(items) != 0 {
		t.Fatalf("caught up, got %+v", items)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- r.Wait(ctx) }()
	fpos := l.freeze("c-1", "sp-1", opsOf("sp-1"), domain.FreezeAccountAndResource, domain.FreezeAccount, "upgrade")
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, fpos)
	items, err = r.Next(ctx, 10)
	if err != nil || len(items) != 1 || items[0].ID != fpos.String() || deref(items[0].FreezeType) != "ACCOUNT_AND_RESOURCE" {
		t.Fatalf("after the upgrade: %v %+v", err, items)
	}
	if got := r.Cursor().String(); got != fpos.String() {
		t.Fatalf("cursor %s", got)
	}
}

func TestChangeCursorParse(t *testing.T) {
	for _, s := range []string{"0", "17", "17.0", "17.12", "5/3", "5/3.2"} {
		c, err := ParseChangeCursor(s)
		if err != nil || c.String() != s {
			t.Errorf("%q: %v %q", s, err, c.String())
		}
	}
	for _, s := range []string{"", ".", "x", "17.", "17.x", "17.01", "-1", "17.-1", "017", "17.99999999999", "1.2.3", strings.Repeat("9", 200)} {
		if _, err := ParseChangeCursor(s); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("%q: %v, want invalid", s, err)
		}
	}
}

// A cursor beyond the log, or an item of no event, is invalid.
func TestChangesBadCursor(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("sp-1", domain.PartnerSolutionProvider, "")
	pos := l.associate("c-1", "sp-1", "", nil, "")
	m := openModels(t, l.store, t.TempDir())
	waitFor(t, m, pos)
	far := eventstore.Position{Commit: pos.Commit + 100, Prepare: pos.Commit + 100}
	if _, err := m.Changes(ChangeViewer{}, ChangeCursor{Position: far, Item: WholeEvent}).Next(context.Background(), 1); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("after the head: %v", err)
	}
	if _, err := m.Changes(ChangeViewer{}, ChangeCursor{Position: eventstore.Start, Item: 0}).Next(context.Background(), 1); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("item of position 0: %v", err)
	}
}

func TestDecodeActorMatchesEncodingJSON(t *testing.T) {
	for _, meta := range []string{
		`{"schema_version":1,"actor":{"name":"ops-1","role":"partner","partner_id":"dist-1"},"time":"2026-11-01T08:00:00Z"}`,
		`{"actor":{"name":"sys\u0074em","role":"system","partner_id":""}}`,
		`{"time":"x"}`, `{}`, `{"actor":null}`, `{"actor":{"name":"a","extra":[1,{"b":2}],"role":"reader"}}`,
	} {
		var want struct {
			Actor domain.Actor `json:"actor"`
		}
		_ = json.Unmarshal([]byte(meta), &want)
		if got := decodeActor([]byte(meta)); got != want.Actor {
			t.Errorf("%s: %+v, want %+v", meta, got, want.Actor)
		}
	}
}
