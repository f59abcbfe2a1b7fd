package verify

import (
	"io"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// ReadBundle loads a bundle directory (package leaf, OpenBundle) into a VerifyInput: the export (an
// open file: close it with the returned Closer), the checkpoint and the range proof. The public key
// is not taken from the bundle: set PublicKey from a source the auditor trusts.
func ReadBundle(dir string) (VerifyInput, io.Closer, error) {
	var in VerifyInput
	b, err := leaf.OpenBundle(dir)
	if err != nil {
		return in, nil, err
	}
	in.Export, in.Checkpoint, in.Range = b.Events, b.Checkpoint, &b.Proof
	return in, b.Events, nil
}
