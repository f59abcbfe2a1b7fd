// Package verify is freezeledger's offline auditor: it checks an export or bundle against a signed
// checkpoint and the log's verifier key (every line's leaf hash, the order of the lines, the root,
// an earlier checkpoint's consistency) and replays the history through the domain's rules. It
// knows nothing of the event store or of the writer (package auditlog): it reads the format of
// package leaf, hashes with github.com/transparency-dev/merkle and replays with package domain, so
// an outside verifier can be written from this package, leaf's documentation and docs/AUDIT.md.
package verify
