package domain

// The billing feed's decisions (rules 12 and 13): usage records and resources, reported by the
// billing role, each decided against a Channel into events or an *Error.
//
// Record IDs (rule 12). A record's customer lives in one channel stream (rule 10), so the channel
// that holds the customer decides its records, and its record index (Channel.records) makes a
// retry a duplicate and other content under the same ID a conflict, strictly in log order. The
// index is per channel: a record ID reused for a customer of another channel is not caught (no
// stream holds both channels' records, and a reservation stream per record would double the writes
// of the hot path). A retry of a record always names the same customer, so it always reaches the
// same channel and is always recognised; only a billing system that gives two different records
// the same ID in two channels gets both recorded, and the history validator, which is per channel
// too, agrees with the service on that.

import (
	"strings"
	"time"
	"unicode/utf8"
)

// MaxUsageBatch is the most records one POST /v1/usage takes (rule 12).
const MaxUsageBatch = 1000

// UsageFuture is how far ahead of the clock a usage record may be dated (rule 12).
const UsageFuture = 5 * time.Minute

// checkBilling refuses actors other than the billing system (rules 12, 13).
func checkBilling(a Actor) error {
	if strings.TrimSpace(a.Name) == "" {
		return Errorf(CodeInvalid, "the actor has no name: every event records its operator")
	}
	if a.Role != RoleBilling {
		return Errorf(CodeForbidden, "rules 12 and 13: only the billing system reports usage and resources, not role %q", a.Role)
	}
	return nil
}

// checkUsageRecord checks one record's own fields against now (rule 12).
func checkUsageRecord(r UsageInput, now time.Time) error {
	if err := checkID("record_id", r.RecordID); err != nil {
		return err
	}
	if err := checkID("customer_id", r.CustomerID); err != nil {
		return err
	}
	if r.Amount < 0 || r.Amount > MaxAmount {
		return Errorf(CodeInvalid, "rule 12: amount %s is not from 0 to %s", r.Amount, MaxAmount)
	}
	if r.Time.IsZero() {
		return Errorf(CodeInvalid, "rule 12: a usage record needs a time")
	}
	if r.Time.After(now.Add(UsageFuture)) {
		return Errorf(CodeInvalid, "rule 12: time %s is more than 5 minutes in the future", r.Time.UTC().Format(time.RFC3339Nano))
	}
	if earliest := monthStart(monthStart(now).Add(-time.Hour)); r.Time.Before(earliest) {
		return Errorf(CodeInvalid, "rule 12: time %s is before the previous month (%s)", r.Time.UTC().Format(time.RFC3339Nano), Period(earliest))
	}
	return nil
}

// usageOutcome is one record's decision: new (to append), a duplicate, or refused.
type usageOutcome struct {
	duplicate bool
	err       error
}

// decideUsage decides records (all of this channel) in order; seen holds the records of the same
// request decided before (record key -> content), so that a record given twice is a duplicate of
// the first. It returns one outcome per record and the new records grouped by customer, in the
// order of each customer's first new record.
func (c *Channel) decideUsage(a Actor, records []UsageInput, now time.Time, seen map[idemID]idemID) ([]usageOutcome, []*UsageRecorded) {
	out := make([]usageOutcome, len(records))
	var groups []*UsageRecorded
	byCustomer := map[string]*UsageRecorded{}
	for i, in := range records {
		if err := checkBilling(a); err != nil {
			out[i].err = err
			continue
		}
		if err := checkUsageRecord(in, now); err != nil {
			out[i].err = err
			continue
		}
		if !c.associated(in.CustomerID) { // also refused once disassociated (rule 20)
			out[i].err = Errorf(CodeNotFound, "customer %q not found", in.CustomerID)
			continue
		}
		rec := UsageRecord{RecordID: in.RecordID, Amount: in.Amount, Time: in.Time.UTC()}
		k, content := recordKey(rec.RecordID), recordContent(in.CustomerID, rec)
		had, ok := c.records[k]
		if !ok {
			had, ok = seen[k]
		}
		if ok {
			if had != content {
				out[i].err = Errorf(CodeConflict, "rule 12: record %q was already recorded with other content (customer, amount or time)", rec.RecordID)
			} else {
				out[i].duplicate = true
			}
			continue
		}
		seen[k] = content
		g := byCustomer[in.CustomerID]
		if g == nil {
			g = &UsageRecorded{CustomerID: in.CustomerID}
			byCustomer[in.CustomerID] = g
			groups = append(groups, g)
		}
		g.Records = append(g.Records, rec)
	}
	return out, groups
}

