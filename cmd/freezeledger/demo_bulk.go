package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// bulkWriters is how many associations the bulk part of the demo keeps in flight: enough for the
// command service's group commit to fill its appends.
const bulkWriters = 1024

// bulkWindow is how many bulk distributors are filled at once, and so how many channels the demo
// keeps loaded (demo sets the service's MaxLoadedChannels to it): a channel's state weighs about
// 330 bytes per customer, so 10 channels of 1 M customers each all loaded were 3.3 GB of the
// generator's heap, while a window of 5 keeps enough appends in flight for the group commit
// (one channel alone generated at a quarter of ten channels' rate) and halves --channels 10. A finished window's channels
// are evicted, and so snapshotted, when the next window loads its own.
const bulkWindow = 5

// bulkGCPercent is the garbage collector's target during a bulk demo when neither GOGC nor
// GOMEMLIMIT is set: the generator's live heap grows to about 1 KB per customer (read models, the
// store's index, the ID reservations), and Go's default of 100 % lets the heap reach twice that
// (peak RSS 4.2 KB per customer at 200,000 customers: 42 GB at 10 M).
const bulkGCPercent = 25

// bulkGC lowers the garbage collector's target for a bulk demo (bulkGCPercent) unless the
// environment sets one (GOGC or GOMEMLIMIT). It returns the function that restores the old one.
func bulkGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(bulkGCPercent)
	return func() { debug.SetGCPercent(old) }
}

// bulkID is the ID of bulk customer k (0-based) of bulk distributor c (1-based).
func bulkID(c, k int) string { return fmt.Sprintf("bulk-%d-%08d", c, k) }

// bulkCount is how many of n bulk customers spread over channels distributors go to distributor c
// (1-based): n/channels each, one more for the first n%channels.
func bulkCount(n, channels, c int) int {
	k := n / channels
	if c <= n%channels {
		k++
	}
	return k
}

// bulk associates n more customers (demo --customers N), spread over `channels` bulk distributors
// dist-bulk-1 ... (registered first), through the command service like any client: every customer
// is its reservation (rule 10) and its association with the default freeze (rule 1), three events.
// Distributor c gets bulkCount(n, channels, c) customers, IDs bulk-<c>-<number> (bulkID). The
// distributors are filled bulkWindow at a time, round-robin within the window. Progress goes to
// progress every 10 %.
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
	var done atomic.Int64
	var failed atomic.Bool
	var errOnce sync.Once
	for first := 1; first <= channels && !failed.Load(); first += bulkWindow {
		width := min(bulkWindow, channels-first+1)
		rounds := bulkCount(n, channels, first) // the window's first distributor has the most
		var next atomic.Int64
		var wg sync.WaitGroup
		for range bulkWriters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !failed.Load() {
					j := int(next.Add(1) - 1)
					if j >= rounds*width {
						return
					}
					c, k := first+j%width, j/width
					if k >= bulkCount(n, channels, c) {
						continue
					}
					dist := fmt.Sprintf("dist-bulk-%d", c)
					id := bulkID(c, k)
					actor := domain.Actor{Name: "ops-" + dist, Role: domain.RolePartner, PartnerID: dist}
					_, err := d.svc.AssociateCustomer(d.ctx, domain.AssociateCustomer{Meta: domain.Meta{Actor: actor, RequestID: "demo-" + id},
						CustomerID: id, Name: "Customer " + id, PartnerID: dist})
					if err != nil {
						errOnce.Do(func() { d.check("associate "+id, err) })
						failed.Store(true)
						return
					}
					if k := done.Add(1); n >= 100_000 && k%(int64(n)/10) == 0 {
						fmt.Fprintf(progress, "demo: %d of %d bulk customers associated (%.0f/s)\n", k, n, float64(k)/time.Since(start).Seconds())
					}
				}
			}()
		}
		wg.Wait()
	}
	d.customers += int(done.Load())
}

// bulkWait is how long the demo waits for the read models and the audit tree to catch up at the
// end: a minute, and a second more for every 20,000 bulk customers.
func bulkWait(n int) time.Duration { return time.Minute + time.Duration(n/20_000)*time.Second }
