package domain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// snapshotChannel is a channel with something in every part of the state: partners of each kind,
// frozen and delegated; customers with and without tags (nil and empty), frozen each way, with a
// retention deadline and released; released reservations; contiguous and split idempotency keys.
func snapshotChannel(t testing.TB, customers int) *Channel {
	t.Helper()
	c := NewChannel("channel-dist-1")
	c.keyTTL.ttl = 24 * time.Hour
	at := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	pos := 0
	ap := func(typ string, data any, key string) {
		pos++
		at = at.Add(time.Second)
		m := Metadata{Actor: Actor{Name: "ops-dist-1", Role: RolePartner, PartnerID: "dist-1"}, Time: at}
		if key != "" {
			m.IdempotencyKey, m.CommandHash = key, fmt.Sprintf("%032x", len(key)*7919)
		}
		se := StoredEvent{Revision: uint64(c.revision + 1), Position: fmt.Sprint(pos)}
		c.apply(typ, data, eventCtx{meta: &m, stored: &se})
	}
	ap(EventPartnerRegistered, &PartnerRegistered{PartnerID: "dist-1", Name: "Dist One", Type: PartnerDistributor}, "k-reg")
	ap(EventPartnerRegistered, &PartnerRegistered{PartnerID: "res-1", Name: "Res \"1\"", Type: PartnerReseller, ParentID: "dist-1"}, "")
	ap(EventPartnerRegistered, &PartnerRegistered{PartnerID: "res-2", Name: "Res 2", Type: PartnerReseller, ParentID: "dist-1"}, "")
	ap(EventPartnerDelegationGranted, &PartnerDelegationGranted{PartnerID: "res-1", Permissions: []Permission{PermissionFreeze, PermissionBudget}}, "k-split")
	ap(EventPartnerFrozen, &PartnerFrozen{PartnerID: "res-2", Reason: "audit"}, "")
	ap(EventPartnerRegistered, &PartnerRegistered{PartnerID: "res-3", Name: "Res 3", Type: PartnerReseller, ParentID: "dist-1"}, "k-split")
	for i := range customers {
		id := fmt.Sprintf("c-%06d", i)
		a := &CustomerAssociated{CustomerID: id, Name: "Customer " + id, PartnerID: "dist-1"}
		switch i % 4 {
		case 1:
			a.PartnerID, a.DistributorID, a.Tags, a.AccountManager = "res-1", "dist-1", []string{"gold", "eu"}, "am@x"
		case 2:
			a.Tags = []string{}
		}
		ap(EventCustomerAssociated, a, fmt.Sprintf("k-a%d", i))
		deadline := at.Add(15 * 24 * time.Hour)
		switch i % 3 {
		case 0:
			ap(EventCustomerFrozen, &CustomerFrozen{CustomerID: id, FreezeType: FreezeAccount, Origin: OriginManual, Reason: "overdue"}, "")
		case 1:
			ap(EventCustomerFrozen, &CustomerFrozen{CustomerID: id, FreezeType: FreezeAccountAndResource, Origin: OriginManual, Reason: "fraud", RetentionDeadline: &deadline}, "")
			if i%2 == 0 {
				ap(EventCustomerResourcesRelease, &CustomerResourcesReleased{CustomerID: id}, "")
			}
		}
	}
	ap(EventIDReservationReleased, &IDReservationReleased{Kind: "customer", ID: "c-gone", Channel: c.stream, ReservationRevision: 3}, "")
	ap(EventIDReservationReleased, &IDReservationReleased{Kind: "partner", ID: "p-gone", Channel: c.stream, ReservationRevision: 0}, "")
	if customers >= 12 {
		phase2State(c, ap, at)
	}
	if len(c.idemRuns) == 0 || len(c.due) == 0 {
		t.Fatal("the fixture lacks split keys or due releases")
	}
	if customers >= 12 && (len(c.bills) == 0 || len(c.records) == 0 || len(c.lapsing) == 0) {
		t.Fatal("the fixture lacks billing states, usage records or a pending disassociation")
	}
	return c
}

