package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The registrations and their delivery cursors live in files, one per webhook, in a directory of
// their own (<data-dir>/webhooks/), never in the event log: the log is exported to auditors and a
// secret must not reach them. Each file is written atomically (a temp file, fsync, rename, fsync
// of the directory), mode 0600, directory 0700.

// recordVersion is the file format's version.
const recordVersion = 1

// record is one webhook as stored.
type record struct {
	Version     int       `json:"version"`
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	Owner       string    `json:"owner"` // principal name
	Scope       string    `json:"scope"` // the owner's subtree when registered ("" everything)
	Secret      string    `json:"secret"`
	CreatedAt   time.Time `json:"created_at"`
	State       string    `json:"state"`
	// Cursor is the change feed cursor after the last item acknowledged by the receiver (or the
	// feed's position when the webhook was created). It may lag the last acknowledged item (it is
	// persisted at most every Options.PersistEvery): a restart then sends a few items again, which
	// receivers dedupe by webhook-id. It never runs ahead, so nothing is skipped.
	Cursor        string    `json:"cursor"`
	LastDelivered string    `json:"last_delivered_position"`
	LastError     string    `json:"last_error"`
	FailingSince  time.Time `json:"failing_since"` // zero when the last attempt succeeded
	// IdempotencyKey and RequestHash are the SHA-256 digests (hex) of the Idempotency-Key the
	// registration was created with and of its body (idempotency.go); empty without a key.
	// Records written before they existed simply have none.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	RequestHash    string `json:"request_hash,omitempty"`
}

type fileStore struct{ dir string }

func openFileStore(dir string) (*fileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return &fileStore{dir: dir}, nil
}

func (s *fileStore) path(id string) string { return filepath.Join(s.dir, id+".json") }

// load reads every record. A file that does not parse is an error naming it: registrations are not
// dropped silently.
func (s *fileStore) load() ([]record, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	var out []record
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") {
			continue // temp files of an interrupted write, and anything else
		}
		b, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil {
			return nil, fmt.Errorf("webhook: %w", err)
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil || r.Version != recordVersion || r.ID+".json" != name {
			return nil, fmt.Errorf("webhook: %s is not a webhook record of version %d", filepath.Join(s.dir, name), recordVersion)
		}
		out = append(out, r)
	}
	return out, nil
}

// save writes r atomically.
func (s *fileStore) save(r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, r.ID+".*.tmp")
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("webhook: writing %s: %w", s.path(r.ID), err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(b); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("webhook: writing %s: %w", s.path(r.ID), err)
	}
	if err := os.Rename(tmp, s.path(r.ID)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("webhook: %w", err)
	}
	return s.syncDir()
}

// remove deletes the record of id.
func (s *fileStore) remove(id string) error {
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("webhook: %w", err)
	}
	return s.syncDir()
}

func (s *fileStore) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("webhook: syncing %s: %w", s.dir, err)
	}
	return nil
}
