package httpapi

import (
	"net/http"
	"strings"
)

// Status reads carry an ETag: a strong validator made of the 64-bit FNV-1a hash of the answer's
// bytes, so that it changes exactly when the answer does (also when only a partner's freeze, and
// not the customer's own events, changed the effective state). A poller that sends it back in
// If-None-Match gets 304 Not Modified without a body while the status is unchanged.

// etagOf is the ETag of body: a quoted 16-digit hex FNV-1a hash.
func etagOf(dst []byte, body []byte) []byte {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, c := range body {
		h ^= uint64(c)
		h *= prime
	}
	dst = append(dst, '"')
	for i := 60; i >= 0; i -= 4 {
		dst = append(dst, "0123456789abcdef"[h>>uint(i)&0xf])
	}
	return append(dst, '"')
}

// noneMatch reports whether the If-None-Match header values name etag (weak comparison, as RFC 9110
// requires for If-None-Match; "*" matches any).
func noneMatch(values []string, etag string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// writeNotModified answers 304 with the validator and the caching headers of the 200 it stands for.
func writeNotModified(w http.ResponseWriter, etag string) {
	h := w.Header()
	h["Etag"] = []string{etag}
	h["Cache-Control"] = headerNoStore
	w.WriteHeader(http.StatusNotModified)
}