// decideUsageEvent re-decides a recorded usage.recorded event: every record must be new and valid
// at now (the history validator's question).
func (c *Channel) decideUsageEvent(a Actor, d *UsageRecorded, now time.Time) ([]pendingEvent, error) {
	if len(d.Records) == 0 {
		return nil, Errorf(CodeInvalid, "rule 12: a usage.recorded event without records")
	}
	in := make([]UsageInput, len(d.Records))
	for i, r := range d.Records {
		in[i] = UsageInput{RecordID: r.RecordID, CustomerID: d.CustomerID, Amount: r.Amount, Time: r.Time}
	}
	outs, groups := c.decideUsage(a, in, now, map[idemID]idemID{})
	for i, o := range outs {
		if o.err != nil {
			return nil, o.err
		}
		if o.duplicate {
			return nil, Errorf(CodeConflict, "rule 12: record %q is recorded twice", in[i].RecordID)
		}
	}
	pend := make([]pendingEvent, len(groups))
	for i, g := range groups {
		pend[i] = pendingEvent{EventUsageRecorded, g}
	}
	return pend, nil
}

// checkResourceFields checks a reported resource's own fields (rule 13).
func checkResourceFields(r ResourceReported) error {
	if err := checkID("resource_id", r.ResourceID); err != nil {
		return err
	}
	svc := strings.TrimSpace(r.Service)
	if svc == "" || utf8.RuneCountInString(r.Service) > 64 || svc != r.Service {
		return Errorf(CodeInvalid, "rule 13: service is 1 to 64 characters without surrounding spaces")
	}
	switch r.BillingMode {
	case BillingYearlyMonthly, BillingPayPerUse:
	default:
		return Errorf(CodeInvalid, "rule 13: billing_mode must be yearly_monthly or pay_per_use, not %q", truncateString(string(r.BillingMode), 40))
	}
	switch r.Product {
	case ProductCloud, ProductMarketplaceImage, ProductMarketplacePayPerUse, ProductMarketplaceSaaS, ProductMarketplaceLicence:
	default:
		return Errorf(CodeInvalid, "rule 13: product must be cloud, marketplace_image, marketplace_pay_per_use, marketplace_saas or marketplace_licence, not %q", truncateString(string(r.Product), 40))
	}
	return nil
}

// decideReportResource decides a resource report: nothing when the resource is already exactly so.
func (c *Channel) decideReportResource(a Actor, r ResourceReported) ([]pendingEvent, error) {
	if err := checkBilling(a); err != nil {
		return nil, err
	}
	if err := checkID("customer_id", r.CustomerID); err != nil {
		return nil, err
	}
	if err := checkResourceFields(r); err != nil {
		return nil, err
	}
	if !c.associated(r.CustomerID) {
		return nil, Errorf(CodeNotFound, "customer %q not found", r.CustomerID)
	}
	if r.ExpiresAt != nil {
		t := r.ExpiresAt.UTC()
		r.ExpiresAt = &t
	}
	if have, ok := c.bills[r.CustomerID].Resource(r.ResourceID); ok && !have.Released &&
		have.Service == r.Service && have.BillingMode == r.BillingMode && have.Product == r.Product &&
		have.ExpiresAt.Equal(derefTime(r.ExpiresAt)) {
		return nil, nil
	}
	ev := r
	return []pendingEvent{{EventResourceReported, &ev}}, nil
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// decideRemoveResource decides a resource's removal (not_found for one not reported).
func (c *Channel) decideRemoveResource(a Actor, customerID, resourceID string) ([]pendingEvent, error) {
	if err := checkBilling(a); err != nil {
		return nil, err
	}
	if err := checkID("customer_id", customerID); err != nil {
		return nil, err
	}
	if err := checkID("resource_id", resourceID); err != nil {
		return nil, err
	}
	if !c.associated(customerID) {
		return nil, Errorf(CodeNotFound, "customer %q not found", customerID)
	}
	if _, ok := c.bills[customerID].Resource(resourceID); !ok {
		return nil, Errorf(CodeNotFound, "resource %q of customer %q not found", resourceID, customerID)
	}
	return []pendingEvent{{EventResourceRemoved, &ResourceRemoved{CustomerID: customerID, ResourceID: resourceID}}}, nil
}
