package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/pflag"
	"golang.org/x/mod/sumdb/note"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
	"github.com/freezeledger/freezeledger/projections"
	"github.com/freezeledger/freezeledger/projections/auditlog"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
	"github.com/freezeledger/freezeledger/projections/auditlog/verify"
)

const exportUsage = `freezeledger export: export the audit log (offline: the server must not be running on DIR;
while it runs use GET /v1/audit/export)

Usage:
  freezeledger export --data-dir DIR [--store esdb://...] [--format jsonl|csv] [--from X] [--to Y] [--out FILE]
  freezeledger export --data-dir DIR [--store esdb://...] --bundle OUTDIR [--from X] [--to Y]

X and Y are store positions (e.g. 1042) or RFC 3339 times; from is inclusive, to exclusive.
A bundle is a directory with events.jsonl, checkpoint, proof.json and public-key (docs/AUDIT.md).

Flags:
`

// runExport implements `freezeledger export`.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("export", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, exportUsage); fs.PrintDefaults() }
	dataDir := fs.String("data-dir", "./data", "data directory")
	storeFlag := fs.String("store", "embedded", "event store: embedded, or an EventStoreDB connection string (esdb://...)")
	format := fs.String("format", "jsonl", "jsonl or csv")
	from := fs.String("from", "", "first position or time (inclusive)")
	to := fs.String("to", "", "end position or time (exclusive)")
	out := fs.String("out", "-", "output file (- is standard output)")
	bundle := fs.String("bundle", "", "write a verifiable bundle into this directory instead")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int { fmt.Fprintln(stderr, "freezeledger export:", err); return 1 }
	var req auditlog.ExportRequest
	var err error
	if req.From, err = auditlog.ParseBound(*from); err != nil {
		fmt.Fprintln(stderr, "freezeledger export: --from:", err)
		return 2
	}
	if req.To, err = auditlog.ParseBound(*to); err != nil {
		fmt.Fprintln(stderr, "freezeledger export: --to:", err)
		return 2
	}
	req.Format = auditlog.Format(*format)
	if req.Format != auditlog.FormatJSONL && req.Format != auditlog.FormatCSV {
		fmt.Fprintf(stderr, "freezeledger export: --format %q: want jsonl or csv\n", *format)
		return 2
	}
	store, tree, err := openAudit(ctx, *dataDir, *storeFlag)
	if err != nil {
		return fail(err)
	}
	defer store.Close()
	defer tree.Close()
	if err := tree.CatchUp(ctx); err != nil {
		return fail(err)
	}
	start := time.Now()
	if *bundle != "" {
		res, err := tree.WriteBundle(ctx, *bundle, req)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stderr, "bundle %s: %d events (leaves %d to %d) under a checkpoint of size %d, in %s\n",
			*bundle, res.Events(), res.First, int64(res.End)-1, res.Checkpoint.Size, time.Since(start).Round(time.Millisecond))
		return 0
	}
	w := stdout
	var f *os.File
	if *out != "-" {
		if f, err = os.Create(*out); err != nil {
			return fail(err)
		}
		defer f.Close()
		w = f
	}
	res, err := tree.Export(ctx, w, req)
	if err != nil {
		return fail(err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return fail(err)
		}
	}
	fmt.Fprintf(stderr, "exported %d events (leaves %d to %d) in %s\n", res.Events(), res.First, int64(res.End)-1, time.Since(start).Round(time.Millisecond))
	return 0
}

