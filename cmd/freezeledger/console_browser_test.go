package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/freezeledger/freezeledger/domain/domaintest"
	"github.com/freezeledger/freezeledger/httpapi/verification"
)

// The console's browser tests drive the real server's web console (httpapi/console) in headless
// Chromium: Debian's chromium at /usr/bin/chromium, which .ci/run installs. Without it they skip,
// except under CI (the environment variable CI set, as .ci/run runs), where they fail.

var (
	consoleShots = flag.String("console.shots", "", "console browser tests: write the screenshots to this directory (default: a new temporary directory, logged)")
	consolePNG   = flag.Bool("console.png", false, "console browser tests: rewrite docs/console.png, the README's screenshot")
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts headless Chromium with a fresh profile and returns the context of its first tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing under CI: .ci/run installs Debian's chromium (apt-get install chromium)", chromiumPath)
		}
		t.Skipf("%s is not installed (apt-get install chromium); the console's browser tests need it", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	// The first tab starts the browser; the tests' tabs open browser contexts of their own in it.
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return bctx
}

// consoleTab is one browser profile (its own cookies) signed in to the console of a test server.
type consoleTab struct {
	t     *testing.T
	ctx   context.Context
	ts    *testServer
	shots string
}

// newTab opens a tab in a browser context of its own (no cookies shared with other tabs).
func newTab(t *testing.T, browser context.Context, ts *testServer, shots string) *consoleTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first run opens the tab, bound to the context it runs with: the tab's own, not a step's
	// (whose end would close it).
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	tab := &consoleTab{t: t, ctx: ctx, ts: ts, shots: shots}
	return tab
}

// stepTimeout bounds one step (a wait for an element included), so that a failing test says where.
const stepTimeout = 30 * time.Second

func (b *consoleTab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%v; the page was %s", err, b.pageText())
	}
}

// pageText is the current page's URL and text, for failure messages.
func (b *consoleTab) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	return loc + ":\n" + body
}

// text is the visible text of the first element that sel (CSS) matches.
func (b *consoleTab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v; the page was %s", sel, err, b.pageText())
	}
	return s
}

func (b *consoleTab) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.ts.url + path)) }

// click clicks the first element whose visible text is label (inside the XPath scope, "" for the
// whole page): that is how a user finds buttons and links.
func (b *consoleTab) click(scope, label string) {
	b.t.Helper()
	b.waitScript()
	b.do(chromedp.Click(chromedp.Search(scope+"//*[self::a or self::button][normalize-space()="+xpathString(label)+"]"), chromedp.NodeVisible))
}

// waitScript waits until the page's console.js has run (it marks <html> with the class js), so that a
// click on an action opens its dialog rather than the dialog's page: the script is deferred, and a
// loaded machine can show a page (and take a click) before running it.
func (b *consoleTab) waitScript() {
	b.t.Helper()
	const ready = `!document.querySelector('script[src$="console.js"]') || document.documentElement.classList.contains("js")`
	deadline := time.Now().Add(stepTimeout)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](ready))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("console.js did not run: %v; the page was %s", err, b.pageText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// xpathString quotes s as an XPath string literal (the labels have apostrophes, none has both quotes).
func xpathString(s string) string {
	if strings.Contains(s, "'") {
		return `"` + s + `"`
	}
	return "'" + s + "'"
}

// waitStatus waits until the page's role="status" message contains want.
func (b *consoleTab) waitStatus(want string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.Search("//*[@role='status'][contains(normalize-space(.), " + xpathString(want) + ")]")))
}

// signIn signs in as the test principal who.
func (b *consoleTab) signIn(who string) {
	b.t.Helper()
	b.open("/console/")
	b.do(chromedp.WaitVisible(chromedp.CSS("#token")), chromedp.SendKeys(chromedp.CSS("#token"), b.ts.tokens[who]))
	b.click("", "Sign in")
	b.do(chromedp.WaitVisible(chromedp.Search("//h1[normalize-space()='Customer Management']")))
}

// axeViolation is one rule axe-core finds broken, with the elements that break it.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// checkAccessibility runs axe-core (testdata/axe-core, vendored from npm) on the current page and
// fails the test on every serious or critical violation. The script is evaluated through the
// DevTools protocol, which the page's Content-Security-Policy does not govern.
func (b *consoleTab) checkAccessibility(name string) {
	b.t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "axe-core", "axe.min.js"))
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](string(src)+";true")); err != nil {
		b.t.Fatalf("loading axe-core into %s: %v", name, err)
	}
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
		r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v =>
			({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe-core on %s: %v", name, err)
	}
	for _, v := range vs {
		b.t.Errorf("accessibility, page %s: %s (%s): %s, at %v", name, v.ID, v.Impact, v.Help, v.Nodes)
	}
}

