package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// Standard Webhooks (https://www.standardwebhooks.com/) signing: the secret is "whsec_" followed
// by the base64 of the key bytes; a message's signature is "v1," and the base64 of
// HMAC-SHA256(key, msgID + "." + timestamp + "." + body), sent in the webhook-signature header with
// webhook-id (msgID) and webhook-timestamp (Unix seconds).

// SecretPrefix starts every webhook secret.
const SecretPrefix = "whsec_"

// secretBytes is the length of a new secret's key (the spec asks for 24 to 64 bytes).
const secretBytes = 32

// NewSecret returns a fresh random secret: "whsec_" and the base64 of 32 random bytes.
func NewSecret() (string, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

var errBadSecret = errors.New("webhook: a secret is whsec_ followed by base64")

// secretKey is the key of secret: the base64-decoded bytes after "whsec_".
func secretKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errBadSecret
	}
	k, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(k) == 0 {
		return nil, errBadSecret
	}
	return k, nil
}

// Sign returns the webhook-signature header value of a message: "v1," and the base64 of
// HMAC-SHA256 over "msgID.timestamp.body", keyed with secret's decoded bytes.
func Sign(secret, msgID string, timestamp int64, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, timestamp, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Verify reports whether header (a webhook-signature value: space-separated "v1,<base64>"
// signatures) holds a valid signature of the message: what a receiver checks. It compares in
// constant time.
func Verify(secret, msgID string, timestamp int64, body []byte, header string) bool {
	want, err := Sign(secret, msgID, timestamp, body)
	if err != nil {
		return false
	}
	for _, sig := range strings.Fields(header) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}
