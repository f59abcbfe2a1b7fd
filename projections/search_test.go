package projections

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
)

func TestSearchChannelFilters(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	l.registerPartner("res-1", domain.PartnerReseller, "dist-1")
	l.registerPartner("res-2", domain.PartnerReseller, "dist-1")
	l.registerPartner("dist-2", domain.PartnerDistributor, "")
	l.registerPartner("res-3", domain.PartnerReseller, "dist-2")
	l.registerPartner("sp-1", domain.PartnerSolutionProvider, "")
	l.associate("a-1", "res-1", "dist-1", []string{"gold"}, "")
	l.associate("a-2", "res-2", "dist-1", nil, "")
	l.associate("b-1", "dist-1", "", []string{"gold"}, "")
	l.associate("b-2", "dist-2", "", nil, "")
	l.associate("c-1", "res-3", "dist-2", []string{"gold"}, "")
	beforeGrant := l.associate("d-1", "sp-1", "", nil, "")
	pos := l.delegate("res-1", true, domain.PermissionFreeze)
	m := openModels(t, l.store, t.TempDir())
	waitFor(t, m, pos)

	yes, no := true, false
	for _, c := range []struct {
		f    SearchFilter
		want []string
	}{
		{SearchFilter{DistributorID: "dist-1"}, []string{"a-1", "a-2", "b-1"}},
		{SearchFilter{DistributorID: "dist-2"}, []string{"b-2", "c-1"}},
		{SearchFilter{DistributorID: "res-1"}, nil}, // a reseller is nobody's distributor_id
		{SearchFilter{DistributorID: "sp-1"}, nil},
		{SearchFilter{DistributorID: "nobody"}, nil},
		{SearchFilter{AssociationType: AssociationDirect}, []string{"b-1", "b-2", "d-1"}},
		{SearchFilter{AssociationType: AssociationReseller}, []string{"a-1", "a-2", "c-1"}},
		{SearchFilter{DistributorID: "dist-1", AssociationType: AssociationReseller}, []string{"a-1", "a-2"}},
		{SearchFilter{DistributorID: "dist-1", AssociationType: AssociationDirect}, []string{"b-1"}},
		{SearchFilter{ManagedBy: "dist-1"}, []string{"a-2", "b-1"}}, // res-1 holds the freeze delegation
		{SearchFilter{ManagedBy: "res-1"}, []string{"a-1"}},
		{SearchFilter{ManagedBy: "res-2"}, nil},
		{SearchFilter{ManagedBy: "dist-2"}, []string{"b-2", "c-1"}},
		{SearchFilter{ManagedBy: "sp-1"}, []string{"d-1"}},
		{SearchFilter{ManagedBy: "dist-1", AsOf: AsOf{Position: &beforeGrant}}, []string{"a-1", "a-2", "b-1"}},
		{SearchFilter{ManagedBy: "res-1", AsOf: AsOf{Position: &beforeGrant}}, nil},
		{SearchFilter{CustomerIDPrefix: "a-"}, []string{"a-1", "a-2"}},
		{SearchFilter{CustomerIDPrefix: "b-2"}, []string{"b-2"}},
		{SearchFilter{CustomerIDPrefix: "z"}, nil},
		{SearchFilter{Associated: &yes}, []string{"a-1", "a-2", "b-1", "b-2", "c-1", "d-1"}},
		{SearchFilter{Associated: &no}, nil},
		{SearchFilter{Tag: "gold", DistributorID: "dist-2"}, []string{"c-1"}},
		{SearchFilter{Tag: "gold", Scope: "dist-1", CustomerIDPrefix: "b"}, []string{"b-1"}},
		{SearchFilter{Scope: "dist-2", DistributorID: "dist-1"}, nil},
	} {
		for _, limit := range []int{0, 1, 2} {
			f := c.f
			f.Limit = limit
			got := searchAll(t, m, f)
			if len(got) != 0 || len(c.want) != 0 {
				if !reflect.DeepEqual(got, c.want) {
					t.Errorf("search %+v limit %d = %v, want %v", c.f, limit, got, c.want)
				}
			}
		}
	}
	if _, _, err := m.SearchCustomers(SearchFilter{AssociationType: "indirect"}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("association_type indirect: %v", err)
	}
}

