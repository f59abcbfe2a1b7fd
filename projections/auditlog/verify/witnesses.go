package verify

import (
	"errors"
	"fmt"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// WitnessReport is what the checkpoint's cosignatures were found to be (VerifyInput.WitnessKeys).
type WitnessReport struct {
	Threshold int
	Valid     []leaf.Cosignature // the valid cosignatures of the given keys, in the keys' order
	Missing   []string           // why each other witness counts for nothing (the witness named)
}

// witnesses requires Threshold valid cosignatures of the given witness keys on the checkpoint
// (docs/AUDIT.md, "Witnesses"). A cosignature of a given key that does not verify is a problem in
// any case (it is the key's, over another text); a witness without one, or cosigning with another
// key of the same name, is a problem only when the threshold is not met, and then every such
// witness is named.
func (v *verifier) witnesses() {
	keys, threshold := v.in.WitnessKeys, v.in.WitnessThreshold
	if len(keys) == 0 && threshold == 0 {
		return
	}
	if threshold <= 0 {
		threshold = len(keys)
	}
	wr := &WitnessReport{Threshold: threshold}
	v.rep.Witnesses = wr
	if threshold > len(keys) {
		v.problem(Problem{What: fmt.Sprintf("witnesses: a threshold of %d needs at least %d witness keys, %d given", threshold, threshold, len(keys))})
		return
	}
	for _, k := range keys {
		wv, err := leaf.NewCosignatureVerifier(k)
		if err != nil {
			v.problem(Problem{What: "witnesses: " + err.Error()})
			continue
		}
		c, err := leaf.FindCosignature(v.in.Checkpoint, wv)
		switch {
		case err == nil:
			wr.Valid = append(wr.Valid, c)
		case errors.Is(err, leaf.ErrBadCosignature):
			v.problem(Problem{What: "checkpoint " + err.Error()})
		default:
			wr.Missing = append(wr.Missing, err.Error())
		}
	}
	if len(wr.Valid) < threshold {
		for _, m := range wr.Missing {
			v.problem(Problem{What: "checkpoint " + m})
		}
		v.problem(Problem{What: fmt.Sprintf("checkpoint witnesses: %d valid cosignature(s) of the %d witness keys given, %d required",
			len(wr.Valid), len(keys), threshold)})
	}
}
