// Package auditlog writes the verifiable audit log: the RFC 6962 Merkle tree over all the store's
// events in global order (Tree), fed from the store, persisted in a directory, with signed
// checkpoints, proofs, exports, bundles and the in-place check against the store. The format it
// writes is package leaf's; the offline verifier, which knows nothing of the store or of this
// package, is package verify.
package auditlog
