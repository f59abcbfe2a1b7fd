package main

// A nanosecond-precision clock (the wall clock is one) must not make the offline
// verifier's rules replay reject rule-8 events: the service records milliseconds, as exports show.

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
	"github.com/freezeledger/freezeledger/projections/auditlog"
)

type nsClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *nsClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second + 123456*time.Nanosecond)
	return c.t
}

func TestNanosecondClockExportVerifies(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := embedded.Open(StoreDir(dir), embedded.Options{UnsafeNoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	clock := &nsClock{t: time.Date(2026, 1, 1, 0, 0, 0, 987654321, time.UTC)}
	svc := domain.NewService(eventstore.DomainLog(s), domain.Options{Clock: clock, Retention: time.Hour})
	admin := domain.Meta{Actor: domain.Actor{Name: "admin", Role: domain.RolePlatform}}
	ops := domain.Meta{Actor: domain.Actor{Name: "ops", Role: domain.RolePartner, PartnerID: "d1"}}
	if _, err := svc.RegisterPartner(ctx, domain.RegisterPartner{Meta: admin, PartnerID: "d1", Name: "D", Type: domain.PartnerDistributor}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AssociateCustomer(ctx, domain.AssociateCustomer{Meta: ops, CustomerID: "c1", Name: "C", PartnerID: "d1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.FreezeCustomers(ctx, domain.FreezeCustomers{Meta: ops, CustomerIDs: []string{"c1"}, Reason: "r", FreezeType: domain.FreezeAccountAndResource}); err != nil {
		t.Fatal(err)
	}
	clock.mu.Lock()
	clock.t = clock.t.Add(2 * time.Hour)
	clock.mu.Unlock()
	if _, err := svc.ReleaseExpiredResources(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	bundle := filepath.Join(t.TempDir(), "b")
	var o, e bytes.Buffer
	if code := runExport(ctx, []string{"--data-dir", dir, "--bundle", bundle}, &o, &e); code != 0 {
		t.Fatal(e.String())
	}
	key := filepath.Join(AuditDir(dir), auditlog.VerifierKeyFile)
	for _, ret := range []string{"0", "1h"} {
		o.Reset()
		e.Reset()
		if code := runVerify(ctx, []string{"--bundle", bundle, "--public-key", key, "--retention", ret}, &o, &e); code != 0 {
			t.Errorf("retention %s: exit %d\n%s%s", ret, code, o.String(), e.String())
		}
	}
}