// screenshot checks the page's accessibility (checkAccessibility) and saves the viewport as name at 1280×800 and at 390×844 (a phone), and the whole page
// at each width (name-WxH-full.png), then goes back to 1280×800. It returns the 1280×800 PNG.
func (b *consoleTab) screenshot(name string) []byte {
	b.t.Helper()
	b.checkAccessibility(name)
	var wide []byte
	for _, vp := range []struct {
		w, h int64
		tag  string
	}{{390, 844, "390x844"}, {1280, 800, "1280x800"}} {
		b.do(chromedp.EmulateViewport(vp.w, vp.h))
		png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			b.t.Fatal(err)
		}
		full, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			b.t.Fatal(err)
		}
		for file, data := range map[string][]byte{name + "-" + vp.tag + ".png": png, name + "-" + vp.tag + "-full.png": full} {
			if err := os.WriteFile(filepath.Join(b.shots, file), data, 0o644); err != nil {
				b.t.Fatal(err)
			}
		}
		wide = png
	}
	return wide
}

func shotsDir(t *testing.T) string {
	t.Helper()
	dir := *consoleShots
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "freezeledger-console-shots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots (1280x800 and 390x844): %s", dir)
	return dir
}

// TestConsoleBrowser walks the seed's procedure and the compliance pages in Chromium as op-dist-a
// (test hierarchy: dist-a with res-a1, freeze delegated, and res-a2): sign-in, both tabs, search, a
// freeze with its reason and message, the timeline, as-of, a batch with a refused row, another
// partner's customer, a forged form (CSRF) and sign-out.
func TestConsoleBrowser(t *testing.T) {
	browser := newBrowser(t)
	ts := startServer(t)
	ts.setupHierarchy()
	shots := shotsDir(t)
	b := newTab(t, browser, ts, shots)

	// Sign in: a wrong token is refused on the form, the right one opens Customer Management.
	b.open("/")
	b.do(chromedp.WaitVisible(chromedp.CSS("#token")))
	b.screenshot("login")
	b.do(chromedp.SendKeys(chromedp.CSS("#token"), "fl_not-a-token"))
	b.click("", "Sign in")
	b.waitStatus("That token does not identify a principal")
	b.signIn("op-dist-a")
	if loc, _ := chromedp.Run(b.ctx, chromedp.Location()); strings.Contains(loc, ts.tokens["op-dist-a"]) {
		t.Fatalf("the token is in the URL: %s", loc)
	}

	// Customers tab: dist-a's own customers only; Resellers' Customers: its resellers'.
	table := b.text("table.customers tbody")
	if !strings.Contains(table, "c-a") || strings.Contains(table, "c-a1") || strings.Contains(table, "c-a2") || strings.Contains(table, "c-b") {
		t.Errorf("Customers tab shows:\n%s\nwant c-a only", table)
	}
	b.click("//nav", "Resellers' Customers")
	b.do(chromedp.WaitVisible(chromedp.Search("//caption[starts-with(normalize-space(), \"Resellers' Customers\")]")))
	table = b.text("table.customers tbody")
	if !strings.Contains(table, "c-a1") || !strings.Contains(table, "c-a2") || strings.Contains(table, "c-b") {
		t.Errorf("Resellers' Customers tab shows:\n%s\nwant c-a1 and c-a2", table)
	}
	if !strings.Contains(table, "managed by res-a1") {
		t.Errorf("c-a1 (freeze delegated to res-a1) should say who manages it:\n%s", table)
	}
	b.screenshot("resellers-customers")

	// Search on the tab: by name.
	b.do(chromedp.SendKeys(chromedp.CSS("#f-name"), "c-a2"))
	b.click("", "Search")
	b.do(chromedp.WaitVisible(chromedp.CSS("#f-name[value='c-a2']")))
	table = b.text("table.customers tbody")
	if !strings.Contains(table, "c-a2") || strings.Contains(table, "c-a1") {
		t.Errorf("search name=c-a2 shows:\n%s", table)
	}

	// The seed's procedure: Customers tab, Unfreeze (frozen since association), then Freeze with a
	// reason, OK, the message.
	b.click("//nav", "Customers")
	b.do(chromedp.WaitVisible(chromedp.Search("//caption[starts-with(normalize-space(), 'Customers')]")))
	b.click("//tr[@data-customer='c-a']", "Unfreeze")
	b.do(chromedp.WaitVisible(chromedp.CSS("#dlg-reason")), chromedp.SendKeys(chromedp.CSS("#dlg-reason"), "verified identity"))
	b.click("//dialog", "OK")
	b.waitStatus("Customer c-a unfrozen.")
	b.click("//tr[@data-customer='c-a']", "Freeze")
	b.do(chromedp.WaitVisible(chromedp.CSS("#dlg-reason")), chromedp.SendKeys(chromedp.CSS("#dlg-reason"), "overdue invoice"))
	b.screenshot("freeze-dialog")
	b.click("//dialog", "OK")
	b.waitStatus("Customer c-a frozen (ACCOUNT).")
	if row := b.text("tr[data-customer='c-a']"); !strings.Contains(row, "FROZEN") || !strings.Contains(row, "manual") {
		t.Errorf("row of c-a after the freeze: %q", row)
	}
	wide := b.screenshot("customers")
	if *consolePNG {
		if err := os.WriteFile(filepath.Join(repoRoot, "docs", "console.png"), wide, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if st := ts.must(200, "GET", "/v1/customers/c-a/status", "op-dist-a", nil).json(t); st["state"] != "FROZEN" || st["reason"] != "overdue invoice" || st["frozen_by"] != "op-dist-a" {
		t.Errorf("API status of c-a after the console's freeze: %v", st)
	}

	// The customer page: status with the reason, operations, the timeline (association freeze,
	// unfreeze, manual freeze) and the history.
	b.click("//tr[@data-customer='c-a']", "c-a")
	b.do(chromedp.WaitVisible(chromedp.Search("//h2[normalize-space()='Timeline']")))
	if r := b.text("#freeze-reason"); r != "overdue invoice" {
		t.Errorf("reason on the customer page = %q", r)
	}
	if ops := b.text("table.operations"); !strings.Contains(ops, "purchase") || !strings.Contains(ops, "not allowed") {
		t.Errorf("operations table: %q", ops)
	}
	tl := b.text("ol.timeline")
	for _, want := range []string{"origin association", "verified identity", "overdue invoice", "op-dist-a"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}
	if n := strings.Count(tl, "State after this event"); n != 3 {
		t.Errorf("timeline has %d intervals, want 3:\n%s", n, tl)
	}
	b.screenshot("customer")

	// As of: the state after the unfreeze (the timeline's second interval), then typed by position.
	b.do(chromedp.Click(chromedp.Search("(//ol[@class='timeline']//a[normalize-space()='State after this event'])[2]"), chromedp.NodeVisible))
	b.do(chromedp.WaitVisible(chromedp.CSS(".asof-banner")))
	if s := b.text("#own-state"); s != "ACTIVE" {
		t.Errorf("state as of the unfreeze = %q, want ACTIVE", s)
	}
	if n := strings.Count(b.text("ol.timeline"), "State after this event"); n != 2 {
		t.Errorf("timeline as of the unfreeze has %d intervals, want 2", n)
	}
	b.screenshot("customer-as-of")
	hist := ts.must(200, "GET", "/v1/customers/c-a/history", "op-dist-a", nil).json(t)["events"].([]any)
	first := hist[1].(map[string]any)["position"].(string) // the association's default freeze (rule 1)
	b.do(chromedp.SetValue(chromedp.CSS("#as_of"), "position:"+first))
	b.click("", "Show as of")
	b.do(chromedp.WaitVisible(chromedp.Search("//p[@class='asof-banner'][contains(., 'position:" + first + "')]")))
	if s := b.text("#own-state"); s != "FROZEN" {
		t.Errorf("state as of position %s (the association) = %q, want FROZEN", first, s)
	}
	b.do(chromedp.SetValue(chromedp.CSS("#as_of"), "yesterday"))
	b.click("", "Show as of")
	b.do(chromedp.WaitVisible(chromedp.Search("//p[@class='problem'][starts-with(normalize-space(), 'As of:')]")))

	// A batch with a refused row: c-a2 (res-a2, managed by dist-a) is upgraded, c-a1 is refused
	// (its manager is res-a1, rule 2).
	b.open("/console/customers?tab=resellers")
	b.do(chromedp.WaitVisible(chromedp.CSS("#sel-c-a1")),
		chromedp.Click(chromedp.CSS("#sel-c-a1")), chromedp.Click(chromedp.CSS("#sel-c-a2")))
	b.click("", "Freeze account and resources (selected)")
	b.do(chromedp.WaitVisible(chromedp.CSS("#dlg-reason")), chromedp.SendKeys(chromedp.CSS("#dlg-reason"), "batch review"))
	b.click("//dialog", "OK")
	b.waitStatus("1 of 2 customers done, 1 refused.")
	st := b.text("#status")
	if !strings.Contains(st, "c-a2: done") || !strings.Contains(st, "c-a1: refused") {
		t.Errorf("batch message: %q", st)
	}
	b.screenshot("batch-result")
	if c := ts.must(200, "GET", "/v1/customers/c-a2/status", "op-dist-a", nil).json(t); c["freeze_type"] != "ACCOUNT_AND_RESOURCE" {
		t.Errorf("c-a2 after the batch: %v", c)
	}

	// Tenancy: another partner's customer shows nothing but "not found".
	b.open("/console/customers/c-b")
	b.waitStatus(`customer "c-b" not found`)
	b.screenshot("not-found")
	if main := b.text("main"); strings.Contains(main, "dist-b") || strings.Contains(main, "Customer c-b") {
		t.Errorf("another partner's customer page shows: %q", main)
	}
	b.open("/console/customers?tab=resellers&name=c-b")
	if table := b.text("table.customers tbody"); strings.Contains(table, "c-b") {
		t.Errorf("search shows another partner's customers: %q", table)
	}

	// CSRF: a form whose token is not the session's is refused and changes nothing.
	b.open("/console/customers")
	b.click("//tr[@data-customer='c-a']", "Unfreeze")
	b.do(chromedp.WaitVisible(chromedp.CSS("#dlg-reason")),
		chromedp.SetValue(chromedp.CSS("#action-form input[name='csrf']"), "forged"),
		chromedp.SendKeys(chromedp.CSS("#dlg-reason"), "forged request"))
	b.click("//dialog", "OK")
	b.waitStatus("CSRF check failed")
	if c := ts.must(200, "GET", "/v1/customers/c-a/status", "op-dist-a", nil).json(t); c["state"] != "FROZEN" {
		t.Errorf("c-a after a forged unfreeze: %v", c)
	}

	// The audit page: the signed checkpoint.
	b.open("/console/audit")
	if cp := b.text("#checkpoint"); !strings.Contains(cp, "freezeledger") {
		t.Errorf("checkpoint on the audit page: %q", cp)
	}
	b.screenshot("audit")

	// Sign out: the session is gone, pages ask to sign in again.
	b.click("", "Sign out")
	b.waitStatus("You are signed out.")
	b.open("/console/customers")
	b.do(chromedp.WaitVisible(chromedp.CSS("#token")))

	// No token in the server's log.
	for name, tok := range ts.tokens {
		if strings.Contains(ts.stderr.String()+ts.stdout.String(), tok) {
			t.Errorf("the token of %s is in the server's output", name)
		}
	}
}

// TestConsoleBrowserBudgets: "Set budget" on one customer (a refusal with the API's detail, then the
// budget, its usage and month-to-date spend in the table), on selected rows (a result per customer),
// and the customer page's budget and resources.
func TestConsoleBrowserBudgets(t *testing.T) {
	browser := newBrowser(t)
	ts := startBillingServer(t)
	exp := time.Now().UTC().Add(48 * time.Hour).Format(time.RFC3339)
	ts.must(200, "PUT", "/v1/customers/c-a/resources/vm-1", "bill", map[string]any{"service": "ecs", "billing_mode": "yearly_monthly", "product": "cloud", "expires_at": exp})
	b := newTab(t, browser, ts, shotsDir(t))
	b.signIn("op-dist-a")

	// A bad amount: the API's problem detail in the message.
	b.click("//tr[@data-customer='c-a']", "Set budget")
	b.do(chromedp.WaitVisible(chromedp.CSS("#dlg-amount")), chromedp.SendKeys(chromedp.CSS("#dlg-amount"), "12.345"))
	b.click("//dialog", "OK")
	b.waitStatus("Set budget of c-a refused: ")
	if st := b.text("#status"); !strings.Contains(st, "amount") {
		t.Errorf("refused budget message: %q", st)
	}

	// A monthly budget of 1000 that freezes when exhausted.
	b.click("//tr[@data-customer='c-a']", "Set budget")
	b.do(chromedp.WaitVisible(chromedp.CSS("#dlg-amount")), chromedp.SendKeys(chromedp.CSS("#dlg-amount"), "1000"),
		chromedp.SetValue(chromedp.CSS("#dlg-on-exhaustion"), "freeze"))
	b.screenshot("budget-dialog")
	b.click("//dialog", "OK")
	b.waitStatus("Budget of customer c-a set: monthly 1000.00, when exhausted: freeze; usage 0.00 %.")
	row := b.text("tr[data-customer='c-a']")
	for _, want := range []string{"0.00 % of 1000.00 (monthly)", "0.00 USD", exp[:10]} {
		if !strings.Contains(row, want) {
			t.Errorf("row of c-a after the budget lacks %q: %q", want, row)
		}
	}
	if st := ts.must(200, "GET", "/v1/customers/c-a/budget", "op-dist-a", nil).json(t); st["budget"] == nil {
		t.Errorf("API budget of c-a after the console's: %v", st)
	}
	b.screenshot("customers-budget")

	// Batch: two reseller customers; c-a1's budget stays with dist-a (only freeze is delegated).
	b.open("/console/customers?tab=resellers")
	b.do(chromedp.WaitVisible(chromedp.CSS("#sel-c-a1")),
		chromedp.Click(chromedp.CSS("#sel-c-a1")), chromedp.Click(chromedp.CSS("#sel-c-a2")))
	b.click("", "Set budget (selected)")
	b.do(chromedp.WaitVisible(chromedp.CSS("#dlg-amount")), chromedp.SendKeys(chromedp.CSS("#dlg-amount"), "50"),
		chromedp.SetValue(chromedp.CSS("#dlg-budget-type"), "one_time"))
	if vis, _ := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!document.querySelector("#dlg-reason").closest("[data-section]").hidden`)); vis {
		t.Error("the batch budget dialog asks for a reason the API does not take")
	}
	b.click("//dialog", "OK")
	b.waitStatus("Set budget: 2 of 2 customers done, 0 refused.")
	if row := b.text("tr[data-customer='c-a2']"); !strings.Contains(row, "0.00 % of 50.00 (one_time)") {
		t.Errorf("row of c-a2 after the batch budget: %q", row)
	}

	// The customer page: budget and resources.
	b.open("/console/customers/c-a")
	b.do(chromedp.WaitVisible(chromedp.CSS("#budget-section")))
	if s := b.text("#budget"); !strings.Contains(s, "monthly 1000.00 USD, when exhausted: freeze") {
		t.Errorf("customer page budget: %q", s)
	}
	if s := b.text("table.resources"); !strings.Contains(s, "vm-1") || !strings.Contains(s, "yearly_monthly") {
		t.Errorf("customer page resources: %q", s)
	}
	b.screenshot("customer-budget")
}

// TestConsoleBrowserLive: the customer list and the customer page follow the change feed. Writes
// made through the API by the test (not the page) change the row and the page without a reload:
// an unfreeze and a freeze of c-a, and a cascade (dist-a freezes its reseller res-a2, so c-a2 is
// frozen by a partner).
func TestConsoleBrowserLive(t *testing.T) {
	browser := newBrowser(t)
	ts := startServer(t)
	ts.setupHierarchy()
	b := newTab(t, browser, ts, shotsDir(t))
	b.signIn("op-dist-a")
	mark := func() {
		t.Helper()
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
			t.Fatal(err)
		}
	}
	notReloaded := func(where string) {
		t.Helper()
		if ok, _ := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); !ok {
			t.Errorf("%s: the page was reloaded", where)
		}
	}
	stateIs := func(row, state string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.Search("//tr[@data-customer='" + row + "']//span[contains(@class, 'state')][normalize-space()='" + state + "']"))
	}

	// The list: c-a is frozen since its association; the API unfreezes it, then freezes it.
	b.do(stateIs("c-a", "FROZEN"))
	mark()
	ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"})
	b.do(stateIs("c-a", "ACTIVE"))
	if row := b.text("tr[data-customer='c-a']"); !strings.Contains(row, "Freeze account and resources") || strings.Contains(row, "Unfreeze") {
		t.Errorf("the live row of c-a after the unfreeze offers: %q", row)
	}
	ts.must(200, "POST", "/v1/customers/c-a/freeze", "op-dist-a", map[string]any{"reason": "overdue", "freeze_type": "ACCOUNT"})
	b.do(stateIs("c-a", "FROZEN"))
	if row := b.text("tr[data-customer='c-a']"); !strings.Contains(row, "manual") {
		t.Errorf("the live row of c-a after the freeze: %q", row)
	}
	notReloaded("customer list")

	// The live row's actions still work: unfreeze it from the console.
	b.click("//tr[@data-customer='c-a']", "Unfreeze")
	b.do(chromedp.WaitVisible(chromedp.CSS("#dlg-reason")), chromedp.SendKeys(chromedp.CSS("#dlg-reason"), "verified"))
	b.click("//dialog", "OK")
	b.waitStatus("Customer c-a unfrozen.")

	// A cascade: the distributor freezes res-a2; its customer c-a2 shows frozen by a partner.
	b.open("/console/customers?tab=resellers")
	b.do(stateIs("c-a2", "FROZEN"))
	ts.must(200, "POST", "/v1/customers/c-a2/unfreeze", "op-dist-a", map[string]any{"reason": "ok", "unfreeze_type": "ACCOUNT"})
	b.do(stateIs("c-a2", "ACTIVE"))
	mark()
	ts.must(200, "POST", "/v1/partners/res-a2/freeze", "op-dist-a", map[string]any{"reason": "reseller audit"})
	b.do(stateIs("c-a2", "FROZEN"), chromedp.WaitVisible(chromedp.Search("//tr[@data-customer='c-a2'][contains(., 'by a partner')]")))
	notReloaded("Resellers' Customers")
	b.screenshot("customers-live")

	// The customer page: a freeze through the API shows its reason and a new timeline interval.
	b.open("/console/customers/c-a")
	b.do(chromedp.WaitVisible(chromedp.Search("//span[@id='own-state'][normalize-space()='ACTIVE']")))
	mark()
	n := strings.Count(b.text("ol.timeline"), "State after this event")
	ts.must(200, "POST", "/v1/customers/c-a/freeze", "op-dist-a", map[string]any{"reason": "fraud check", "freeze_type": "ACCOUNT_AND_RESOURCE"})
	b.do(chromedp.WaitVisible(chromedp.Search("//span[@id='own-state'][normalize-space()='FROZEN']")))
	if r := b.text("#freeze-reason"); r != "fraud check" {
		t.Errorf("live reason on the customer page: %q", r)
	}
	if m := strings.Count(b.text("ol.timeline"), "State after this event"); m != n+1 {
		t.Errorf("live timeline has %d intervals, want %d", m, n+1)
	}
	notReloaded("customer page")
	b.screenshot("customer-live")
}

// TestConsoleBrowserPartners: a distributor's Partners page (its resellers' freeze state, delegation
// switches and quotas) and a reseller's page, where it freezes the reseller with a reason and sets
// its quota, each a form of its own.
func TestConsoleBrowserPartners(t *testing.T) {
	browser := newBrowser(t)
	ts := startServer(t)
	ts.setupHierarchy()
	b := newTab(t, browser, ts, shotsDir(t))
	b.signIn("op-dist-a")

	b.click("//nav", "Partners")
	b.do(chromedp.WaitVisible(chromedp.CSS("table.partners")))
	if row := strings.Join(strings.Fields(b.text("tr[data-partner='res-a1']")), " "); !strings.Contains(row, "reseller dist-a ACTIVE yes no 0.00 (0.00) USD") {
		t.Errorf("res-a1 (freeze delegated) on the Partners page: %q", row)
	}
	if list := b.text("table.partners tbody"); strings.Contains(list, "dist-b") || strings.Contains(list, "res-b1") || !strings.Contains(list, "res-a2") {
		t.Errorf("the Partners page of dist-a shows:\n%s", list)
	}
	b.screenshot("partners")

	b.click("//tr[@data-partner='res-a2']", "res-a2")
	b.do(chromedp.WaitVisible(chromedp.CSS("#p-reason")), chromedp.SendKeys(chromedp.CSS("#p-reason"), "reseller audit"))
	b.click("", "Freeze partner")
	b.waitStatus("Partner res-a2 frozen.")
	if s := b.text("#partner-state"); s != "FROZEN" {
		t.Errorf("res-a2 after the console's freeze: %q", s)
	}
	if p := ts.must(200, "GET", "/v1/partners/res-a2", "op-dist-a", nil).json(t); p["frozen"] != true || p["frozen_reason"] != "reseller audit" {
		t.Errorf("API res-a2 after the console's freeze: %v", p)
	}
	b.do(chromedp.SetValue(chromedp.CSS("#q-monthly"), "500"), chromedp.SetValue(chromedp.CSS("#q-one-time"), "100"))
	b.click("", "Save quota")
	b.waitStatus("Quota of res-a2 set: monthly 500, one-time 100.")
	if s := b.text("#partner-quota"); !strings.Contains(s, "monthly 500.00") {
		t.Errorf("res-a2's quota after the console's: %q", s)
	}
	b.screenshot("partner")
}

// TestConsoleBrowserAuditBundle: a scoped auditor's audit page offers the bundle of its scope next
// to the export and shows the offline verify command; the bundle it downloads verifies offline with
// the key the page shows.
func TestConsoleBrowserAuditBundle(t *testing.T) {
	browser := newBrowser(t)
	ts := startServer(t)
	ts.setupHierarchy()
	b := newTab(t, browser, ts, shotsDir(t))
	b.signIn("aud-a")
	b.click("//nav", "Audit")
	b.do(chromedp.WaitVisible(chromedp.CSS("#b-scope")))
	if v, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#b-scope").value`)); v != "dist-a" {
		t.Errorf("bundle scope field = %q, want the auditor's dist-a", v)
	}
	for _, label := range []string{"Download export", "Download bundle"} {
		b.do(chromedp.WaitVisible(chromedp.Search("//button[normalize-space()=" + xpathString(label) + "]")))
	}
	cmd := b.text("#verify-command")
	if cmd != "freezeledger verify --bundle freezeledger-bundle.tar --public-key public-key.txt" {
		t.Errorf("verify command shown: %q", cmd)
	}
	b.screenshot("audit-bundle")

	// What "Download bundle" downloads (the form's own URL, fetched in the page with its session).
	type download struct {
		Type, Disposition, Base64 string
	}
	d, err := chromedp.Run(b.ctx, chromedp.Evaluate[download](`(async () => {
		const f = document.querySelector("form[action='/console/audit/bundle']");
		const r = await fetch(f.action + "?" + new URLSearchParams(new FormData(f)));
		const bytes = new Uint8Array(await r.arrayBuffer());
		let s = ""; for (const x of bytes) s += String.fromCharCode(x);
		return {type: r.headers.get("content-type"), disposition: r.headers.get("content-disposition"), base64: btoa(s)};
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if d.Type != "application/x-tar" || !strings.Contains(d.Disposition, "freezeledger-bundle.tar") {
		t.Fatalf("the bundle download: %q, %q", d.Type, d.Disposition)
	}
	tarBody, err := base64.StdEncoding.DecodeString(d.Base64)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bundle, key := filepath.Join(dir, "freezeledger-bundle.tar"), filepath.Join(dir, "public-key.txt")
	if err := os.WriteFile(bundle, tarBody, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte(b.text("#public-key")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var o, e bytes.Buffer
	if code := runVerify(context.Background(), []string{"--bundle", bundle, "--public-key", key}, &o, &e); code != 0 || !strings.Contains(o.String(), `scoped bundle of "dist-a"`) {
		t.Errorf("verify of the console's bundle: exit %d\n%s\n%s", code, o.String(), e.String())
	}
}

// TestConsoleBrowserVerification: rule 19 in the console, as dist-a's partner admin. It enrols on
// the Security page (the test computes the TOTP codes from the secret the page shows, on the
// server's clock, which it advances one step before each code since a step's code is accepted
// once), switches verification on, freezes a customer with a code, is refused an unfreeze with a
// wrong code and one without a code (the API's detail in the message), sees the partner forms ask
// for a code, and switches verification off.
func TestConsoleBrowserVerification(t *testing.T) {
	browser := newBrowser(t)
	clock := domaintest.NewClock(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	ts := startServerPhase2(t, t.TempDir(), func(m *Main) { m.Clock = clock })
	ts.setupHierarchy()
	ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"})
	b := newTab(t, browser, ts, shotsDir(t))
	b.signIn("adm-dist-a")

	var secret string
	code := func(at time.Time) string {
		t.Helper()
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	next := func() string { t.Helper(); clock.Advance(verification.Period); return code(clock.Now()) }
	verificationOn := func() bool {
		t.Helper()
		return ts.must(200, "GET", "/v1/partners/dist-a", "adm-dist-a", nil).json(t)["verification_required"] == true
	}

	// Enrol: the secret and its URI are shown once, as text; a first code confirms.
	b.click("//nav", "Security")
	b.do(chromedp.WaitVisible(chromedp.Search("//h1[normalize-space()='Security']")))
	if s := b.text("#verification-state"); s != "off" {
		t.Errorf("dist-a's verification on the Security page: %q, want off", s)
	}
	b.screenshot("security")
	b.click("", "Start enrolment")
	b.do(chromedp.WaitVisible(chromedp.CSS("#totp-secret")))
	secret = b.text("#totp-secret")
	if uri := b.text("#totp-uri"); secret == "" || !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "secret="+secret) {
		t.Fatalf("the enrolment shows secret %q and URI %q", secret, uri)
	}
	b.screenshot("security-enrolment")
	b.do(chromedp.SendKeys(chromedp.CSS("#confirm-code"), code(clock.Now())))
	b.click("", "Confirm")
	b.waitStatus("Verification codes are active for adm-dist-a.")
	if strings.Contains(b.text("main"), secret) {
		t.Error("the secret is shown again after the confirmation")
	}

	// Switch verification on, with a code.
	b.do(chromedp.SendKeys(chromedp.CSS("#switch-code"), next()))
	b.click("", "Switch verification on")
	b.waitStatus("Verification codes switched on for partner dist-a.")
	if s := b.text("#verification-state"); s != "on" || !verificationOn() {
		t.Fatalf("after switching on: the page says %q, the API verification_required=%v", s, verificationOn())
	}

	// Freeze c-a with a code: the dialog asks for it, the event records the verification.
	b.click("//nav", "Customer Management")
	b.click("//tr[@data-customer='c-a']", "Freeze")
	b.do(chromedp.WaitVisible(chromedp.CSS("#dlg-code")),
		chromedp.SendKeys(chromedp.CSS("#dlg-reason"), "overdue invoice"), chromedp.SendKeys(chromedp.CSS("#dlg-code"), next()))
	b.screenshot("freeze-dialog-code")
	b.click("//dialog", "OK")
	b.waitStatus("Customer c-a frozen (ACCOUNT).")
	evs := ts.must(200, "GET", "/v1/customers/c-a/history", "adm-dist-a", nil).json(t)["events"].([]any)
	if last := evs[len(evs)-1].(map[string]any); last["type"] != "customer.frozen" || last["metadata"].(map[string]any)["verification"] != "totp" {
		t.Errorf("the console's freeze with a code: %v", last)
	}

	// A wrong code (none of the codes of the steps around now) and no code: refused, the API's detail.
	clock.Advance(verification.Period)
	around := map[string]bool{}
	for _, d := range []time.Duration{-verification.Period, 0, verification.Period} {
		around[code(clock.Now().Add(d))] = true
	}
	wrong := "000000"
	for i := 1; around[wrong]; i++ {
		wrong = fmt.Sprintf("%06d", i)
	}
	b.click("//tr[@data-customer='c-a']", "Unfreeze")
	b.do(chromedp.WaitVisible(chromedp.CSS("#dlg-code")),
		chromedp.SendKeys(chromedp.CSS("#dlg-reason"), "paid"), chromedp.SendKeys(chromedp.CSS("#dlg-code"), wrong))
	b.click("//dialog", "OK")
	b.waitStatus("Unfreeze of c-a refused: rule 19: the verification code is wrong")
	b.click("//tr[@data-customer='c-a']", "Unfreeze")
	b.do(chromedp.WaitVisible(chromedp.CSS("#dlg-code")), chromedp.SendKeys(chromedp.CSS("#dlg-reason"), "paid"))
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.querySelector("#dlg-code").required = false`)); err != nil {
		t.Fatal(err)
	}
	b.click("//dialog", "OK")
	b.waitStatus(`Unfreeze of c-a refused: rule 19: partner "dist-a" requires a verification code`)
	if st := ts.must(200, "GET", "/v1/customers/c-a/status", "adm-dist-a", nil).json(t); st["state"] != "FROZEN" {
		t.Errorf("c-a after refused unfreezes: %v", st)
	}

	// The partner forms ask for a code too.
	b.open("/console/partners/res-a2")
	b.do(chromedp.WaitVisible(chromedp.CSS("#p-code")), chromedp.WaitVisible(chromedp.CSS("#d-code")))
	b.screenshot("partner-code")

	// Switch it off, with a code; the dialogs no longer ask.
	b.click("//nav", "Security")
	b.do(chromedp.WaitVisible(chromedp.CSS("#switch-code")), chromedp.SendKeys(chromedp.CSS("#switch-code"), next()))
	b.click("", "Switch verification off")
	b.waitStatus("Verification codes switched off for partner dist-a.")
	if s := b.text("#verification-state"); s != "off" || verificationOn() {
		t.Errorf("after switching off: the page says %q, the API verification_required=%v", s, verificationOn())
	}
	b.click("//nav", "Customer Management")
	b.do(chromedp.WaitVisible(chromedp.CSS("tr[data-customer='c-a']")))
	if has, _ := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.querySelector("#dlg-code") !== null`)); has {
		t.Error("the dialog asks for a code after verification was switched off")
	}
}
