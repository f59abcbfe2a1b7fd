package projections

import (
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// A resource may expire at any RFC 3339 time up to 9999: the status's earliest_expiry and the
// resource list show it as reported, also past 2262 and before 1677 (where Unix nanoseconds wrap
// around) and at the Unix epoch (not null).
func TestExpiriesOutsideUnixNanosShowAsReported(t *testing.T) {
	for _, exp := range []time.Time{
		time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(1600, 6, 1, 12, 0, 0, 0, time.UTC),
		time.Unix(0, 0).UTC(),
	} {
		l := newLedger(t)
		l.registerPartner("dist-1", domain.PartnerDistributor, "")
		l.associate("c-1", "dist-1", "", nil, "")
		l.append(l.channel("dist-1"), domain.Actor{Name: "billing", Role: domain.RoleBilling}, ev{domain.EventResourceReported,
			domain.ResourceReported{CustomerID: "c-1", ResourceID: "vm", Service: "ecs", BillingMode: domain.BillingPayPerUse, Product: domain.ProductCloud, ExpiresAt: &exp}})
		m := modelOf(readAll(t, l.store))
		want := exp.Format("2006-01-02T15:04:05.000Z")
		st, err := m.Status("c-1", AsOf{})
		if err != nil || st.EarliestExpiry == nil || *st.EarliestExpiry != want {
			t.Errorf("expiry %s: status earliest_expiry %v (%v), want %s", exp, deref(st.EarliestExpiry), err, want)
		}
		page, err := m.Resources("c-1", AsOf{}, "", 10)
		if err != nil || len(page.Resources) != 1 || page.Resources[0].ExpiresAt == nil || *page.Resources[0].ExpiresAt != want {
			t.Errorf("expiry %s: resources %+v (%v)", exp, page, err)
		}
	}
}
