package domain

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"slices"
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
	if len(c.idemRuns) == 0 || len(c.due) == 0 {
		t.Fatal("the fixture lacks split keys or due releases")
	}
	return c
}

var snapID = uuid.MustParse("14f80b24-4ff1-4d7f-8fb0-c9a4ad143b3d")

func acceptAll(snapshotHeader) error { return nil }

// TestSnapshotRoundTrip: a decoded snapshot is the state that was encoded (every part, the due
// releases and the key queue rebuilt), and encodes to the same bytes.
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
	if d.stream != c.stream || d.root != c.root || d.revision != c.revision || d.position != c.position {
		t.Fatalf("header fields: %+v", d)
	}
	if !reflect.DeepEqual(d.Partners(), c.Partners()) || !reflect.DeepEqual(d.Customers(), c.Customers()) {
		t.Fatal("partners or customers differ")
	}
	if !maps.Equal(d.due, c.due) || !maps.Equal(d.released, c.released) || !maps.Equal(d.idem, c.idem) ||
		!maps.EqualFunc(d.idemRuns, c.idemRuns, slices.Equal) {
		t.Fatal("due, released or idempotency state differs")
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
	b := encodeSnapshot(snapshotChannel(t, 6), snapID)
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
func TestSnapshotCoversEveryField(t *testing.T) {
	covered := map[reflect.Type][]string{
		reflect.TypeFor[Channel](): {"stream", "root", "revision", "position", "partners", "customers", "released",
			"idem", "idemRuns", "keyTTL" /* ttl: the Service's; order: rebuilt */, "due" /* rebuilt from customers */, "j", /* only inside a round */
			/* phase 2: a channel holding any is not snapshotted (snapshottable) */ "bills", "records", "lapsing"},
		reflect.TypeFor[Partner](): {"ID", "Name", "Type", "ParentID", "Frozen", "FrozenReason", "Delegation", "RegisteredAt",
			/* not snapshotted when set */ "Quota", "VerificationRequired"},
		reflect.TypeFor[Delegation](): {"Freeze", "Budget"},
		reflect.TypeFor[Customer](): {"ID", "Name", "PartnerID", "DistributorID", "Tags", "AccountManager", "AssociatedAt",
			"Frozen", "FreezeType", "Origin", "Reason", "FrozenBy", "FrozenAt", "RetentionDeadline", "ResourceFrozenAt", "ResourcesReleased",
			/* not snapshotted when set */ "Disassociated", "Disassociation", "PersonalKeyID", "PersonalErased"},
		reflect.TypeFor[idemEntry]():      {"hash", "at", "seen"},
		reflect.TypeFor[idemRun]():        {"first", "n"},
		reflect.TypeFor[reservationKey](): {"kind", "id", "rev"},
	}
	for typ, names := range covered {
		var fields []string
		for f := range typ.Fields() {
			fields = append(fields, f.Name)
		}
		slices.Sort(fields)
		slices.Sort(names)
		if !slices.Equal(fields, names) {
			t.Errorf("%s has fields %v; the snapshot covers %v: add the new ones to snapshot_codec.go and here", typ, fields, names)
		}
	}
}

// BenchmarkSnapshotDecode: decoding a channel's snapshot (checksum, every customer, the maps), at
// 100,000 and 1,000,000 customers (each with an idempotency key); reported: the snapshot's bytes
// per customer and the decoded channel's live heap per customer.
func BenchmarkSnapshotDecode(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("customers=%d", n), func(b *testing.B) {
			snap := encodeSnapshot(snapshotChannel(b, n), snapID)
			heap := func() float64 {
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				return float64(ms.HeapAlloc)
			}
			var c *Channel
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
			b.ReportMetric((with-heap())/float64(n), "heapB/customer")
			b.ReportMetric(float64(len(snap))/float64(n), "snapB/customer") // after ResetTimer, which drops metrics
		})
	}
}

// TestPhase2ChannelsAreNotSnapshotted: the snapshot format does not carry phase 2's state, so a
// channel holding any of it is never snapshotted (it is loaded from its log instead).
func TestPhase2ChannelsAreNotSnapshotted(t *testing.T) {
	c := NewChannel("channel-dist-1")
	if !c.snapshottable() {
		t.Fatal("an empty channel is not snapshottable")
	}
	c.bills["c-1"] = &CustomerBilling{}
	if c.snapshottable() {
		t.Error("a channel with billing state is snapshottable")
	}
	c = NewChannel("channel-dist-1")
	c.partners["res-1"] = &Partner{ID: "res-1", VerificationRequired: true}
	if c.snapshottable() {
		t.Error("a channel with a partner's verification switch on is snapshottable")
	}
	c = NewChannel("channel-dist-1")
	c.customers["c-1"] = &Customer{ID: "c-1", PersonalKeyID: "k-1"}
	if c.snapshottable() {
		t.Error("a channel with a customer's personal data key is snapshottable")
	}
}
