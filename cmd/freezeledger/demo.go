package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi"
	"github.com/freezeledger/freezeledger/internal/keystore"
)

// demoClock is the demo's clock: it starts 30 days in the past and moves forward a little at every
// reading (so every event has its own time), and jumps when the demo says so (to let a retention
// period run out). It never passes the real time, so events appended later by `serve` come after.
type demoClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func (c *demoClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

// demoPrincipal is a principal the demo creates, and what it may do.
type demoPrincipal struct {
	name, role, partner, note string
}

var demoPrincipals = []demoPrincipal{
	{"platform-admin", "platform", "", "the cloud operator: registers distributors, freezes partners"},
	{"ops-dist-north", "partner", "dist-north", "distributor dist-north: manages its direct customers and those of res-north-2"},
	{"ops-dist-south", "partner", "dist-south", "distributor dist-south (it froze its reseller res-south-2)"},
	{"ops-res-north-1", "partner", "res-north-1", "reseller with the freeze permission delegated: manages its own customers"},
	{"ops-res-south-1", "partner", "res-south-1", "reseller with freeze and budget delegated"},
	{"ops-res-north-2", "partner", "res-north-2", "reseller without delegation: sees its customers, may not freeze them"},
	{"ops-res-south-2", "partner", "res-south-2", "a frozen reseller: can do nothing (rule 3)"},
	{"ops-sp-east", "partner", "sp-east", "solution provider (single tier)"},
	{"auditor", "auditor", "", "reads everything, history, export, proofs"},
	{"auditor-north", "auditor", "dist-north", "auditor scoped to dist-north's subtree"},
	{"reader-north", "reader", "dist-north", "a partner system: status and operations of dist-north's subtree"},
	{"billing", "billing", "", "the platform's metering: reports usage records and resources (rules 12, 13), nothing else"},
}

func actorOf(name string) domain.Actor {
	for _, p := range demoPrincipals {
		if p.name == name {
			return domain.Actor{Name: p.name, Role: domain.Role(p.role), PartnerID: p.partner}
		}
	}
	panic("demo: unknown principal " + name)
}

// demo fills an empty data directory with a sample ledger through the domain service. Its default
// directory is ./demo-data, not serve's ./data: a newcomer who has started serve once (which fills
// ./data) can still run the demo with its defaults.
func (m *Main) demo(ctx context.Context) error {
	dir := m.cfg.dataDir
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("demo: %s is not empty; the demo fills a data directory of its own: give a new one (--data-dir DIR), or remove %s to start over", dir, dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("demo: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	start := time.Now().UTC().Add(-30 * 24 * time.Hour).Truncate(time.Hour)
	clock := &demoClock{t: start}
	m.Clock = clock
	m.cfg.retention = domain.DefaultRetention
	if m.cfg.customers > 0 {
		m.cfg.maxLoaded = bulkWindow // the bulk distributors are filled a window at a time (demo_bulk.go)
		defer bulkGC()()
	}
	log := m.logger()
	l, err := m.openLedger(ctx, log)
	if err != nil {
		return err
	}
	bg, stop := context.WithCancel(context.Background())
	waitBG := m.background(bg, l, log)
	defer func() { stop(); waitBG() }()

	d := &demoRun{ctx: ctx, svc: l.svc, keys: l.keys}
	d.script(clock, start)
	d.bulk(m.cfg.customers, m.cfg.channels, m.Stderr)
	secret, err := d.demoVerification(clock, start, dir) // rules 19 and 20
	if err == nil {
		err = d.err
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	// Let the read models and the audit tree catch up, so the directory is complete when we stop.
	head, err := l.store.Head(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, bulkWait(m.cfg.customers))
	defer cancel()
	if err := l.reads.WaitFor(wctx, head); err != nil {
		return fmt.Errorf("demo: waiting for the read models: %w", err)
	}
	if _, _, err := l.tree.WaitCheckpoint(wctx, l.reads.Events()); err != nil {
		return fmt.Errorf("demo: waiting for the audit checkpoint: %w", err)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# freezeledger demo tokens (created %s). Each token is shown here and nowhere else;\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# %s holds only their SHA-256. Use: curl -H \"Authorization: Bearer $TOKEN\" ...\n", filepath.Base(PrincipalsFile(dir)))
	for _, p := range demoPrincipals {
		token, err := httpapi.CreatePrincipal(PrincipalsFile(dir), p.name, domain.Role(p.role), p.partner)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		fmt.Fprintf(&b, "# %s (role %s%s): %s\n%s=%s\n", p.name, p.role, partnerNote(p.partner), p.note,
			envName(p.name), token)
	}
	more, err := demoPhase2Tokens(dir, secret)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	b.WriteString(more)
	if err := os.WriteFile(DemoTokensFile(dir), []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	stop()
	waitBG()
	fmt.Fprintf(m.Stdout, "demo data in %s: %d events, %d customers, %d commands refused as the rules demand\n",
		dir, l.reads.Events(), d.customers, d.refused)
	fmt.Fprintf(m.Stdout, "tokens for every role: %s (source it: set -a; . %s; set +a)\n", DemoTokensFile(dir), DemoTokensFile(dir))
	fmt.Fprintf(m.Stdout, "next: freezeledger serve --data-dir %s\n", dir)
	return m.Close()
}

// envName is the shell variable a token is written as: ops-dist-north -> TOKEN_OPS_DIST_NORTH.
func envName(name string) string {
	return "TOKEN_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// demoRun issues the demo's commands; the first unexpected error stops it.
type demoRun struct {
	ctx       context.Context
	svc       *domain.Service
	keys      *keystore.Store // seals the demo's personal data (demo_personal.go)
	err       error
	n         int
	customers int
	refused   int
}

func (d *demoRun) meta(actor string) domain.Meta {
	d.n++
	return domain.Meta{Actor: actorOf(actor), RequestID: fmt.Sprintf("demo-%d", d.n)}
}

func (d *demoRun) check(what string, err error) {
	if err != nil && d.err == nil {
		d.err = fmt.Errorf("%s: %w", what, err)
	}
}

// refuse runs a command the rules must refuse with code, and counts it.
func (d *demoRun) refuse(what string, code domain.Code, err error) {
	if domain.ErrorCode(err) != code {
		d.check(what, fmt.Errorf("expected a %s refusal, got %v", code, err))
		return
	}
	d.refused++
}

func (d *demoRun) partner(actor, id, name string, typ domain.PartnerType, parent string) {
	_, err := d.svc.RegisterPartner(d.ctx, domain.RegisterPartner{Meta: d.meta(actor), PartnerID: id, Name: name, Type: typ, ParentID: parent})
	d.check("register "+id, err)
}

func (d *demoRun) customer(actor, id, name, partner string, tags []string, manager string) {
	_, err := d.svc.AssociateCustomer(d.ctx, domain.AssociateCustomer{Meta: d.meta(actor), CustomerID: id, Name: name,
		PartnerID: partner, Tags: tags, AccountManager: manager, Personal: d.sealDemoPersonal(id)})
	d.check("associate "+id, err)
	d.customers++
}

func (d *demoRun) unfreeze(actor string, ids []string, t domain.FreezeType, reason string) {
	for len(ids) > 0 {
		n := min(len(ids), domain.MaxBatch)
		res, err := d.svc.UnfreezeCustomers(d.ctx, domain.UnfreezeCustomers{Meta: d.meta(actor), CustomerIDs: ids[:n], Reason: reason, UnfreezeType: t})
		d.check("unfreeze batch", err)
		for _, it := range res.Items {
			d.check("unfreeze "+it.CustomerID, it.Err)
		}
		ids = ids[n:]
	}
}

func (d *demoRun) freeze(actor string, ids []string, t domain.FreezeType, reason string) {
	for len(ids) > 0 {
		n := min(len(ids), domain.MaxBatch)
		res, err := d.svc.FreezeCustomers(d.ctx, domain.FreezeCustomers{Meta: d.meta(actor), CustomerIDs: ids[:n], Reason: reason, FreezeType: t})
		d.check("freeze batch", err)
		for _, it := range res.Items {
			d.check("freeze "+it.CustomerID, it.Err)
		}
		ids = ids[n:]
	}
}

var demoNames = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne",
	"Soylent", "Aperture", "Vandelay", "Gringotts", "Oceanic", "Monarch", "Pied Piper", "Dunder Mifflin", "Bluth", "Nakatomi"}

// script is the demo's story, in time order.
func (d *demoRun) script(clock *demoClock, start time.Time) {
	// Day 0: the platform registers its tier-1 partners; distributors register their resellers.
	d.partner("platform-admin", "dist-north", "Northern Distribution", domain.PartnerDistributor, "")
	d.partner("platform-admin", "dist-south", "Southern Distribution", domain.PartnerDistributor, "")
	d.partner("platform-admin", "sp-east", "Eastern Solutions", domain.PartnerSolutionProvider, "")
	d.partner("ops-dist-north", "res-north-1", "North Reseller One", domain.PartnerReseller, "dist-north")
	d.partner("ops-dist-north", "res-north-2", "North Reseller Two", domain.PartnerReseller, "dist-north")
	d.partner("ops-dist-south", "res-south-1", "South Reseller One", domain.PartnerReseller, "dist-south")
	d.partner("ops-dist-south", "res-south-2", "South Reseller Two", domain.PartnerReseller, "dist-south")
	// Delegation (rule 6): res-north-1 and res-south-1 may freeze their own customers.
	_, err := d.svc.SetDelegation(d.ctx, domain.SetDelegation{Meta: d.meta("ops-dist-north"), ResellerID: "res-north-1", Freeze: true})
	d.check("delegate res-north-1", err)
	_, err = d.svc.SetDelegation(d.ctx, domain.SetDelegation{Meta: d.meta("ops-dist-south"), ResellerID: "res-south-1", Freeze: true, Budget: true})
	d.check("delegate res-south-1", err)

	// Days 1-3: customers are associated (rule 1: each starts frozen, ACCOUNT, origin association).
	type group struct {
		partner, associatedBy, manager, prefix string
		n                                      int
	}
	groups := []group{
		{"dist-north", "ops-dist-north", "ops-dist-north", "dn", 50},
		{"res-north-1", "ops-res-north-1", "ops-res-north-1", "rn1", 50},
		{"res-north-2", "ops-dist-north", "ops-dist-north", "rn2", 40},
		{"dist-south", "ops-dist-south", "ops-dist-south", "ds", 40},
		{"res-south-1", "ops-dist-south", "ops-res-south-1", "rs1", 40},
		{"res-south-2", "ops-dist-south", "ops-dist-south", "rs2", 30},
		{"sp-east", "ops-sp-east", "ops-sp-east", "sp", 50},
	}
	ids := map[string][]string{}
	for gi, g := range groups {
		clock.set(start.Add(time.Duration(24+gi*8) * time.Hour))
		by := g.associatedBy
		for i := 1; i <= g.n && d.err == nil; i++ {
			id := fmt.Sprintf("cust-%s-%03d", g.prefix, i)
			tags := []string{[]string{"gold", "silver", "bronze"}[i%3]}
			if i%7 == 0 {
				tags = append(tags, "enterprise")
			}
			name := fmt.Sprintf("%s %s %d", demoNames[(i+gi)%len(demoNames)], []string{"Ltd", "Inc", "GmbH", "SA"}[i%4], i)
			d.customer(by, id, name, g.partner, tags, []string{"li", "maria", "sam", "ana"}[i%4])
			ids[g.prefix] = append(ids[g.prefix], id)
		}
	}
	if d.err != nil {
		return
	}
	// Day 4: most customers are verified and unfrozen by their managers; a fifth stay frozen by association.
	clock.set(start.Add(4 * 24 * time.Hour))
	for _, g := range groups {
		list := ids[g.prefix]
		d.unfreeze(g.manager, list[len(list)/5:], domain.FreezeAccount, "identity verified, account opened")
	}
	// Rule 2: a reseller without delegation may not unfreeze its customers.
	_, err = d.svc.UnfreezeCustomer(d.ctx, domain.UnfreezeCustomer{Meta: d.meta("ops-res-north-2"), CustomerID: ids["rn2"][0], Reason: "try", UnfreezeType: domain.FreezeAccount})
	d.refuse("reseller without delegation unfreezes", domain.CodeForbidden, err)

	// Day 5: resource freezes whose retention will run out (rule 8).
	clock.set(start.Add(5 * 24 * time.Hour))
	d.freeze("ops-dist-north", ids["dn"][40:45], domain.FreezeAccountAndResource, "fraud investigation: resources suspended")
	d.freeze("ops-sp-east", ids["sp"][45:48], domain.FreezeAccountAndResource, "contract terminated")

	// Day 21: retention (15 days) has run out for those: the system releases their resources.
	clock.set(start.Add(21 * 24 * time.Hour))
	_, err = d.svc.ReleaseExpiredResources(d.ctx)
	d.check("release expired resources", err)
	// One released customer is unfrozen again: the account returns, the resources stay released.
	d.unfreeze("ops-dist-north", ids["dn"][44:45], domain.FreezeAccountAndResource, "dispute settled; resources are gone")

	// Days 22-29: everyday freezes, upgrades and unfreezes.
	clock.set(start.Add(22 * 24 * time.Hour))
	d.freeze("ops-dist-north", ids["dn"][20:30], domain.FreezeAccount, "overdue invoice")
	d.freeze("ops-res-north-1", ids["rn1"][20:32], domain.FreezeAccount, "overdue invoice")
	d.freeze("ops-dist-north", ids["rn2"][20:26], domain.FreezeAccount, "payment method expired")
	d.freeze("ops-dist-south", ids["ds"][20:30], domain.FreezeAccount, "overdue invoice")
	d.freeze("ops-res-south-1", ids["rs1"][30:35], domain.FreezeAccount, "suspected abuse")
	d.freeze("ops-sp-east", ids["sp"][20:30], domain.FreezeAccount, "overdue invoice")
	clock.set(start.Add(25 * 24 * time.Hour))
	// Rule 5: an ACCOUNT freeze upgrades to ACCOUNT_AND_RESOURCE; freezing again with the same type is a conflict.
	d.freeze("ops-dist-north", ids["dn"][25:30], domain.FreezeAccountAndResource, "invoice 90 days overdue")
	_, err = d.svc.FreezeCustomer(d.ctx, domain.FreezeCustomer{Meta: d.meta("ops-dist-north"), CustomerID: ids["dn"][20], Reason: "again", FreezeType: domain.FreezeAccount})
	d.refuse("freeze twice with the same type", domain.CodeConflict, err)
	_, err = d.svc.UnfreezeCustomer(d.ctx, domain.UnfreezeCustomer{Meta: d.meta("ops-dist-north"), CustomerID: ids["dn"][25], Reason: "wrong type", UnfreezeType: domain.FreezeAccount})
	d.refuse("unfreeze with the wrong type", domain.CodeTypeMismatch, err)
	clock.set(start.Add(27 * 24 * time.Hour))
	d.unfreeze("ops-dist-north", ids["dn"][20:23], domain.FreezeAccount, "invoice paid")
	d.unfreeze("ops-res-north-1", ids["rn1"][20:24], domain.FreezeAccount, "invoice paid")

	// Day 28: dist-south freezes its reseller res-south-2 (rule 7: its customers are effectively
	// frozen, ACCOUNT_AND_RESOURCE, origin partner); the frozen reseller can do nothing (rule 3).
	clock.set(start.Add(28 * 24 * time.Hour))
	_, err = d.svc.FreezePartner(d.ctx, domain.FreezePartner{Meta: d.meta("ops-dist-south"), PartnerID: "res-south-2", Reason: "reseller contract breach"})
	d.check("freeze res-south-2", err)
	_, err = d.svc.AssociateCustomer(d.ctx, domain.AssociateCustomer{Meta: d.meta("ops-res-south-2"), CustomerID: "cust-rs2-new", Name: "Late Co", PartnerID: "res-south-2"})
	d.refuse("frozen reseller associates", domain.CodeActorFrozen, err)

	// Day 29: a revoked delegation: res-north-1 may no longer freeze; dist-north manages again.
	clock.set(start.Add(29 * 24 * time.Hour))
	_, err = d.svc.SetDelegation(d.ctx, domain.SetDelegation{Meta: d.meta("ops-dist-north"), ResellerID: "res-north-1"})
	d.check("revoke res-north-1", err)
	_, err = d.svc.FreezeCustomer(d.ctx, domain.FreezeCustomer{Meta: d.meta("ops-res-north-1"), CustomerID: ids["rn1"][40], Reason: "try", FreezeType: domain.FreezeAccount})
	d.refuse("reseller after revocation freezes", domain.CodeForbidden, err)
	_, err = d.svc.SetDelegation(d.ctx, domain.SetDelegation{Meta: d.meta("ops-dist-north"), ResellerID: "res-north-1", Freeze: true})
	d.check("grant res-north-1 again", err)
	// Rule 21: one customer asked for its personal data to be erased; dist-north's admin did so.
	d.erasePersonal(demoErased, "erasure request under GDPR art. 17")

	d.billing(clock, start, ids)
}

// billing is the demo's phase 2 (rules 12 to 18): quotas, budgets, resources and usage, ending with
// a budget-frozen customer (cust-dn-031: 1,020.00 of 1,000.00).
func (d *demoRun) billing(clock *demoClock, start time.Time, ids map[string][]string) {
	if d.err != nil {
		return
	}
	// Budgets count the calendar month (UTC): this part happens minutes before now, in the month a
	// serve started afterwards is in (else its monthly reset would already lift the budget freeze).
	real := time.Now().UTC()
	at := real.Add(-10 * time.Minute)
	if first := time.Date(real.Year(), real.Month(), 1, 0, 0, 0, 0, time.UTC); at.Before(first) {
		at = first
	}
	clock.set(at)
	money := func(s string) domain.Money { m, _ := domain.ParseMoney("amount", s); return m }
	_, err := d.svc.SetQuota(d.ctx, domain.SetQuota{Meta: d.meta("ops-dist-south"), ResellerID: "res-south-1", Monthly: money("5000"), OneTime: money("1000")})
	d.check("quota res-south-1", err)
	budget := func(actor, id string, t domain.BudgetType, amount string, on domain.Exhaustion) {
		_, err := d.svc.SetBudget(d.ctx, domain.SetBudget{Meta: d.meta(actor), CustomerID: id, Budget: domain.BudgetSpec{Type: t, Amount: money(amount), OnExhaustion: on}})
		d.check("budget "+id, err)
	}
	budget("ops-dist-north", ids["dn"][30], domain.BudgetMonthly, "1000", domain.ExhaustionFreeze)
	budget("ops-dist-north", ids["dn"][31], domain.BudgetMonthly, "1000", domain.ExhaustionFreeze)
	budget("ops-dist-north", ids["dn"][32], domain.BudgetMonthly, "500", domain.ExhaustionAlert)
	budget("ops-res-south-1", ids["rs1"][10], domain.BudgetMonthly, "2000", domain.ExhaustionFreeze)
	budget("ops-res-south-1", ids["rs1"][11], domain.BudgetOneTime, "500", domain.ExhaustionAlert)
	_, err = d.svc.SetBudget(d.ctx, domain.SetBudget{Meta: d.meta("ops-res-south-1"), CustomerID: ids["rs1"][12], Budget: domain.BudgetSpec{Type: domain.BudgetMonthly, Amount: money("4000"), OnExhaustion: domain.ExhaustionAlert}})
	d.refuse("a reseller's budgets over its quota (rule 18)", domain.CodeConflict, err)
	bill := d.meta("billing")
	for i, id := range []string{ids["dn"][30], ids["dn"][31], ids["sp"][0], ids["sp"][1]} {
		exp := clock.Now().Add(time.Duration(10+20*i) * 24 * time.Hour)
		for _, r := range []domain.ResourceReported{
			{CustomerID: id, ResourceID: "ecs-" + id, Service: "ecs", BillingMode: domain.BillingYearlyMonthly, Product: domain.ProductCloud, ExpiresAt: &exp},
			{CustomerID: id, ResourceID: "crm-" + id, Service: "crm", BillingMode: domain.BillingPayPerUse, Product: domain.ProductMarketplaceSaaS},
		} {
			_, err := d.svc.ReportResource(d.ctx, domain.ReportResource{Meta: bill, Resource: r})
			d.check("resource "+r.ResourceID, err)
		}
	}
	now := clock.Now()
	var recs []domain.UsageInput
	add := func(id, amount string, n int) {
		for k := 0; k < n; k++ {
			recs = append(recs, domain.UsageInput{RecordID: fmt.Sprintf("usage-%s-%d", id, k), CustomerID: id, Amount: money(amount), Time: now.Add(-time.Duration(k) * time.Millisecond)})
		}
	}
	add(ids["dn"][30], "102", 10)   // 1,020.00 of 1,000.00: the system freezes it (rule 17)
	add(ids["dn"][31], "80", 10)    // 80 %: the 75 % alert
	add(ids["dn"][32], "60.50", 10) // over 100 % under an alert policy: alerts only
	add(ids["rs1"][10], "99.99", 5)
	add(ids["rs1"][11], "12.34", 3)
	for _, id := range ids["sp"][:20] {
		add(id, "3.25", 2)
	}
	res, err := d.svc.RecordUsage(d.ctx, domain.RecordUsage{Meta: bill, Records: recs})
	d.check("usage", err)
	for _, it := range res.Items {
		d.check("usage "+it.RecordID, it.Err)
	}
}