// openAudit opens the event store (the embedded one of dataDir, or EventStoreDB) and the audit tree
// of dataDir.
func openAudit(ctx context.Context, dataDir, storeFlag string) (eventstore.Store, *auditlog.Tree, error) {
	var store eventstore.Store
	switch {
	case storeFlag == "" || storeFlag == "embedded":
		if _, err := os.Stat(StoreDir(dataDir)); err != nil {
			return nil, nil, fmt.Errorf("no event store in %s: %w", dataDir, err)
		}
		s, err := embedded.Open(StoreDir(dataDir), embedded.Options{})
		if err != nil {
			return nil, nil, fmt.Errorf("open the store (is the server running on this data directory?): %w", err)
		}
		store = s
	case isESDB(storeFlag):
		s, err := openESDB(ctx, storeFlag, hclog.NewNullLogger())
		if err != nil {
			return nil, nil, err
		}
		store = s
	default:
		return nil, nil, fmt.Errorf("--store %q is neither embedded nor an EventStoreDB connection string (esdb://...)", storeFlag)
	}
	tree, err := auditlog.OpenTree(AuditDir(dataDir), store, auditlog.Options{})
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("open the audit tree (is the server running on this data directory?): %w", err)
	}
	return store, tree, nil
}

const verifyUsage = `freezeledger verify: verify an audit export offline, or a data directory

Usage:
  freezeledger verify --bundle DIR|FILE.tar --public-key KEY [--previous-checkpoint FILE [--consistency-proof FILE]]
  freezeledger verify --export FILE --checkpoint FILE --public-key KEY [--range-proof FILE] [...]
      either with [--witness-key VKEY]... [--witness-threshold N]
  freezeledger verify --data-dir DIR [--store esdb://...]

KEY is the log's verifier key (GET /v1/audit/public-key) or a file holding it; take it from a source
you trust, not from the bundle. A bundle is a directory or a tar archive (GET /v1/audit/bundle); a
scoped bundle (with scope.json) is checked complete for its streams. With --witness-key (a
witness's cosignature verifier key, repeatable) the checkpoint must carry valid cosignatures of
--witness-threshold of them (default: all). The domain rules are replayed
when the export starts at the first event (not for a scoped bundle). Exit status: 0 verified, 1 verification failed (each problem is printed), 2 usage error.

Flags:
`

