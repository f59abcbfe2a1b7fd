package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"
	"unsafe"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

func ids(cs []CustomerStatus) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.CustomerID)
	}
	return out
}

func searchAll(t *testing.T, m *ReadModels, f SearchFilter) []string {
	t.Helper()
	var all []string
	for pages := 0; ; pages++ {
		cs, next, err := m.SearchCustomers(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids(cs)...)
		if next == "" {
			return all
		}
		if pages > 100 {
			t.Fatal("search does not end")
		}
		f.Cursor = next
	}
}

func TestSearchFiltersAndCursors(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	l.registerPartner("res-1", domain.PartnerReseller, "dist-1")
	l.registerPartner("res-2", domain.PartnerReseller, "dist-1")
	l.registerPartner("sp-1", domain.PartnerSolutionProvider, "")
	l.associate("a", "res-1", "dist-1", []string{"gold"}, "li")
	l.associate("b", "res-2", "dist-1", []string{"gold", "eu"}, "wang")
	mid := l.now
	l.associate("c", "dist-1", "", nil, "li")
	l.associate("d", "sp-1", "", []string{"eu"}, "")
	l.unfreeze("b", "res-2", opsOf("dist-1"), domain.FreezeAccount, "ok")
	l.unfreeze("c", "dist-1", opsOf("dist-1"), domain.FreezeAccount, "ok")
	l.freeze("c", "dist-1", opsOf("dist-1"), domain.FreezeAccountAndResource, "", "abuse")
	pos := l.freezePartner("res-1", opsOf("dist-1"), "overdue")
	m := openModels(t, l.store, t.TempDir())
	waitFor(t, m, pos)

	yes, no := true, false
	midS := mid.Format(time.RFC3339Nano)
	for _, c := range []struct {
		f    SearchFilter
		want []string
	}{
		{SearchFilter{}, []string{"a", "b", "c", "d"}},
		{SearchFilter{Scope: "dist-1"}, []string{"a", "b", "c"}},
		{SearchFilter{Scope: "res-1"}, []string{"a"}},
		{SearchFilter{Scope: "sp-1"}, []string{"d"}},
		{SearchFilter{Scope: "nobody"}, []string{}},
		{SearchFilter{Frozen: &yes}, []string{"a", "c", "d"}},
		{SearchFilter{Frozen: &no}, []string{"b"}},
		{SearchFilter{FreezeType: "ACCOUNT_AND_RESOURCE"}, []string{"a", "c"}},
		{SearchFilter{FreezeType: "ACCOUNT"}, []string{"d"}},
		{SearchFilter{Origin: "partner"}, []string{"a"}},
		{SearchFilter{Origin: "manual"}, []string{"c"}},
		{SearchFilter{Origin: "association"}, []string{"d"}},
		{SearchFilter{AutoFrozen: &yes}, []string{"a", "d"}},
		{SearchFilter{AutoFrozen: &no}, []string{"b", "c"}},
		{SearchFilter{PartnerID: "res-2"}, []string{"b"}},
		{SearchFilter{PartnerID: "dist-1"}, []string{"c"}},
		{SearchFilter{Tag: "eu"}, []string{"b", "d"}},
		{SearchFilter{Tag: "gold", Scope: "dist-1", Frozen: &no}, []string{"b"}},
		{SearchFilter{Name: "CUSTOMER C"}, []string{"c"}},
		{SearchFilter{Name: "tom"}, []string{"a", "b", "c", "d"}},
		{SearchFilter{AccountManager: "li"}, []string{"a", "c"}},
		{SearchFilter{AssociatedBefore: midS}, []string{"a", "b"}},
		{SearchFilter{AssociatedAfter: midS}, []string{"c", "d"}},
	} {
		for _, limit := range []int{0, 1, 2} {
			f := c.f
			f.Limit = limit
			if got := searchAll(t, m, f); !reflect.DeepEqual(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Errorf("search %+v limit %d = %v, want %v", c.f, limit, got, c.want)
			}
		}
	}
	// Cursors are stable: customers associated after a page was read appear at the end.
	page, next, err := m.SearchCustomers(SearchFilter{Limit: 2})
	if err != nil || len(page) != 2 || next == "" {
		t.Fatalf("%v %q %v", ids(page), next, err)
	}
	waitFor(t, m, l.associate("e", "res-1", "dist-1", nil, ""))
	rest := searchAll(t, m, SearchFilter{Limit: 2, Cursor: next})
	if !reflect.DeepEqual(rest, []string{"c", "d", "e"}) {
		t.Fatalf("after cursor: %v", rest)
	}
	for _, bad := range []SearchFilter{{Cursor: "!!"}, {Cursor: encodeCursor('h', 1)}, {AssociatedAfter: "monday"}} {
		if _, _, err := m.SearchCustomers(bad); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	// Limits: default 100, at most 1000.
	if pageLimit(0) != 100 || pageLimit(5000) != 1000 || pageLimit(7) != 7 {
		t.Fatal("page limits")
	}
}

func TestTenancy(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	l.registerPartner("res-1", domain.PartnerReseller, "dist-1")
	l.registerPartner("res-2", domain.PartnerReseller, "dist-1")
	l.registerPartner("sp-1", domain.PartnerSolutionProvider, "")
	l.associate("a", "res-1", "dist-1", nil, "")
	l.associate("c", "dist-1", "", nil, "")
	pos := l.associate("d", "sp-1", "", nil, "")
	m := openModels(t, l.store, t.TempDir())
	waitFor(t, m, pos)
	for _, c := range []struct {
		viewer, customer string
		want             bool
	}{
		{"", "a", true}, {"dist-1", "a", true}, {"res-1", "a", true}, {"res-2", "a", false}, {"sp-1", "a", false},
		{"dist-1", "c", true}, {"res-1", "c", false}, {"sp-1", "d", true}, {"dist-1", "d", false}, {"", "zz", false},
	} {
		if got := m.VisibleTo(c.viewer, c.customer); got != c.want {
			t.Errorf("VisibleTo(%q, %q) = %v", c.viewer, c.customer, got)
		}
	}
	for _, c := range []struct {
		viewer, partner string
		want            bool
	}{
		{"", "res-1", true}, {"dist-1", "dist-1", true}, {"dist-1", "res-2", true}, {"res-1", "res-1", true},
		{"res-1", "dist-1", false}, {"res-1", "res-2", false}, {"sp-1", "sp-1", true}, {"sp-1", "dist-1", false},
		{"dist-1", "sp-1", false}, {"", "nobody", false},
	} {
		if got := m.PartnerVisibleTo(c.viewer, c.partner); got != c.want {
			t.Errorf("PartnerVisibleTo(%q, %q) = %v", c.viewer, c.partner, got)
		}
	}
}

func TestHistory(t *testing.T) {
	l := newLedger(t)
	customers, _ := randomLog(l, 5, 120)
	head, _ := l.store.Head(context.Background())
	m := openModels(t, l.store, t.TempDir())
	waitFor(t, m, head)

	// The reference: every event with its leaf index, from a plain read of the log.
	all := readAll(t, l.store)
	ref := make([]leaf.Event, len(all))
	for i, rec := range all {
		e, err := leafEvent(rec, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		ref[i] = e
	}
	subject := func(e leaf.Event) (customer, partner string) {
		var d struct {
			CustomerID string `json:"customer_id"`
			PartnerID  string `json:"partner_id"`
		}
		json.Unmarshal(e.Data, &d)
		if e.Type == domain.EventIDReserved {
			return "", ""
		}
		return d.CustomerID, d.PartnerID
	}
	page := func(q HistoryQuery) []leaf.Event {
		t.Helper()
		var out []leaf.Event
		for n := 0; ; n++ {
			p, err := m.History(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p.Events...)
			if p.NextCursor == "" {
				return out
			}
			if n > 1000 {
				t.Fatal("history does not end")
			}
			q.Cursor = p.NextCursor
		}
	}
	filter := func(keep func(leaf.Event) bool) []leaf.Event {
		var out []leaf.Event
		for _, e := range ref {
			if keep(e) {
				out = append(out, e)
			}
		}
		return out
	}
	check := func(name string, got, want []leaf.Event) {
		t.Helper()
		if len(want) == 0 {
			t.Fatalf("%s: empty reference", name)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %d events, want %d", name, len(got), len(want))
		}
		if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Index < got[j].Index }) {
			t.Fatalf("%s: not oldest first", name)
		}
	}
	for _, id := range customers[:5] {
		want := filter(func(e leaf.Event) bool { c, _ := subject(e); return c == id })
		for _, limit := range []int{1, 3, 0} {
			check("customer "+id, page(HistoryQuery{Kind: HistoryCustomer, ID: id, Limit: limit}), want)
		}
	}
	// Partner history: the partner, its resellers, and all their customers' events.
	inTree := func(root string) func(leaf.Event) bool {
		return func(e leaf.Event) bool {
			c, p := subject(e)
			if c != "" {
				p = ""
				for _, st := range []string{c} {
					s, err := m.Status(st, AsOf{})
					if err == nil {
						p = s.PartnerID
					}
				}
			}
			return p == root || (len(p) > 4 && p[:3] == "res" && "dist-"+p[4:5] == root)
		}
	}
	for _, p := range []string{"dist-0", "res-0-1", "sp-0"} {
		check("partner "+p, page(HistoryQuery{Kind: HistoryPartner, ID: p, Limit: 7}), filter(inTree(p)))
		// With what its principals did (reservations included), each event once.
		for _, limit := range []int{1, 7, 0} {
			check("partner activity "+p, page(HistoryQuery{Kind: HistoryPartnerActivity, ID: p, Limit: limit}),
				filter(func(e leaf.Event) bool { return inTree(p)(e) || e.Actor.PartnerID == p }))
		}
	}
	// Actor history: everything ops-dist-1 did, reservations included; and with a viewer.
	check("actor ops-dist-1", page(HistoryQuery{Kind: HistoryActor, ID: "ops-dist-1", Limit: 5}),
		filter(func(e leaf.Event) bool { return e.Actor.Name == "ops-dist-1" }))
	check("actor ops-platform seen by dist-1", page(HistoryQuery{Kind: HistoryActor, ID: "ops-platform", Viewer: "dist-1", Limit: 2}),
		filter(func(e leaf.Event) bool {
			return e.Actor.Name == "ops-platform" && e.Type != domain.EventIDReserved && inTree("dist-1")(e)
		}))
	for _, q := range []HistoryQuery{{Kind: HistoryCustomer, ID: "nope"}, {Kind: HistoryPartner, ID: "nope"}, {Kind: HistoryPartnerActivity, ID: "nope"}, {Kind: HistoryActor, ID: "nobody"}} {
		if _, err := m.History(context.Background(), q); domain.ErrorCode(err) != domain.CodeNotFound {
			t.Errorf("%+v: %v", q, err)
		}
	}
	if _, err := m.History(context.Background(), HistoryQuery{Kind: "x", ID: "a"}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("bad kind: %v", err)
	}
}

