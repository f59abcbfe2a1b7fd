// Package keystore keeps the customers' personal-data keys outside the log (rule 21,
// docs/PERSONAL-DATA.md): one 256-bit data key per customer, wrapped by a master key, in one file of
// the data directory (0600), appended in fsynced batches and rewritten whole (internal/atomicfile)
// when keys are destroyed or the master key rotated. It seals and opens personal fields with those
// keys (AES-256-GCM, standard library) and computes the blind index's keyed hashes. It imports the
// standard library and the domain's types only.
package keystore

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/internal/atomicfile"
)

// Format is the key store file's format name, in its header line.
const Format = "freezeledger-keys/1"

// PoolSize is how many keys one fsynced append creates ahead of use.
const PoolSize = 1024

var (
	// ErrUnknownKey: no key with that ID is in the store (and none was destroyed): a missing or
	// stale key store.
	ErrUnknownKey = errors.New("keystore: unknown key")
	// ErrDestroyed: the key was destroyed (its customer's personal data was erased).
	ErrDestroyed = errors.New("keystore: key destroyed")
	// ErrDamaged: the file does not parse, a key does not unwrap, or it was written under another
	// master key. The error names the file and line.
	ErrDamaged = errors.New("keystore: damaged key store")
)

type headerLine struct {
	Format      string `json:"format"`
	MasterKeyID string `json:"master_key_id"`
	IndexKey    string `json:"index_key"`
}

type keyLine struct {
	KeyID     string `json:"key_id,omitempty"`
	Wrapped   string `json:"wrapped,omitempty"`
	Destroyed string `json:"destroyed,omitempty"`
}

// Store is an open key store. It is safe for concurrent use. Keys handed out by KeyFor are durable
// before they are returned.
type Store struct {
	path   string
	master MasterKey
	wrap   cipher.AEAD

	// fileMu serialises the writers of the file (a batch append, a rewrite); it is taken before mu.
	fileMu      sync.Mutex
	mu          sync.Mutex
	header      headerLine
	keys        map[string]*entry // live keys by ID
	destroyed   map[string]bool
	byCustomer  map[string]string // customer -> key handed out by this process
	pool        []string          // durable keys no one was given, in creation order
	index       *blindIndex
	unknownSeen map[string]bool // key IDs re-read for once (another instance's new keys)
}

type entry struct {
	wrapped string
	dk      *dataKey
}

// Path is the key store's file.
func (s *Store) Path() string { return s.path }

func masterAEAD(m MasterKey) cipher.AEAD {
	block, _ := aes.NewCipher(m[:]) // a 32-byte key is always valid
	aead, _ := cipher.NewGCM(block)
	return aead
}

func wrapAAD(id string) []byte { return append([]byte("freezeledger/keystore/v1\x00"), id...) }

func (s *Store) wrapKey(id string, raw []byte) string {
	nonce := make([]byte, s.wrap.NonceSize())
	_, _ = rand.Read(nonce)
	return s.wrapKeyWithNonce(id, raw, nonce)
}

// wrapKeyWithNonce wraps raw under the master key with a random nonce the caller read.
func (s *Store) wrapKeyWithNonce(id string, raw, nonce []byte) string {
	out := make([]byte, len(nonce), len(nonce)+len(raw)+s.wrap.Overhead())
	copy(out, nonce)
	return base64.StdEncoding.EncodeToString(s.wrap.Seal(out, nonce, raw, wrapAAD(id)))
}

func (s *Store) unwrapKey(id, wrapped string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(wrapped)
	if err != nil || len(b) < s.wrap.NonceSize() {
		return nil, errors.New("wrapped key is not base64 of nonce and ciphertext")
	}
	n := s.wrap.NonceSize()
	raw, err := s.wrap.Open(nil, b[:n], b[n:], wrapAAD(id))
	if err != nil || len(raw) != 32 {
		return nil, errors.New("wrapped key does not unwrap with the master key")
	}
	return raw, nil
}

// Create makes a new, empty key store at path (its directory made 0700 if absent) with a fresh
// index key, and opens it. It fails if path exists.
func Create(path string, master MasterKey) (*Store, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("key store %s: %w", path, fs.ErrExist)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("key store %s: %w", path, err)
	}
	s := newStore(path, master)
	var ik [32]byte
	_, _ = rand.Read(ik[:])
	s.header = headerLine{Format: Format, MasterKeyID: master.ID(), IndexKey: s.wrapKey("index", ik[:])}
	s.index = newBlindIndex(ik[:])
	if err := s.rewriteLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