// runVerify implements `freezeledger verify`.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("verify", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, verifyUsage); fs.PrintDefaults() }
	bundle := fs.String("bundle", "", "bundle directory (freezeledger export --bundle) or tar archive (GET /v1/audit/bundle)")
	export := fs.String("export", "", "export file (JSON Lines)")
	checkpoint := fs.String("checkpoint", "", "signed checkpoint file")
	rangeProof := fs.String("range-proof", "", "range proof file (a bundle's proof.json), for an export that is not the whole tree")
	publicKey := fs.String("public-key", "", "verifier key, or a file holding it")
	previous := fs.String("previous-checkpoint", "", "an earlier signed checkpoint: the log must only have grown since")
	consistency := fs.String("consistency-proof", "", "consistency proof from the earlier checkpoint (GET /v1/audit/proof/consistency JSON)")
	retention := fs.Duration("retention", 0, "the server's --retention, for rule 8 (0 accepts any deadline after the freeze)")
	noRules := fs.Bool("no-rules", false, "do not replay the domain rules")
	witnessKeys := fs.StringArray("witness-key", nil, "a witness's cosignature verifier key, or a file holding it (repeatable)")
	witnessThreshold := fs.Int("witness-threshold", 0, "valid cosignatures of the --witness-key witnesses required (0: all of them)")
	dataDir := fs.String("data-dir", "", "verify a data directory (store chain, audit tree, history, read models)")
	storeFlag := fs.String("store", "embedded", "with --data-dir: event store, embedded or an EventStoreDB connection string")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(msg string) int { fmt.Fprintln(stderr, "freezeledger verify:", msg); return 2 }
	if *dataDir != "" {
		if *bundle != "" || *export != "" {
			return usageErr("--data-dir excludes --bundle and --export")
		}
		return verifyDataDir(ctx, *dataDir, *storeFlag, *retention, stdout, stderr)
	}
	if *bundle == "" && *export == "" {
		return usageErr("nothing to verify: give --bundle DIR or --export FILE --checkpoint FILE, each with --public-key KEY, or --data-dir DIR (freezeledger verify --help)")
	}
	if *publicKey == "" {
		return usageErr("--public-key is required with --bundle and --export (the log's verifier key, from a source you trust)")
	}
	key, err := readKey(*publicKey)
	if err != nil {
		return usageErr(err.Error())
	}
	var in verify.VerifyInput
	switch {
	case *bundle != "" && *export == "":
		dir, cleanup, err := bundleDir(*bundle)
		if err != nil {
			return usageErr(err.Error())
		}
		defer cleanup()
		var closer io.Closer
		if in, closer, err = verify.ReadBundle(dir); err != nil {
			return usageErr(err.Error())
		}
		defer closer.Close()
	case *export != "" && *checkpoint != "" && *bundle == "":
		f, err := os.Open(*export)
		if err != nil {
			return usageErr(err.Error())
		}
		defer f.Close()
		in.Export = f
		if in.Checkpoint, err = os.ReadFile(*checkpoint); err != nil {
			return usageErr(err.Error())
		}
		if *rangeProof != "" {
			var rp leaf.RangeProof
			if err := readJSON(*rangeProof, &rp); err != nil {
				return usageErr(err.Error())
			}
			in.Range = &rp
		}
	default:
		return usageErr("give --bundle DIR, or --export FILE with --checkpoint FILE, or --data-dir DIR")
	}
	in.PublicKey = key
	if in.WitnessKeys, err = readWitnessKeys(*witnessKeys, *witnessThreshold); err != nil {
		return usageErr(err.Error())
	}
	in.WitnessThreshold = *witnessThreshold
	if *previous != "" {
		if in.Previous, err = os.ReadFile(*previous); err != nil {
			return usageErr(err.Error())
		}
	}
	if *consistency != "" {
		var cp struct {
			Hashes [][]byte `json:"hashes"`
		}
		if err := readJSON(*consistency, &cp); err != nil {
			return usageErr(err.Error())
		}
		in.Consistency = cp.Hashes
		if in.Consistency == nil {
			in.Consistency = [][]byte{}
		}
	}
	if !*noRules {
		in.Validator = domain.NewHistoryValidator(domain.HistoryOptions{Retention: *retention})
	}
	start := time.Now()
	rep, err := verify.Verify(ctx, in)
	for _, p := range rep.Problems {
		fmt.Fprintln(stderr, "FAIL:", p)
	}
	if rep.RulesStoppedAt > 0 {
		fmt.Fprintf(stderr, "note: the domain rules were replayed up to line %d only: the export is not intact from there\n", rep.RulesStoppedAt)
	}
	if err != nil {
		fmt.Fprintln(stderr, "freezeledger verify:", err)
		return 1
	}
	rules := "domain rules replayed"
	switch {
	case rep.Scope != nil:
		rules = "domain rules not replayed (a scoped bundle: the replay needs the whole log in order)"
	case *noRules:
		rules = "domain rules not replayed (--no-rules)"
	case !rep.RulesChecked:
		rules = "domain rules not replayed (the export does not start at the first event)"
	}
	if sc := rep.Scope; sc != nil {
		fmt.Fprintf(stdout, "verified: scoped bundle of %q, complete for leaves %d to %d:", sc.Scope, sc.First, int64(sc.End)-1)
		for _, st := range sc.Streams {
			if st.Head.Empty {
				fmt.Fprintf(stdout, " %s: no event (signed head: none);", st.Head.Stream)
				continue
			}
			fmt.Fprintf(stdout, " %s: %d lines, revisions %d to %d (%d redacted), signed head revision %d at leaf %d;",
				st.Head.Stream, st.Lines, st.FirstRevision, st.LastRevision, st.Redacted, st.Head.Revision, st.Head.Index)
		}
		fmt.Fprintf(stdout, " under the checkpoint of %s, tree size %d, signed by %s; %s",
			rep.Checkpoint.Origin, rep.Checkpoint.Size, strings.SplitN(key, "+", 2)[0], rules)
	} else {
		fmt.Fprintf(stdout, "verified: %d events (leaves %d to %d) under the checkpoint of %s, tree size %d, signed by %s; %s",
			rep.Lines, rep.First, int64(rep.End)-1, rep.Checkpoint.Origin, rep.Checkpoint.Size, strings.SplitN(key, "+", 2)[0], rules)
	}
	if rep.Previous != nil {
		fmt.Fprintf(stdout, "; consistent with the earlier checkpoint of size %d", rep.Previous.Size)
	}
	if wr := rep.Witnesses; wr != nil {
		fmt.Fprintf(stdout, "; cosigned by %s", witnessNames(wr))
	}
	fmt.Fprintf(stdout, " (%s)\n", time.Since(start).Round(time.Millisecond))
	return 0
}

