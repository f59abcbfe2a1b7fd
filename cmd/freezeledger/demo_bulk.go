package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// bulkWriters is how many associations the bulk part of the demo keeps in flight: enough for the
// command service's group commit to fill its appends.
const bulkWriters = 1024

// bulk associates n more customers (demo --customers N), spread round-robin over `channels` bulk
// distributors dist-bulk-1 ... (registered first), through the command service like any client:
// every customer is its reservation (rule 10) and its association with the default freeze
// (rule 1), three events. IDs are bulk-<channel>-<number>. Progress goes to progress every 10 %.
func (d *demoRun) bulk(n, channels int, progress io.Writer) {
	if n <= 0 || d.err != nil {
		return
	}
	channels = max(channels, 1)
	platform := actorOf("platform-admin")
	for c := 1; c <= channels; c++ {
		id := fmt.Sprintf("dist-bulk-%d", c)
		_, err := d.svc.RegisterPartner(d.ctx, domain.RegisterPartner{Meta: domain.Meta{Actor: platform, RequestID: "demo-bulk-" + id},
			PartnerID: id, Name: "Bulk Distributor " + fmt.Sprint(c), Type: domain.PartnerDistributor})
		d.check("register "+id, err)
	}
	if d.err != nil {
		return
	}
	start := time.Now()
	var next, done atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range bulkWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				c := int(i)%channels + 1
				dist := fmt.Sprintf("dist-bulk-%d", c)
				id := fmt.Sprintf("bulk-%d-%08d", c, int(i)/channels)
				actor := domain.Actor{Name: "ops-" + dist, Role: domain.RolePartner, PartnerID: dist}
				_, err := d.svc.AssociateCustomer(d.ctx, domain.AssociateCustomer{Meta: domain.Meta{Actor: actor, RequestID: "demo-" + id},
					CustomerID: id, Name: "Customer " + id, PartnerID: dist})
				if err != nil {
					errOnce.Do(func() { d.check("associate "+id, err) })
					next.Store(int64(n))
					return
				}
				if k := done.Add(1); n >= 100_000 && k%(int64(n)/10) == 0 {
					fmt.Fprintf(progress, "demo: %d of %d bulk customers associated (%.0f/s)\n", k, n, float64(k)/time.Since(start).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	d.customers += int(done.Load())
}

// bulkWait is how long the demo waits for the read models and the audit tree to catch up at the
// end: a minute, and a second more for every 20,000 bulk customers.
func bulkWait(n int) time.Duration { return time.Minute + time.Duration(n/20_000)*time.Second }