func newStore(path string, master MasterKey) *Store {
	return &Store{path: path, master: master, wrap: masterAEAD(master), keys: map[string]*entry{},
		destroyed: map[string]bool{}, byCustomer: map[string]string{}, unknownSeen: map[string]bool{}}
}

// Open opens the key store at path with master. A missing file is an error wrapping
// fs.ErrNotExist; a damaged one (see ErrDamaged) names the file and line. A last line cut short by a
// crash (an append that was never acknowledged) is dropped and the file rewritten without it;
// repaired reports that.
func Open(path string, master MasterKey) (s *Store, repaired bool, err error) {
	s = newStore(path, master)
	torn, err := s.load()
	if err != nil {
		return nil, false, err
	}
	if torn {
		s.mu.Lock()
		err = s.rewriteLocked()
		s.mu.Unlock()
		if err != nil {
			return nil, false, err
		}
	}
	return s, torn, nil
}

// load reads the file into s (s.mu held or s not yet shared).
func (s *Store) load() (torn bool, err error) {
	b, err := os.ReadFile(s.path)
	if err != nil {
		return false, fmt.Errorf("key store %s: %w", s.path, err)
	}
	damaged := func(line int, format string, args ...any) error {
		return fmt.Errorf("%w %s, line %d: %s", ErrDamaged, s.path, line, fmt.Sprintf(format, args...))
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		i := bytes.LastIndexByte(b, '\n')
		b, torn = b[:i+1], true
	}
	keys, destroyed := map[string]*entry{}, map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	var h headerLine
	for sc.Scan() {
		line++
		if line == 1 {
			dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&h); err != nil || h.Format != Format {
				return false, damaged(line, "not a %s header", Format)
			}
			if h.MasterKeyID != s.master.ID() {
				return false, damaged(line, "written under master key %s, not the given master key %s", h.MasterKeyID, s.master.ID())
			}
			ik, err := s.unwrapKey("index", h.IndexKey)
			if err != nil {
				return false, damaged(line, "index key: %v", err)
			}
			s.index = newBlindIndex(ik)
			continue
		}
		var kl keyLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&kl); err != nil {
			return false, damaged(line, "not a key line")
		}
		switch {
		case kl.Destroyed != "" && kl.KeyID == "" && kl.Wrapped == "":
			if !ValidKeyID(kl.Destroyed) {
				return false, damaged(line, "destroyed key ID is malformed")
			}
			if keys[kl.Destroyed] != nil {
				return false, damaged(line, "key %s is both live and destroyed", kl.Destroyed)
			}
			destroyed[kl.Destroyed] = true
		case kl.Destroyed == "" && ValidKeyID(kl.KeyID):
			if keys[kl.KeyID] != nil || destroyed[kl.KeyID] {
				return false, damaged(line, "key %s appears twice", kl.KeyID)
			}
			raw, err := s.unwrapKey(kl.KeyID, kl.Wrapped)
			if err != nil {
				return false, damaged(line, "key %s: %v", kl.KeyID, err)
			}
			var r [32]byte
			copy(r[:], raw)
			dk, err := newDataKey(r)
			if err != nil {
				return false, damaged(line, "key %s: %v", kl.KeyID, err)
			}
			keys[kl.KeyID] = &entry{wrapped: kl.Wrapped, dk: dk}
		default:
			return false, damaged(line, "not a key line")
		}
	}
	if err := sc.Err(); err != nil {
		return false, damaged(line+1, "%v", err)
	}
	if line == 0 {
		return false, damaged(1, "no header (an empty file)")
	}
	s.header, s.keys, s.destroyed = h, keys, destroyed
	return torn, nil
}

// ValidKeyID reports whether id has the form of a data key ID: "pk_" and 32 lower-case hex digits.
func ValidKeyID(id string) bool { return domain.ValidPersonalKeyID(id) }

