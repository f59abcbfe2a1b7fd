package keystore

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/freezeledger/freezeledger/internal/atomicfile"
)

// MasterKeyEnv is the environment variable that may hold the master key (base64 of 32 bytes).
const MasterKeyEnv = "FREEZELEDGER_MASTER_KEY"

// MasterKey is the 32-byte key that wraps every data key and the index key (docs/PERSONAL-DATA.md).
type MasterKey [32]byte

// ID names the master key without revealing it: the first 16 hex digits of SHA-256 of
// "freezeledger master key id" followed by the key. The key store header records it, so a store
// opened with another master key is refused as such.
func (k *MasterKey) ID() string {
	h := sha256.New()
	h.Write([]byte("freezeledger master key id"))
	h.Write(k[:])
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ParseMasterKey decodes a master key written as base64 (standard, padded or not) of 32 bytes,
// surrounding whitespace ignored. The error never contains the input.
func ParseMasterKey(text []byte) (MasterKey, error) {
	var k MasterKey
	s := string(bytes.TrimSpace(text))
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(b) != len(k) {
		return k, errors.New("a master key is the base64 of exactly 32 bytes")
	}
	copy(k[:], b)
	return k, nil
}

// EncodeMasterKey is the text form ParseMasterKey reads, with a trailing newline.
func EncodeMasterKey(k MasterKey) []byte {
	return []byte(base64.StdEncoding.EncodeToString(k[:]) + "\n")
}

// NewMasterKey returns a fresh random master key.
func NewMasterKey() MasterKey {
	var k MasterKey
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails
	return k
}

// ReadMasterKey reads the master key in file (ParseMasterKey's form). A missing file is an error
// wrapping fs.ErrNotExist; errors name the file, never the key.
func ReadMasterKey(file string) (MasterKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return MasterKey{}, fmt.Errorf("master key file: %w", err)
	}
	k, err := ParseMasterKey(b)
	if err != nil {
		return MasterKey{}, fmt.Errorf("master key file %s: %w", file, err)
	}
	return k, nil
}

// LoadMasterKey reads the master key: from file if it is not "", else from the environment value
// env if it is not "", else from defaultFile, which is created (0600, atomically) with a fresh key
// when it does not exist. It returns where the key came from, for the log (never the key).
func LoadMasterKey(file, env, defaultFile string) (MasterKey, string, error) {
	switch {
	case file != "":
		k, err := ReadMasterKey(file)
		return k, file, err
	case env != "":
		k, err := ParseMasterKey([]byte(env))
		if err != nil {
			return MasterKey{}, "$" + MasterKeyEnv, fmt.Errorf("$%s: %w", MasterKeyEnv, err)
		}
		return k, "$" + MasterKeyEnv, nil
	}
	b, err := os.ReadFile(defaultFile)
	if err == nil {
		k, err := ParseMasterKey(b)
		if err != nil {
			return MasterKey{}, defaultFile, fmt.Errorf("master key file %s: %w", defaultFile, err)
		}
		return k, defaultFile, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return MasterKey{}, defaultFile, fmt.Errorf("master key file: %w", err)
	}
	k := NewMasterKey()
	if err := os.MkdirAll(filepath.Dir(defaultFile), 0o700); err != nil {
		return MasterKey{}, defaultFile, fmt.Errorf("master key directory: %w", err)
	}
	if err := atomicfile.WriteFile(defaultFile, EncodeMasterKey(k), 0o600); err != nil {
		return MasterKey{}, defaultFile, fmt.Errorf("master key file %s: %w", defaultFile, err)
	}
	return k, defaultFile, nil
}
