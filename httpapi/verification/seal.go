package verification

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/freezeledger/freezeledger/internal/atomicfile"
)

// keyFile is the sealing key's file in the directory: 32 random bytes, mode 0600, made on first open.
const keyFile = "secrets.key"

// sealer seals and opens secrets with AES-256-GCM; each sealed secret is bound to its principal
// (the additional data), so a sealed value copied to another principal does not open.
type sealer struct{ aead cipher.AEAD }

func loadSealer(dir string) (*sealer, error) {
	path := filepath.Join(dir, keyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("verification key: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, keyFile), key, 0o600); err != nil {
			return nil, fmt.Errorf("verification key: %w", err)
		}
		// Another process may have won the race to create it: use what is on disk.
		if key, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("verification key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("verification key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("verification key %s: %d bytes, want 32", path, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("verification key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("verification key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func additionalData(principal string) []byte { return []byte("freezeledger totp v1\x00" + principal) }

func (s *sealer) seal(principal, secret string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, []byte(secret), additionalData(principal))
	return base64.StdEncoding.EncodeToString(out), nil
}

// open returns the secret sealed for principal; the error never says anything about the secret.
func (s *sealer) open(principal, sealed string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", errors.New("a sealed TOTP secret is malformed")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], additionalData(principal))
	if err != nil {
		return "", errors.New("a sealed TOTP secret does not open with this directory's key")
	}
	return string(plain), nil
}