// The fast decoder agrees with encoding/json on the fields it extracts, escapes included.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	tm := time.Date(2026, 2, 3, 4, 5, 6, 789000000, time.UTC)
	for i, c := range []struct {
		data any
		meta domain.Metadata
	}{
		{domain.CustomerAssociated{CustomerID: "c-1", Name: "Acme \"quoted\" \\ \u00e9 <&>", PartnerID: "res-1", DistributorID: "d", Tags: []string{"a\tb", "gold"}, AccountManager: "li"},
			domain.Metadata{SchemaVersion: 1, Actor: domain.Actor{Name: "ops \u2028 x", Role: "partner", PartnerID: "res-\u00e9"}, Time: tm}},
		{domain.CustomerFrozen{CustomerID: "c-1", FreezeType: "ACCOUNT_AND_RESOURCE", Origin: "manual", Reason: "line\nbreak", RetentionDeadline: &tm},
			domain.Metadata{SchemaVersion: 1, Actor: domain.Actor{Name: "x"}, Time: tm.Add(time.Nanosecond)}},
		{domain.PartnerDelegationGranted{PartnerID: "r", Permissions: []domain.Permission{"freeze", "budget"}},
			domain.Metadata{Time: time.Date(2026, 2, 3, 4, 5, 6, 0, time.FixedZone("x", 3600))}},
	} {
		data, _ := json.Marshal(c.data)
		meta, _ := json.Marshal(c.meta)
		var d decoded
		if err := decodeEvent(&d, data, meta); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		var generic map[string]any
		json.Unmarshal(data, &generic)
		for k, got := range map[string][]byte{"customer_id": d.customerID, "name": d.name, "reason": d.reason, "partner_id": d.partnerID, "account_manager": d.accountManager} {
			if want, _ := generic[k].(string); string(got) != want {
				t.Errorf("%d: %s = %q, want %q", i, k, got, want)
			}
		}
		if string(d.actorName) != c.meta.Actor.Name || string(d.actorPartner) != c.meta.Actor.PartnerID || d.time != c.meta.Time.UnixNano() {
			t.Errorf("%d: actor %q (partner %q) time %d, want %q (%q) %d", i, d.actorName, d.actorPartner, d.time, c.meta.Actor.Name, c.meta.Actor.PartnerID, c.meta.Time.UnixNano())
		}
		var tags []string
		for _, x := range d.tags {
			tags = append(tags, string(x))
		}
		if ca, ok := c.data.(domain.CustomerAssociated); ok && !reflect.DeepEqual(tags, ca.Tags) {
			t.Errorf("tags %q", tags)
		}
		if cf, ok := c.data.(domain.CustomerFrozen); ok && d.deadline != cf.RetentionDeadline.UnixNano() {
			t.Errorf("deadline %d", d.deadline)
		}
		if len(d.perms) != 2 {
			if _, ok := c.data.(domain.PartnerDelegationGranted); ok {
				t.Errorf("perms %q", d.perms)
			}
		}
	}
	for _, bad := range []string{``, `[]`, `{"a":}`, `{"a":"x"`, `{"a" "x"}`, `{"customer_id":"\x"}`, `{"tags":[1,}`} {
		var d decoded
		if err := decodeEvent(&d, []byte(bad), nil); err == nil {
			t.Errorf("decodeEvent(%q) accepted", bad)
		}
	}
}

