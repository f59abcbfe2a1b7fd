package auditlog

import (
	"context"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections/auditlog/verify"
)

// countEvents is a history validator that permits everything and counts what it saw.
type countEvents struct{ checked int }

func (c *countEvents) Check(domain.StoredEvent) error { c.checked++; return nil }
func (c *countEvents) Finish() error                  { return nil }

// What WriteBundle writes is what the verifier reads: a whole-log bundle verifies, rules replayed.
func TestWriteBundleVerifies(t *testing.T) {
	_, tr := runTreeOver(t, 40)
	dir := t.TempDir()
	res, err := tr.WriteBundle(context.Background(), dir, ExportRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Checkpoint.Size != 40 || res.Events() != 40 {
		t.Fatalf("bundle %+v", res)
	}
	in, closer, err := verify.ReadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	val := &countEvents{}
	in.PublicKey, in.Validator = tr.PublicKey(), val
	rep, err := verify.Verify(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lines != 40 || !rep.RulesChecked || val.checked != 40 {
		t.Fatalf("report %+v, checked %d", rep, val.checked)
	}
}

// A partial bundle (a position range) verifies with its range proof; the rules are not replayed.
func TestWriteBundlePartialVerifies(t *testing.T) {
	_, tr := runTreeOver(t, 50)
	dir := t.TempDir()
	res, err := tr.WriteBundle(context.Background(), dir, ExportRequest{From: mustBound(t, "12"), To: mustBound(t, "31")})
	if err != nil {
		t.Fatal(err)
	}
	if res.First != 11 || res.End != 30 {
		t.Fatalf("bundle %+v", res)
	}
	in, closer, err := verify.ReadBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	in.PublicKey = tr.PublicKey()
	in.Validator = &countEvents{} // skipped: the rules need the history from leaf 0
	rep, err := verify.Verify(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if rep.First != 11 || rep.End != 30 || rep.RulesChecked {
		t.Fatalf("report %+v", rep)
	}
}
