package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections/auditlog"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
	"github.com/freezeledger/freezeledger/projections/auditlog/verify"
)

// TestAuditExportVerifyDemo: the demo data set, exported as a bundle, verifies end to end offline
// (signature, every leaf, the root, the domain rules), and a tampered copy does not.
func TestAuditExportVerifyDemo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"demo", "--data-dir", dir}, &out, &errb); code != 0 {
		t.Fatalf("demo: exit %d: %s", code, errb.String())
	}
	key := filepath.Join(AuditDir(dir), auditlog.VerifierKeyFile)
	bundle := filepath.Join(t.TempDir(), "bundle")
	cli := func(f func(context.Context, []string, io.Writer, io.Writer) int, args ...string) (int, string, string) {
		t.Helper()
		var o, e bytes.Buffer
		code := f(ctx, args, &o, &e)
		return code, o.String(), e.String()
	}
	if code, _, e := cli(runExport, "--data-dir", dir, "--bundle", bundle); code != 0 {
		t.Fatalf("export --bundle: exit %d: %s", code, e)
	}
	code, o, e := cli(runVerify, "--bundle", bundle, "--public-key", key)
	if code != 0 || !strings.Contains(o, "verified:") || !strings.Contains(o, "domain rules replayed") {
		t.Fatalf("verify: exit %d\n%s\n%s", code, o, e)
	}

	// The same with separate files, and the key given inline.
	keyText, _ := os.ReadFile(key)
	code, o, e = cli(runVerify, "--export", filepath.Join(bundle, leaf.BundleEvents), "--checkpoint", filepath.Join(bundle, leaf.BundleCheckpoint),
		"--public-key", strings.TrimSpace(string(keyText)))
	if code != 0 {
		t.Fatalf("verify --export: exit %d\n%s\n%s", code, o, e)
	}

	// A flipped byte in line 3 fails with the line named.
	events, _ := os.ReadFile(filepath.Join(bundle, leaf.BundleEvents))
	lines := bytes.SplitAfter(events, []byte("\n"))
	i := bytes.Index(lines[2], []byte(`"data":{`)) + len(`"data":{`) + 3
	lines[2][i] ^= 0x01
	os.WriteFile(filepath.Join(bundle, leaf.BundleEvents), bytes.Join(lines, nil), 0o644)
	code, _, e = cli(runVerify, "--bundle", bundle, "--public-key", key)
	if code != 1 || !strings.Contains(e, "FAIL: line 3 (event ") {
		t.Fatalf("tampered bundle: exit %d\n%s", code, e)
	}

	// The live data directory verifies.
	code, o, e = cli(runVerify, "--data-dir", dir)
	if code != 0 || !strings.Contains(o, "ok: audit tree") || !strings.Contains(o, "ok: history") {
		t.Fatalf("verify --data-dir: exit %d\n%s\n%s", code, o, e)
	}

	// CSV export to a file.
	csvFile := filepath.Join(t.TempDir(), "audit.csv")
	if code, _, e := cli(runExport, "--data-dir", dir, "--format", "csv", "--out", csvFile); code != 0 {
		t.Fatalf("export csv: exit %d: %s", code, e)
	}
	b, _ := os.ReadFile(csvFile)
	if !strings.HasPrefix(string(b), strings.Join(auditlog.CSVHeader, ",")+"\n") {
		t.Fatalf("csv header: %.100s", b)
	}

	// Usage errors exit 2.
	if code, _, _ := cli(runVerify, "--bundle", bundle); code != 2 {
		t.Fatalf("verify without a key: exit %d", code)
	}
	if code, _, _ := cli(runExport, "--data-dir", dir, "--format", "xml"); code != 2 {
		t.Fatalf("export --format xml: exit %d", code)
	}
	if code, _, e := cli(runExport, "--data-dir", dir, "--store", "mysql://x"); code != 1 || !strings.Contains(e, "neither embedded nor") {
		t.Fatalf("export --store mysql: exit %d: %s", code, e)
	}
	if code, _, e := cli(runVerify, "--data-dir", t.TempDir()); code != 1 || !strings.Contains(e, "no audit tree") {
		t.Fatalf("verify --data-dir of an empty directory: exit %d: %s", code, e)
	}
}

// BenchmarkVerifyDemo verifies the demo data set's whole-log export from memory, with and without
// the domain rules replay.
func BenchmarkVerifyDemo(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	if code := run(ctx, []string{"demo", "--data-dir", dir}, io.Discard, io.Discard); code != 0 {
		b.Fatalf("demo: exit %d", code)
	}
	bundle := filepath.Join(b.TempDir(), "bundle")
	if code := runExport(ctx, []string{"--data-dir", dir, "--bundle", bundle}, io.Discard, io.Discard); code != 0 {
		b.Fatalf("export: exit %d", code)
	}
	events, _ := os.ReadFile(filepath.Join(bundle, leaf.BundleEvents))
	signed, _ := os.ReadFile(filepath.Join(bundle, leaf.BundleCheckpoint))
	key, _ := os.ReadFile(filepath.Join(AuditDir(dir), auditlog.VerifierKeyFile))
	for _, rules := range []bool{false, true} {
		b.Run(map[bool]string{false: "hashes", true: "hashes+rules"}[rules], func(b *testing.B) {
			n := 0
			start := time.Now()
			for i := 0; i < b.N; i++ {
				in := verify.VerifyInput{Export: bytes.NewReader(events), Checkpoint: signed, PublicKey: strings.TrimSpace(string(key))}
				if rules {
					in.Validator = domain.NewHistoryValidator(domain.HistoryOptions{})
				}
				rep, err := verify.Verify(ctx, in)
				if err != nil || rep.RulesChecked != rules {
					b.Fatal(err)
				}
				n += rep.Lines
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
		})
	}
}