// bruteSearch is the search's meaning, decided customer by customer from each one's status: what
// the indexed plan must equal.
func bruteSearch(t *testing.T, m *ReadModels, customers []string, f SearchFilter) []string {
	t.Helper()
	out := []string{}
	for _, id := range customers {
		st, err := m.Status(id, f.AsOf)
		if err != nil {
			continue
		}
		if f.Scope != "" && st.PartnerID != f.Scope && st.DistributorID != f.Scope {
			continue
		}
		frozen := st.EffectiveState == domain.StateFrozen
		origin := deref(st.EffectiveOrigin)
		switch {
		case f.PartnerID != "" && st.PartnerID != f.PartnerID,
			f.DistributorID != "" && st.DistributorID != f.DistributorID,
			f.AssociationType == AssociationReseller && !strings.HasPrefix(st.PartnerID, "res-"),
			f.AssociationType == AssociationDirect && strings.HasPrefix(st.PartnerID, "res-"),
			f.ManagedBy != "" && st.ManagedBy != f.ManagedBy,
			f.CustomerIDPrefix != "" && !strings.HasPrefix(st.CustomerID, f.CustomerIDPrefix),
			f.Tag != "" && !contains(st.Tags, f.Tag),
			f.AccountManager != "" && st.AccountManager != f.AccountManager,
			f.Frozen != nil && *f.Frozen != frozen,
			f.FreezeType != "" && f.FreezeType != deref(st.EffectiveFreezeType),
			f.Origin != "" && f.Origin != origin,
			f.AutoFrozen != nil && *f.AutoFrozen != (frozen && origin != string(domain.OriginManual)):
			continue
		}
		out = append(out, id)
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// randomFilter combines one to three random filters, from the values randomLog uses.
func randomFilter(r *rand.Rand) SearchFilter {
	var f SearchFilter
	yes, no := true, false
	pick := func(l ...string) string { return l[r.IntN(len(l))] }
	for n := 1 + r.IntN(3); n > 0; n-- {
		switch r.IntN(11) {
		case 0:
			f.Scope = pick("dist-0", "dist-1", "res-0-1", "sp-0")
		case 1:
			f.PartnerID = pick("dist-0", "res-0-0", "res-1-1", "sp-0")
		case 2:
			f.DistributorID = pick("dist-0", "dist-1", "res-0-0")
		case 3:
			f.AssociationType = pick(AssociationDirect, AssociationReseller)
		case 4:
			f.ManagedBy = pick("dist-0", "dist-1", "res-0-0", "res-1-0", "sp-0")
		case 5:
			f.CustomerIDPrefix = pick("c-1", "c-2", "c-")
		case 6:
			f.Tag = pick("gold", "eu")
		case 7:
			f.AccountManager = pick("li", "wang")
		case 8:
			f.Frozen = []*bool{&yes, &no}[r.IntN(2)]
		case 9:
			f.FreezeType = pick(string(domain.FreezeAccount), string(domain.FreezeAccountAndResource))
		default:
			f.Origin = pick("manual", "partner", "association")
		}
	}
	return f
}

// Every combination of filters, now and as of any moment, finds exactly the customers whose
// status (as of that moment) passes each filter, page by page; and the search as of a moment equals
// the search over read models built from the log prefix up to it.
func TestSearchEqualsBruteForceAndPrefixReplay(t *testing.T) {
	for _, seed := range []uint64{3, 8} {
		l := newLedger(t)
		customers, _ := randomLog(l, seed, 250)
		evs := readAll(t, l.store)
		full := modelOf(evs)
		r := rand.New(rand.NewPCG(seed, 2))
		checked := 0
		for k := 1; k <= len(evs); k += 1 + r.IntN(25) {
			prefix := modelOf(evs[:k])
			pos := evs[k-1].Position
			for i := 0; i < 6; i++ {
				f := randomFilter(r)
				f.Limit = 1 + r.IntN(4)
				want := searchAll(t, prefix, f)
				at := f
				at.AsOf = AsOf{Position: &pos}
				if got := searchAll(t, full, at); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("seed %d: search %+v as of %s = %v; over the prefix: %v", seed, f, pos, got, want)
				}
				f.Limit, at.Limit = MaxLimit, MaxLimit
				gotPage, _, err1 := full.SearchCustomers(at)
				wantPage, _, err2 := prefix.SearchCustomers(f)
				if err1 != nil || err2 != nil || !reflect.DeepEqual(gotPage, wantPage) {
					t.Fatalf("seed %d: statuses of search %+v as of %s differ from the prefix's (%v, %v):\n got %+v\nwant %+v", seed, f, pos, err1, err2, gotPage, wantPage)
				}
				if brute := bruteSearch(t, full, customers, at); fmt.Sprint(brute) != fmt.Sprint(want) && !(len(brute) == 0 && len(want) == 0) {
					t.Fatalf("seed %d: search %+v as of %s = %v; customer by customer: %v", seed, f, pos, want, brute)
				}
				checked++
			}
		}
		if checked < 200 {
			t.Fatalf("only %d comparisons", checked)
		}
	}
}
