package httpapi

import (
	"hash/crc32"
	"net/http"
	"strings"
)

// Status reads carry an ETag: a strong validator made of two CRC-32s of the answer's bytes (the
// Castagnoli and the IEEE polynomial, 64 bits together, both computed by the processor's own
// instructions where it has them: a tenth of the time of a byte-at-a-time hash on the status read's
// path), so that it changes when the answer does (also when only a partner's freeze, and not the
// customer's own events, changed the effective state). It is not a cryptographic hash: it guards
// against a stale cache, not an adversary. A poller that sends it back in If-None-Match gets 304 Not
// Modified without a body while the status is unchanged.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// etagOf appends the ETag of body to dst: a quoted 16-digit hex number, the Castagnoli CRC-32 then
// the IEEE one.
func etagOf(dst []byte, body []byte) []byte {
	h := uint64(crc32.Checksum(body, castagnoli))<<32 | uint64(crc32.ChecksumIEEE(body))
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
