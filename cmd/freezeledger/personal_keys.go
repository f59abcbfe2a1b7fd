package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/internal/keystore"
	"github.com/freezeledger/freezeledger/projections"
)

// KeysDir is where the personal-data key store (rule 21, docs/PERSONAL-DATA.md) lives in dataDir.
func KeysDir(dataDir string) string { return filepath.Join(dataDir, "keys") }

// KeyStoreFile is the key store of dataDir.
func KeyStoreFile(dataDir string) string { return filepath.Join(KeysDir(dataDir), "personal.keys") }

// MasterKeyFile is the master key's default place when neither --master-key-file nor
// $FREEZELEDGER_MASTER_KEY names one.
func MasterKeyFile(dataDir string) string { return filepath.Join(KeysDir(dataDir), "master.key") }

// openKeys opens the key store with the master key. A missing key store is created, unless the log
// already holds personal data (then the keys that sealed it are lost or elsewhere: refuse, naming
// the file); a damaged one, or one of another master key, refuses naming the file.
func (m *Main) openKeys(ctx context.Context, store eventstore.Store, log hclog.Logger) (*keystore.Store, error) {
	master, from, err := keystore.LoadMasterKey(m.cfg.masterKeyFile, os.Getenv(keystore.MasterKeyEnv), MasterKeyFile(m.cfg.dataDir))
	if err != nil {
		return nil, fmt.Errorf("refusing to start: %w", err)
	}
	path := KeyStoreFile(m.cfg.dataDir)
	ks, repaired, err := keystore.Open(path, master)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		has, serr := projections.LogHasPersonalData(ctx, store)
		if serr != nil {
			return nil, serr
		}
		if has {
			return nil, fmt.Errorf("refusing to start: the key store %s is missing, and the log holds personal data sealed with its keys (restore the key store from its backup, with its master key)", path)
		}
		ks, err = keystore.Create(path, master)
		if err != nil {
			return nil, fmt.Errorf("refusing to start: %w", err)
		}
		log.Info("personal-data key store created", "file", path, "master_key", from, "master_key_id", master.ID())
	case err != nil:
		return nil, fmt.Errorf("refusing to start: %w", err)
	case repaired:
		log.Warn("personal-data key store: dropped a last line cut short by a crash (an append never acknowledged)", "file", path)
	}
	return ks, nil
}

// sweepErasedKeys destroys the keys of every erased customer still in the key store once the read
// models have caught up: it completes an erasure whose process died between the event and the
// key's destruction, and one undone by restoring an older key store.
func sweepErasedKeys(ctx context.Context, l *ledger, log hclog.Logger) error {
	head, err := l.store.Head(ctx)
	if err != nil {
		return err
	}
	if err := l.reads.WaitFor(ctx, head); err != nil {
		return err
	}
	var left []string
	for _, id := range l.reads.ErasedKeyIDs() {
		if _, err := l.keys.KeyFor("", id); err == nil {
			left = append(left, id)
		}
	}
	if len(left) == 0 {
		return nil
	}
	if err := l.keys.Destroy(left...); err != nil {
		return err
	}
	log.Warn("destroyed the keys of erasures recorded in the log but not yet carried out", "keys", len(left))
	return nil
}
