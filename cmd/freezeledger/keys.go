package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/freezeledger/freezeledger/internal/atomicfile"
	"github.com/freezeledger/freezeledger/internal/keystore"
)

const keysUsage = `freezeledger keys rotate: rewrap every personal-data key (rule 21) and the index key under a new
master key (offline: the server must not be running on DIR; docs/PERSONAL-DATA.md, "Rotation")

Usage:
  freezeledger keys rotate --data-dir DIR [--master-key-file F] [--new-master-key-file G]

The current master key is F, else $FREEZELEDGER_MASTER_KEY, else DIR/keys/master.key (as serve).
G is read if it exists, else created with a fresh key (0600). Without G, the current key must be
DIR/keys/master.key, which is replaced by a fresh key. When the current key was DIR/keys/master.key
and G is given, DIR/keys/master.key is removed. Afterwards the old master key opens no copy of the
rewritten key store: destroy it (and mind the key store's backups).

Flags:
`

// runKeys implements `freezeledger keys rotate`.
func runKeys(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "rotate" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprint(stdout, keysUsage)
			return 0
		}
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	fs := pflag.NewFlagSet("keys rotate", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, keysUsage); fs.PrintDefaults() }
	dataDir := fs.String("data-dir", "./data", "data directory whose key store to rotate")
	oldFile := fs.String("master-key-file", "", "the current master key (default $"+keystore.MasterKeyEnv+", else <data-dir>/keys/master.key)")
	newFile := fs.String("new-master-key-file", "", "the new master key: read if it exists, else created (default: a fresh key replaces <data-dir>/keys/master.key)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "freezeledger keys rotate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	msg, err := rotateKeys(*dataDir, *oldFile, os.Getenv(keystore.MasterKeyEnv), *newFile)
	if err != nil {
		fmt.Fprintln(stderr, "freezeledger keys rotate:", err)
		return 1
	}
	fmt.Fprint(stdout, msg)
	return 0
}

// rotateKeys rewraps the key store of dataDir from the current master key (oldFile, else env, else
// the default file) to the new one (newFile, else a fresh key for the default file), holding the
// data directory's lock so that no server starts meanwhile. It returns what it did, for the
// operator.
//
// Crash safety: the new key is durable (newFile, or <default>.next) before the key store is
// rewritten (atomically, Store.Rotate), and the default file is replaced only after. A run that
// stopped after the rewrite left a key store that the new key opens: the next run finds that and
// completes the replacement.
func rotateKeys(dataDir, oldFile, env, newFile string) (string, error) {
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return "", err
	}
	defer unlock()
	path := KeyStoreFile(dataDir)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("key store %s: %w (nothing to rotate)", path, err)
	}
	def := MasterKeyFile(dataDir)
	var cur keystore.MasterKey
	switch {
	case oldFile != "":
		cur, err = keystore.ReadMasterKey(oldFile)
	case env != "":
		cur, err = keystore.ParseMasterKey([]byte(env))
		if err != nil {
			err = fmt.Errorf("$%s: %w", keystore.MasterKeyEnv, err)
		}
	default:
		oldFile = def
		cur, err = keystore.ReadMasterKey(def)
	}
	if err != nil {
		return "", fmt.Errorf("the current master key: %w", err)
	}
	replaceDefault := newFile == ""
	if replaceDefault {
		if oldFile != def {
			return "", errors.New("the current master key is not " + def + ": give the new one with --new-master-key-file")
		}
		newFile = def + ".next"
	}
	next, created, err := readOrCreateMasterKey(newFile)
	if err != nil {
		return "", fmt.Errorf("the new master key: %w", err)
	}
	if next == cur {
		return "", fmt.Errorf("the new master key (%s) is the current one", newFile)
	}

	ks, _, err := keystore.Open(path, cur)
	var live, gone int
	switch {
	case err == nil:
		if err := ks.Rotate(next); err != nil {
			return "", err
		}
		live, gone = ks.Count()
	case errors.Is(err, keystore.ErrDamaged):
		// Already under the new key (a run that stopped after the rewrite)? Otherwise refuse, as
		// Open named it.
		done, _, nerr := keystore.Open(path, next)
		if nerr != nil {
			return "", err
		}
		live, gone = done.Count()
	default:
		return "", err
	}
	if _, _, err := keystore.Open(path, next); err != nil {
		return "", fmt.Errorf("the rotated key store does not open with the new master key: %w", err)
	}

	msg := fmt.Sprintf("rotated %s: %d data keys (in use or created ahead) and the index key rewrapped under master key %s (was %s); %d destroyed key IDs kept\n",
		path, live, next.ID(), cur.ID(), gone)
	if created && !replaceDefault {
		msg += fmt.Sprintf("the new master key was created in %s\n", newFile)
	}
	switch {
	case replaceDefault:
		if err := atomicfile.WriteFile(def, keystore.EncodeMasterKey(next), 0o600); err != nil {
			return "", fmt.Errorf("the key store is rotated, but replacing %s failed (the new key is in %s: run keys rotate again): %w", def, newFile, err)
		}
		if err := os.Remove(newFile); err != nil {
			return "", err
		}
		msg += fmt.Sprintf("the new master key replaced %s\n", def)
	case oldFile == def:
		if err := os.Remove(def); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		msg += fmt.Sprintf("removed the old master key %s; serve and rebuild need --master-key-file %s from now on\n", def, newFile)
	default:
		msg += fmt.Sprintf("serve and rebuild need the new master key from now on (--master-key-file %s); destroy the old one\n", newFile)
	}
	msg += "old backups of the key store still open with the old master key only: destroy it once they are gone (docs/PERSONAL-DATA.md)\n"
	return msg, nil
}

// readOrCreateMasterKey reads the master key in file or, if there is none, writes a fresh one there
// (0600, atomically, synced) and reports created.
func readOrCreateMasterKey(file string) (k keystore.MasterKey, created bool, err error) {
	k, err = keystore.ReadMasterKey(file)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k = keystore.NewMasterKey()
	if err := atomicfile.WriteFile(file, keystore.EncodeMasterKey(k), 0o600); err != nil {
		return k, false, fmt.Errorf("master key file %s: %w", file, err)
	}
	return k, true, nil
}

// lockDataDir takes the data directory's lock (the flock bbolt holds on store/events.db while a
// server, demo, export or rebuild has the embedded store open), so that no server runs while the
// key store is rewritten. A directory without an embedded store (EventStoreDB) has no lock: every
// instance must be stopped by the operator.
func lockDataDir(dataDir string) (unlock func(), err error) {
	db := filepath.Join(StoreDir(dataDir), "events.db")
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("refusing: %s is locked: a server (or another command) is using the data directory %s; stop it first", db, dataDir)
		}
		return nil, fmt.Errorf("data directory lock %s: %w", db, err)
	}
	return func() { f.Close() }, nil
}
