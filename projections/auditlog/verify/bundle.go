package verify

import (
	"io"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// ReadBundle loads a bundle directory (package leaf, OpenBundle) into a VerifyInput: the export (an
// open file: close it, and a scoped bundle's gap proof, with the returned Closer), the checkpoint
// and the range proof, or for a scoped bundle its scope, stream heads and gap proof. The public key
// is not taken from the bundle: set PublicKey from a source the auditor trusts.
func ReadBundle(dir string) (VerifyInput, io.Closer, error) {
	var in VerifyInput
	b, err := leaf.OpenBundle(dir)
	if err != nil {
		return in, nil, err
	}
	in.Export, in.Checkpoint = b.Events, b.Checkpoint
	if b.Scope != nil {
		in.Scope = &ScopeInput{Proof: *b.Scope, Heads: b.Heads, Gaps: b.Gaps}
	} else {
		in.Range = &b.Proof
	}
	return in, b, nil
}