// phase2State adds phase 2's state to the first 12 customers of snapshotChannel: a quota and a
// verification switch; usage records (one dated ahead), budgets of each type (one charged to a
// quota, with a threshold reached and a reset), resources (one removed, one released); a personal
// data key and an erasure; disassociations pending, accepted, rejected and lapsed.
func phase2State(c *Channel, ap func(typ string, data any, key string), at time.Time) {
	id := func(i int) string { return fmt.Sprintf("c-%06d", i) }
	ap(EventPartnerQuotaSet, &PartnerQuotaSet{PartnerID: "res-1", MonthlyQuota: 500_00, OneTimeQuota: 90_00}, "k-quota")
	ap(EventPartnerVerificationSet, &PartnerVerificationSet{PartnerID: "dist-1", Enabled: true}, "")
	for i := range 6 {
		ap(EventUsageRecorded, &UsageRecorded{CustomerID: id(i), Records: []UsageRecord{
			{RecordID: "r-a" + id(i), Amount: 12_34, Time: at.Add(-time.Hour)},
			{RecordID: "r-b" + id(i), Amount: 5_00, Time: at.Add(72 * time.Hour)},
		}}, "")
	}
	ap(EventUsageRecorded, &UsageRecorded{CustomerID: "c-unknown", Records: []UsageRecord{{RecordID: "r-x", Amount: 1, Time: at}}}, "")
	ap(EventBudgetSet, &BudgetSet{CustomerID: id(1), Type: BudgetMonthly, Amount: 100_00, OnExhaustion: ExhaustionFreeze, Period: Period(at), ChargedTo: "res-1"}, "")
	ap(EventBudgetThresholdReached, &BudgetThresholdReached{CustomerID: id(1), Threshold: 75, Period: Period(at)}, "")
	ap(EventBudgetReset, &BudgetReset{CustomerID: id(1), Period: Period(at.AddDate(0, 1, 0)), PreviousPeriod: Period(at)}, "")
	ap(EventBudgetSet, &BudgetSet{CustomerID: id(2), Type: BudgetOneTime, Amount: 40_00, OnExhaustion: ExhaustionAlert}, "")
	ap(EventUsageRecorded, &UsageRecorded{CustomerID: id(2), Records: []UsageRecord{{RecordID: "r-c", Amount: 7_00, Time: at.Add(time.Hour)}}}, "")
	ap(EventBudgetSet, &BudgetSet{CustomerID: id(3), Type: BudgetMonthly, Amount: 1_00, OnExhaustion: ExhaustionAlert, Period: Period(at)}, "")
	ap(EventBudgetRemoved, &BudgetRemoved{CustomerID: id(3)}, "")
	exp := at.Add(30 * 24 * time.Hour)
	ap(EventResourceReported, &ResourceReported{CustomerID: id(4), ResourceID: "vm-1", Service: "ecs", BillingMode: BillingPayPerUse, Product: ProductCloud, ExpiresAt: &exp}, "")
	ap(EventResourceReported, &ResourceReported{CustomerID: id(4), ResourceID: "saas-1", Service: "mkt", BillingMode: BillingYearlyMonthly, Product: ProductMarketplaceSaaS}, "")
	ap(EventResourceReported, &ResourceReported{CustomerID: id(5), ResourceID: "vm-2", Service: "ecs", BillingMode: BillingPayPerUse, Product: ProductCloud}, "")
	ap(EventResourceRemoved, &ResourceRemoved{CustomerID: id(5), ResourceID: "vm-2"}, "")
	ap(EventCustomerResourcesRelease, &CustomerResourcesReleased{CustomerID: id(4), Resources: []string{"vm-1"}}, "")
	ap(EventCustomerAssociated, &CustomerAssociated{CustomerID: "c-personal", Name: "P", PartnerID: "dist-1", Personal: &SealedPersonal{KeyID: "pk_0123456789abcdef0123456789abcdef"}}, "")
	ap(EventCustomerPersonalDataErased, &CustomerPersonalDataErased{CustomerID: id(6), Reason: "request"}, "")
	ap(EventDisassociationRequested, &DisassociationRequested{CustomerID: id(7), Reason: "moving", ExpiresAt: at.Add(DisassociationAnswerWindow)}, "")
	for i, answer := range []any{
		&DisassociationAccepted{CustomerID: id(8), Reason: "agreed", ReservationRevision: 4},
		&DisassociationRejected{CustomerID: id(9), Reason: "no"},
		&DisassociationLapsed{CustomerID: id(10), Reason: LapseReason},
	} {
		ap(EventDisassociationRequested, &DisassociationRequested{CustomerID: id(8 + i), Reason: "moving", ExpiresAt: at.Add(DisassociationAnswerWindow)}, "")
		ap(eventTypeOf(answer), answer, "")
	}
	ap(EventBudgetSet, &BudgetSet{CustomerID: id(11), Type: BudgetMonthly, Amount: 10_00, OnExhaustion: ExhaustionFreeze, Period: Period(at), ChargedTo: "res-1"}, "")
}