// KeyFor returns the ID of the data key to seal customerID's fields with. existing is the key ID
// the log already records for the customer ("" if none): it is returned if it is live
// (ErrDestroyed, ErrUnknownKey otherwise). Without one, the key this process handed out for the
// customer before (an idempotent retry seals the same bytes) or a fresh one from the pool; a fresh
// key is on disk before KeyFor returns.
func (s *Store) KeyFor(customerID, existing string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if existing != "" {
		if _, err := s.keyLocked(existing); err != nil {
			return "", err
		}
		return existing, nil
	}
	for {
		if id, ok := s.byCustomer[customerID]; ok && s.keys[id] != nil {
			return id, nil
		}
		if len(s.pool) > 0 {
			break
		}
		// The batch is made, appended and synced without s.mu, so that seals and opens with the
		// keys already there go on meanwhile; fileMu keeps other writers of the file out.
		s.mu.Unlock()
		err := s.refill()
		s.mu.Lock()
		if err != nil {
			return "", err
		}
	}
	id := s.pool[0]
	s.pool = s.pool[1:]
	s.byCustomer[customerID] = id
	return id, nil
}

// refill appends a batch of PoolSize fresh keys to the file, synced, and then adds them to the
// pool; it does nothing if another caller refilled the pool meanwhile. s.mu is not held.
func (s *Store) refill() error {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	s.mu.Lock()
	full := len(s.pool) > 0
	s.mu.Unlock()
	if full {
		return nil
	}
	// One read of the system's random source for the whole batch: per key a 16-byte ID, the
	// 32-byte key and the 12-byte nonce of its wrapping.
	const per = 16 + 32 + 12
	random := make([]byte, PoolSize*per)
	_, _ = rand.Read(random) // crypto/rand.Read never fails
	fresh := make(map[string]*entry, PoolSize)
	ids := make([]string, 0, PoolSize)
	buf := make([]byte, 0, PoolSize*128)
	for i := range PoolSize {
		r := random[i*per : (i+1)*per]
		id := "pk_" + hex.EncodeToString(r[:16])
		var raw [32]byte
		copy(raw[:], r[16:48])
		dk, err := newDataKey(raw)
		if err != nil {
			return err
		}
		e := &entry{wrapped: s.wrapKeyWithNonce(id, raw[:], r[48:]), dk: dk}
		// The line as json.Marshal(keyLine{...}) writes it (both values are plain ASCII).
		buf = append(buf, `{"key_id":"`...)
		buf = append(buf, id...)
		buf = append(buf, `","wrapped":"`...)
		buf = append(buf, e.wrapped...)
		buf = append(buf, "\"}\n"...)
		fresh[id] = e
		ids = append(ids, id)
	}
	clear(random)
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("key store %s: %w", s.path, err)
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		// The file may end in part of the batch: rewrite it as it was before, whole.
		if rerr := s.rewriteLocked(); rerr != nil {
			return fmt.Errorf("key store %s: append failed (%v) and so did the rewrite: %w", s.path, err, rerr)
		}
		return fmt.Errorf("key store %s: append: %w", s.path, err)
	}
	for id, e := range fresh {
		s.keys[id] = e
	}
	s.pool = append(s.pool, ids...)
	return nil
}

// keyLocked finds a live key, re-reading the file once for an ID it does not know (a key another
// instance created).
func (s *Store) keyLocked(id string) (*dataKey, error) {
	if e := s.keys[id]; e != nil {
		return e.dk, nil
	}
	if s.destroyed[id] {
		return nil, ErrDestroyed
	}
	if !s.unknownSeen[id] && ValidKeyID(id) {
		s.unknownSeen[id] = true
		fresh := newStore(s.path, s.master)
		if _, err := fresh.load(); err == nil {
			for k, e := range fresh.keys {
				if s.keys[k] == nil && !s.destroyed[k] {
					s.keys[k] = e
				}
			}
			for k := range fresh.destroyed {
				s.destroyed[k] = true
				delete(s.keys, k)
			}
			if e := s.keys[id]; e != nil {
				return e.dk, nil
			}
			if s.destroyed[id] {
				return nil, ErrDestroyed
			}
		}
	}
	return nil, ErrUnknownKey
}

// Seal seals value as field of customerID with key keyID (docs/PERSONAL-DATA.md, "Sealing").
func (s *Store) Seal(keyID, customerID, field, value string) (domain.SealedValue, error) {
	s.mu.Lock()
	dk, err := s.keyLocked(keyID)
	s.mu.Unlock()
	if err != nil {
		return domain.SealedValue{}, err
	}
	return dk.seal(keyID, customerID, field, value), nil
}

