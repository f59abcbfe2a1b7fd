package projections

import (
	"reflect"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
)

func TestListPartners(t *testing.T) {
	l := newLedger(t)
	l.registerPartner("dist-1", domain.PartnerDistributor, "")
	l.registerPartner("res-1", domain.PartnerReseller, "dist-1")
	l.registerPartner("res-2", domain.PartnerReseller, "dist-1")
	l.registerPartner("dist-2", domain.PartnerDistributor, "")
	l.registerPartner("res-3", domain.PartnerReseller, "dist-2")
	l.registerPartner("sp-1", domain.PartnerSolutionProvider, "")
	l.freezePartner("res-2", opsOf("dist-1"), "overdue")
	pos := l.freezePartner("dist-2", platform, "breach")
	m := openModels(t, l.store, t.TempDir())
	waitFor(t, m, pos)
	list := func(f PartnerFilter) []string {
		t.Helper()
		var out []string
		for n := 0; ; n++ {
			ps, next, err := m.ListPartners(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				out = append(out, p.PartnerID)
				if want, _ := m.Partner(p.PartnerID, AsOf{}); !reflect.DeepEqual(p, want) {
					t.Errorf("listed %+v, GET shows %+v", p, want)
				}
			}
			if next == "" || n > 20 {
				return out
			}
			f.Cursor = next
		}
	}
	yes, no := true, false
	for _, c := range []struct {
		f    PartnerFilter
		want []string
	}{
		{PartnerFilter{}, []string{"dist-1", "res-1", "res-2", "dist-2", "res-3", "sp-1"}},
		{PartnerFilter{Scope: "dist-1"}, []string{"dist-1", "res-1", "res-2"}},
		{PartnerFilter{Scope: "res-1"}, []string{"res-1"}},
		{PartnerFilter{Type: "reseller"}, []string{"res-1", "res-2", "res-3"}},
		{PartnerFilter{Type: "solution_provider"}, []string{"sp-1"}},
		{PartnerFilter{ParentID: "dist-2"}, []string{"res-3"}},
		{PartnerFilter{Frozen: &yes}, []string{"res-2", "dist-2"}}, // res-3 is only effectively frozen
		{PartnerFilter{Frozen: &no, Scope: "dist-2"}, []string{"res-3"}},
		{PartnerFilter{Type: "distributor", Frozen: &no}, []string{"dist-1"}},
		{PartnerFilter{ParentID: "nobody"}, nil},
	} {
		for _, limit := range []int{0, 1, 2} {
			f := c.f
			f.Limit = limit
			if got := list(f); !reflect.DeepEqual(got, c.want) {
				t.Errorf("ListPartners(%+v) = %v, want %v", f, got, c.want)
			}
		}
	}
	for _, bad := range []PartnerFilter{{Type: "customer"}, {Cursor: "x"}, {Cursor: encodeCursor('c', 1)}} {
		if _, _, err := m.ListPartners(bad); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