// FuzzDecodeEvent: the decoder never panics, and a malformed event still takes its leaf.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"customer_id":"c","tags":["a"],"retention_deadline":"2026-01-01T00:00:00Z"}`), []byte(`{"actor":{"name":"x"},"time":"2026-01-01T00:00:00.5Z"}`))
	f.Add([]byte(`{"x":[{"y":"}"}]}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, data, meta []byte) {
		s := newState()
		var d decoded
		for _, typ := range []string{domain.EventCustomerAssociated, domain.EventCustomerFrozen, domain.EventPartnerRegistered} {
			s.apply(&eventstore.RecordedEvent{Type: typ, Data: data, Metadata: meta, Position: eventstore.Position{Commit: uint64(s.pos.len() + 1), Prepare: uint64(s.pos.len() + 1)}}, &d)
		}
		if s.pos.len() != 3 {
			t.Fatalf("%d leaves", s.pos.len())
		}
		_ = fmt.Sprint(s.decodeErrors)
	})
}

func TestFmtTimeMatchesFormat(t *testing.T) {
	for _, tm := range []time.Time{t0, time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 1e6, time.UTC), time.Date(2024, 2, 29, 12, 0, 0, 5e8, time.FixedZone("x", -7200))} {
		if got, want := fmtTime(tm.UnixNano()), tm.UTC().Format(leaf.TimeFormat); got != want && tm.Year() > 1677 {
			t.Errorf("fmtTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

func TestCustomerIsOneCacheLine(t *testing.T) {
	if n := unsafe.Sizeof(customer{}); n != 64 {
		t.Fatalf("customer is %d bytes, want 64 (see its doc comment)", n)
	}
}

func TestAppendPositionMatchesString(t *testing.T) {
	for _, p := range []eventstore.Position{{}, {Commit: 7, Prepare: 7}, {Commit: 10, Prepare: 3}, {Commit: 1 << 62, Prepare: 1 << 62}} {
		if got := string(appendPosition(nil, p)); got != p.String() {
			t.Errorf("appendPosition(%v) = %s, want %s", p, got, p.String())
		}
	}
}