// eventTypeOf is the type of a disassociation answer.
func eventTypeOf(answer any) string {
	switch answer.(type) {
	case *DisassociationAccepted:
		return EventDisassociationAccepted
	case *DisassociationRejected:
		return EventDisassociationRejected
	}
	return EventDisassociationLapsed
}

var snapID = uuid.MustParse("14f80b24-4ff1-4d7f-8fb0-c9a4ad143b3d")

func acceptAll(snapshotHeader) error { return nil }

// TestSnapshotRoundTrip: a decoded snapshot is the state that was encoded (every field of the
// channel, phase 2's included, the due releases, pending lapses and key queue rebuilt), and encodes
// to the same bytes.
func TestSnapshotRoundTrip(t *testing.T) {
	c := snapshotChannel(t, 40)
	b := encodeSnapshot(c, snapID)
	var seen snapshotHeader
	d, err := decodeSnapshot(b, func(h snapshotHeader) error { seen = h; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if seen != (snapshotHeader{stream: c.stream, revision: c.revision, lastID: snapID, position: c.position}) {
		t.Fatalf("header %+v", seen)
	}
	d.keyTTL.ttl = c.keyTTL.ttl
	d.rebuildKeyQueue()
	if !bytes.Equal(encodeSnapshot(d, snapID), b) {
		t.Fatal("a decoded snapshot encodes to other bytes")
	}
	if diff := channelDiff(c, d); len(diff) > 0 {
		t.Fatalf("the decoded state differs in %v", diff)
	}
	if len(d.bills) == 0 || len(d.records) == 0 || len(d.lapsing) == 0 {
		t.Fatal("the decoded state has no billing states, usage records or pending lapses")
	}
	if d.keyTTL.order.len() != len(c.idem) {
		t.Fatalf("key queue of %d, want %d", d.keyTTL.order.len(), len(c.idem))
	}
	for i := 1; i < len(d.keyTTL.order.items); i++ {
		if d.keyTTL.order.items[i-1].seen > d.keyTTL.order.items[i].seen {
			t.Fatal("the rebuilt key queue is not in order of first use")
		}
	}
}

// TestSnapshotDamage: any changed byte and any truncation is refused, and nothing is decoded
// when the header check refuses.
func TestSnapshotDamage(t *testing.T) {
	b := encodeSnapshot(snapshotChannel(t, 12), snapID)
	for i := range b {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			bad := slices.Clone(b)
			bad[i] ^= x
			if _, err := decodeSnapshot(bad, acceptAll); !errors.Is(err, errSnapshot) {
				t.Fatalf("byte %d ^ %#x: %v, want a malformed snapshot", i, x, err)
			}
		}
	}
	for n := range len(b) {
		if _, err := decodeSnapshot(b[:n], acceptAll); !errors.Is(err, errSnapshot) {
			t.Fatalf("cut to %d bytes: %v", n, err)
		}
	}
	refuse := errors.New("not in the log")
	if c, err := decodeSnapshot(b, func(snapshotHeader) error { return refuse }); c != nil || err != refuse {
		t.Fatalf("a refused header: %v %v", c, err)
	}
}

// TestSnapshotCoversEveryField fails when a field is added to the channel's state and not to the
// snapshot: encodeSnapshot and decodeSnapshot must carry it (or this list must say why not).
// channelDiff, which the round trip and the property test compare with, covers new fields by
// itself (reflect.DeepEqual over every field); this list makes the codec's author look.
func TestSnapshotCoversEveryField(t *testing.T) {
	covered := map[reflect.Type][]string{
		reflect.TypeFor[Channel](): {"stream", "root", "revision", "position", "partners", "customers", "released",
			"idem", "idemRuns", "keyTTL" /* ttl: the Service's; order: rebuilt */, "due" /* rebuilt from customers */, "j", /* only inside a round */
			"bills", "records", "lapsing" /* rebuilt from customers */},
		reflect.TypeFor[Partner](): {"ID", "Name", "Type", "ParentID", "Frozen", "FrozenReason", "Delegation", "RegisteredAt",
			"Quota", "VerificationRequired"},
		reflect.TypeFor[Delegation](): {"Freeze", "Budget"},
		reflect.TypeFor[Quota]():      {"Monthly", "OneTime", "MonthlyAllocated", "OneTimeAllocated"},
		reflect.TypeFor[Customer](): {"ID", "Name", "PartnerID", "DistributorID", "Tags", "AccountManager", "AssociatedAt",
			"Frozen", "FreezeType", "Origin", "Reason", "FrozenBy", "FrozenAt", "RetentionDeadline", "ResourceFrozenAt", "ResourcesReleased",
			"Disassociated", "Disassociation", "PersonalKeyID", "PersonalErased"},
		reflect.TypeFor[Disassociation]():  {"RequestedBy", "ByCustomer", "RequestedAt", "Reason", "State", "AnsweredAt", "AnswerReason", "ExpiresAt"},
		reflect.TypeFor[Actor]():           {"Name", "Role", "PartnerID"},
		reflect.TypeFor[CustomerBilling](): {"months", "future", "budget", "resources", "records"},
		reflect.TypeFor[monthSpend]():      {"period", "sum"},
		reflect.TypeFor[usageEntry]():      {"time", "amount"},
		reflect.TypeFor[Budget]():          {"Type", "Amount", "OnExhaustion", "SetAt", "SetBy", "ChargedTo", "Period", "Reached", "oneTimeSpend"},
		reflect.TypeFor[Resource]():        {"ID", "Service", "BillingMode", "Product", "ExpiresAt", "Released"},
		reflect.TypeFor[idemEntry]():       {"hash", "at", "seen"},
		reflect.TypeFor[idemRun]():         {"first", "n"},
		reflect.TypeFor[reservationKey]():  {"kind", "id", "rev"},
	}
	for typ, names := range covered {
		var fields []string
		for f := range typ.Fields() {
			fields = append(fields, f.Name)
		}
		slices.Sort(fields)
		slices.Sort(names)
		if !slices.Equal(fields, names) {
			t.Errorf("%s has fields %v; the snapshot covers %v: add the new ones to snapshot_codec*.go and here", typ, fields, names)
		}
	}
}

// BenchmarkSnapshotDecode: decoding a channel's snapshot (checksum, every customer, the maps), at
// 100,000 and 1,000,000 customers (each with an idempotency key), and at 1,000,000 customers each
// also with a billing state (billed: two usage records, a monthly budget, a resource); reported: the
// snapshot's bytes per customer and the decoded channel's live heap per customer.
func BenchmarkSnapshotDecode(b *testing.B) {
	for _, tc := range []struct {
		n      int
		billed bool
	}{{100_000, false}, {1_000_000, false}, {1_000_000, true}} {
		name := fmt.Sprintf("customers=%d", tc.n)
		if tc.billed {
			name += ",billed"
		}
		b.Run(name, func(b *testing.B) {
			c := snapshotChannel(b, tc.n)
			if tc.billed {
				billEveryCustomer(c)
			}
			snap := encodeSnapshot(c, snapID)
			c = nil
			heap := func() float64 {
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				return float64(ms.HeapAlloc)
			}
			b.ResetTimer()
			for b.Loop() {
				c = nil
				var err error
				if c, err = decodeSnapshot(snap, acceptAll); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			with := heap()
			runtime.KeepAlive(c)
			c = nil
			b.ReportMetric((with-heap())/float64(tc.n), "heapB/customer")
			b.ReportMetric(float64(len(snap))/float64(tc.n), "snapB/customer") // after ResetTimer, which drops metrics
		})
	}
}

// billEveryCustomer gives every customer of c a billing state: two usage records (this month and
// the last), a monthly budget and a resource.
func billEveryCustomer(c *Channel) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	m := Metadata{Actor: Actor{Name: "billing-1", Role: RoleBilling}, Time: at}
	for _, id := range sortedKeys(c.customers) {
		for _, ev := range []any{
			&UsageRecorded{CustomerID: id, Records: []UsageRecord{
				{RecordID: "r1-" + id, Amount: 12_34, Time: at.AddDate(0, -1, 0)}, {RecordID: "r2-" + id, Amount: 3_21, Time: at.Add(-time.Hour)}}},
			&BudgetSet{CustomerID: id, Type: BudgetMonthly, Amount: 100_00, OnExhaustion: ExhaustionAlert, Period: Period(at)},
			&ResourceReported{CustomerID: id, ResourceID: "vm-" + id, Service: "ecs", BillingMode: BillingPayPerUse, Product: ProductCloud},
		} {
			c.apply("", ev, eventCtx{meta: &m})
		}
	}
}

// TestSnapshotOfAnotherVersion: a snapshot of format version 1 (before phase 2's state was carried)
// or of a later version is refused as malformed, never read.
func TestSnapshotOfAnotherVersion(t *testing.T) {
	b := encodeSnapshot(snapshotChannel(t, 12), snapID)
	for _, v := range []byte{1, snapshotVersion + 1} {
		bad := slices.Clone(b)
		bad[len(snapshotMagic)] = v
		binary.BigEndian.PutUint32(bad[len(bad)-snapshotSumSize:], crc32.Checksum(bad[:len(bad)-snapshotSumSize], castagnoli))
		if c, err := decodeSnapshot(bad, acceptAll); c != nil || !errors.Is(err, errSnapshot) || !strings.Contains(err.Error(), "format version") {
			t.Errorf("version %d: %v, %v; want refused for its version", v, c, err)
		}
	}
}

// FuzzSnapshotDecode: whatever bytes a snapshot holds behind a checksum that holds (a bug, or a
// store that computes it over damage), decoding returns a state or an error, never panics.
func FuzzSnapshotDecode(f *testing.F) {
	f.Add(encodeSnapshot(snapshotChannel(f, 12), snapID)[len(snapshotMagic)+1:])
	f.Add(encodeSnapshot(NewChannel("channel-x"), snapID)[len(snapshotMagic)+1:])
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<14 {
			t.Skip("bigger than the seeds need")
		}
		b := append([]byte(snapshotMagic), snapshotVersion)
		b = append(b, body...)
		if len(b) >= len(snapshotMagic)+1+snapshotSumSize {
			n := len(b) - snapshotSumSize
			binary.BigEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
		}
		c, err := decodeSnapshot(b, acceptAll)
		if (c == nil) == (err == nil) {
			t.Fatalf("state %v and error %v", c != nil, err)
		}
	})
}
