// Command freezeledger is the freeze ledger's binary: the HTTP service (serve), principal
// management (principals add), a demo data set (demo), audit exports and the offline verifier
// (export, verify), a read-model rebuild (rebuild) and the master key's rotation (keys rotate). It
// is the composition root: flags (pflag), logging (hclog) and wiring live here and nowhere else.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `freezeledger: an event-sourced, audit-logged ledger of customer account freezes

Usage:
  freezeledger serve      [--data-dir DIR] [--listen ADDR] [--principals FILE] [--store embedded|esdb://...]
                          [--retention 360h] [--idempotency-ttl 24h] [--max-loaded-channels 1000]
                          [--channel-idle 1h] [--log-format text|json] [--log-level info]
                          [--witness NAME=URL=VKEY]...
  freezeledger principals add --name NAME --role platform|partner|auditor|reader|billing|customer [--partner ID] [--admin] [--customer ID]
                          [--data-dir DIR | --principals FILE]
  freezeledger demo       --data-dir DIR [--customers N] [--channels K]
  freezeledger rebuild    [--data-dir DIR]
  freezeledger export     ...   (freezeledger export --help)
  freezeledger verify     ...   (freezeledger verify --help)
  freezeledger keys rotate --data-dir DIR [--master-key-file F] [--new-master-key-file G]
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one invocation and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "export":
			return runExport(ctx, args[1:], stdout, stderr)
		case "verify":
			return runVerify(ctx, args[1:], stdout, stderr)
		case "keys":
			return runKeys(ctx, args[1:], stdout, stderr)
		}
	}
	m := &Main{Stdout: stdout, Stderr: stderr}
	if err := m.ParseFlags(args); err != nil {
		if errors.Is(err, errHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "freezeledger:", err)
		return 2
	}
	err := m.Run(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, "freezeledger:", err)
		return 1
	}
	return 0
}