// Unseal opens a sealed field: ErrDestroyed after the key's erasure, ErrUnknownKey for a key the
// store never had, ErrOpen for a value that does not open.
func (s *Store) Unseal(keyID, customerID, field string, v domain.SealedValue) (string, error) {
	s.mu.Lock()
	dk, err := s.keyLocked(keyID)
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	return dk.open(keyID, customerID, field, v)
}

// BlindIndex is the keyed hash under which a normalised value of field is indexed.
func (s *Store) BlindIndex(field, normalized string) [32]byte {
	return s.index.sum(field, normalized)
}

// Known reports whether keyID is live or destroyed in the store (false: the store never had it).
func (s *Store) Known(keyID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.keyLocked(keyID)
	return err == nil || errors.Is(err, ErrDestroyed)
}

// Destroy destroys the keys: the file is rewritten without them, listing their IDs as destroyed,
// and synced, before Destroy returns; the keys are then gone from memory too. IDs already destroyed
// or unknown are recorded as destroyed all the same.
func (s *Store) Destroy(keyIDs ...string) error {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	removed := map[string]*entry{}
	for _, id := range keyIDs {
		if !ValidKeyID(id) || s.destroyed[id] {
			continue
		}
		if e := s.keys[id]; e != nil {
			removed[id] = e
			delete(s.keys, id)
		}
		s.destroyed[id] = true
		changed = true
	}
	if !changed {
		return nil
	}
	if err := s.rewriteLocked(); err != nil {
		for id, e := range removed { // not destroyed after all: keep serving them
			s.keys[id] = e
			delete(s.destroyed, id)
		}
		for _, id := range keyIDs {
			if removed[id] == nil {
				delete(s.destroyed, id)
			}
		}
		return err
	}
	for _, e := range removed {
		clear(e.dk.raw[:])
	}
	for c, id := range s.byCustomer {
		if s.destroyed[id] {
			delete(s.byCustomer, c)
		}
	}
	pool := s.pool[:0]
	for _, id := range s.pool {
		if !s.destroyed[id] {
			pool = append(pool, id)
		}
	}
	s.pool = pool
	return nil
}

// Count returns how many live keys the store holds and how many destroyed key IDs it lists.
func (s *Store) Count() (live, destroyed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys), len(s.destroyed)
}

// MasterKeyID is the ID (MasterKey.ID) of the master key the file is written under.
func (s *Store) MasterKeyID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header.MasterKeyID
}

// Rotate rewraps every key and the index key under next and rewrites the file; from then on the
// store needs next to open. The old master key then opens no copy of the new file.
func (s *Store) Rotate(next MasterKey) error {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	oldMaster, oldWrap := s.master, s.wrap
	ik, err := s.unwrapKey("index", s.header.IndexKey)
	if err != nil {
		return fmt.Errorf("%w %s: index key: %v", ErrDamaged, s.path, err)
	}
	s.master, s.wrap = next, masterAEAD(next)
	header := headerLine{Format: Format, MasterKeyID: next.ID(), IndexKey: s.wrapKey("index", ik)}
	keys := make(map[string]*entry, len(s.keys))
	for id, e := range s.keys {
		keys[id] = &entry{wrapped: s.wrapKey(id, e.dk.raw[:]), dk: e.dk}
	}
	oldHeader, oldKeys := s.header, s.keys
	s.header, s.keys = header, keys
	if err := s.rewriteLocked(); err != nil {
		s.master, s.wrap, s.header, s.keys = oldMaster, oldWrap, oldHeader, oldKeys
		return err
	}
	return nil
}

// rewriteLocked writes the whole file from memory, atomically and synced.
func (s *Store) rewriteLocked() error {
	var buf bytes.Buffer
	h, _ := json.Marshal(s.header)
	buf.Write(append(h, '\n'))
	ids := make([]string, 0, len(s.keys))
	for id := range s.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		l, _ := json.Marshal(keyLine{KeyID: id, Wrapped: s.keys[id].wrapped})
		buf.Write(append(l, '\n'))
	}
	gone := make([]string, 0, len(s.destroyed))
	for id := range s.destroyed {
		gone = append(gone, id)
	}
	sort.Strings(gone)
	for _, id := range gone {
		l, _ := json.Marshal(keyLine{Destroyed: id})
		buf.Write(append(l, '\n'))
	}
	if err := atomicfile.WriteFile(s.path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("key store %s: rewrite: %w", s.path, err)
	}
	return nil
}
