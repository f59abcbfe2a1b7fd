package webhook

import (
	"crypto/sha256"
	"encoding/hex"
)

// A registration may carry the Idempotency-Key of the request that created it: a retry of that
// request (same principal, same key) answers the registration it created, secret included, instead
// of registering another; the same key with another body is a conflict. The record keeps the key
// and the body only as SHA-256 digests (record.IdempotencyKey, record.RequestHash), so the key
// survives restarts with the registration and lives exactly as long as it: once the webhook is
// deleted, the key is free again.

// idemKey identifies a key in the Manager's index: the owner and the key's digest.
type idemKey struct{ owner, key string }

// keyDigest is what a record stores of an Idempotency-Key ("" for none).
func keyDigest(key string) string {
	if key == "" {
		return ""
	}
	return digest(key)
}

// requestDigest is what a record stores of the registration's body: its URL and description as
// decoded, so a retry that spells the same JSON differently is the same request.
func requestDigest(url, description string) string {
	return digest(url + "\x00" + description)
}

func digest(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}