// verifyDataDir checks a data directory offline: the store's own integrity check (its hash chain),
// the audit tree against a recomputation from the store, the history against the domain rules, and
// the read models against a rebuild (projections.CompareWithRebuild).
func verifyDataDir(ctx context.Context, dataDir, storeFlag string, retention time.Duration, stdout, stderr io.Writer) int {
	failed := false
	fail := func(what string, err error) { fmt.Fprintf(stderr, "FAIL: %s: %v\n", what, err); failed = true }
	if _, err := os.Stat(AuditDir(dataDir)); err != nil {
		fmt.Fprintln(stderr, "freezeledger verify: no audit tree:", err)
		return 1
	}
	store, tree, err := openAudit(ctx, dataDir, storeFlag)
	if err != nil {
		fmt.Fprintln(stderr, "freezeledger verify:", err)
		return 1
	}
	defer store.Close()
	defer tree.Close()

	if v, ok := store.(interface{ Verify(context.Context) error }); !ok {
		fmt.Fprintln(stdout, "skipped: event store integrity (the backend has no offline check)")
	} else if err := v.Verify(ctx); err != nil {
		fail("event store", err)
	} else {
		fmt.Fprintln(stdout, "ok: event store (records and hash chain)")
	}

	res, err := tree.CheckAgainstStore(ctx)
	for _, p := range res.Problems {
		fmt.Fprintln(stderr, "FAIL: audit tree:", p)
	}
	if err != nil {
		fail("audit tree", err)
	} else {
		fmt.Fprintf(stdout, "ok: audit tree (%d leaves, every node recomputed from the store's %d events; checkpoint of size %d signed and matching)\n",
			res.TreeSize, res.StoreEvents, res.Checkpoint.Size)
	}

	n, err := auditlog.CheckHistory(ctx, store, domain.NewHistoryValidator(domain.HistoryOptions{Retention: retention}))
	if err != nil {
		fail("history", err)
	} else {
		fmt.Fprintf(stdout, "ok: history (%d events, each permitted by the domain rules at its position)\n", n)
	}

	if err := projections.CompareWithRebuild(ctx, store, ProjectionsDir(dataDir), stdout); err != nil {
		fail("read models", err)
	} else {
		fmt.Fprintln(stdout, "ok: read models (equal to a rebuild)")
	}
	if failed {
		return 1
	}
	return 0
}

// bundleDir is the directory of a bundle given as a directory or a tar archive (unpacked into a
// temporary directory that cleanup removes).
func bundleDir(path string) (string, func(), error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", nil, err
	}
	if fi.IsDir() {
		return path, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	dir, err := os.MkdirTemp("", "freezeledger-verify-*")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	if err := leaf.ExtractBundleTar(f, dir); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	return dir, cleanup, nil
}

// readKey reads a verifier key given as a file or inline.
func readKey(s string) (string, error) {
	if b, err := os.ReadFile(s); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if _, err := note.NewVerifier(s); err == nil {
		return s, nil
	}
	return "", fmt.Errorf("--public-key %q is neither a readable file nor a verifier key", s)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
