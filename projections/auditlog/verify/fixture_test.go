package verify

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"go.uber.org/goleak"
	"golang.org/x/mod/sumdb/note"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// The verifier's tests build their logs from the leaf format alone, as an outside party could: no
// store and no writer. The writer's own tests (package auditlog) check that what it writes verifies.

var baseTime = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

const testOrigin = "freezeledger/default"

// testLog is a log of customer freezes on a few channels, one second apart from baseTime: its export
// lines (as the service writes them), leaf hashes and signing key.
type testLog struct {
	lines  [][]byte // each ends in a newline
	leaves [][]byte
	signer note.Signer
	key    string
}

func newTestLog(t testing.TB, n int) *testLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{key: vkey}
	if l.signer, err = note.NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	revs := map[string]uint64{}
	for k := 0; k < n; k++ {
		meta, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: domain.Actor{Name: "ops-1", Role: domain.RolePartner, PartnerID: "dist-1"},
			Time: baseTime.Add(time.Duration(k) * time.Second), RequestID: fmt.Sprintf("req-%d", k)})
		data, _ := json.Marshal(domain.CustomerFrozen{CustomerID: fmt.Sprintf("c-%d", k), FreezeType: domain.FreezeAccount,
			Origin: domain.OriginManual, Reason: "=cmd|' /C calc'!A0 overdue"})
		stream := fmt.Sprintf("channel-d%d", k%3)
		rev, seen := revs[stream]
		if seen {
			rev++
		}
		revs[stream] = rev
		ev, err := leaf.FromRecord(leaf.Record{Position: strconv.Itoa(k + 1), EventID: uuid.NewString(), Type: domain.EventCustomerFrozen,
			Stream: stream, Revision: rev, Data: data, Metadata: meta}, uint64(k))
		if err != nil {
			t.Fatal(err)
		}
		canon, err := ev.CanonicalBytes()
		if err != nil {
			t.Fatal(err)
		}
		h := leaf.HashLeaf(canon)
		l.lines = append(l.lines, leaf.AppendLine(nil, &ev, canon))
		l.leaves = append(l.leaves, h[:])
	}
	return l
}

func (l *testLog) export() []byte { return bytes.Join(l.lines, nil) }

// rangeOf is the compact range of leaves [begin, end).
func (l *testLog) rangeOf(t testing.TB, begin, end uint64) *compact.Range {
	t.Helper()
	r := rangeFactory.NewEmptyRange(begin)
	for _, h := range l.leaves[begin:end] {
		if err := r.Append(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// root is the RFC 6962 root of the first size leaves.
func (l *testLog) root(t testing.TB, size uint64) []byte {
	t.Helper()
	if size == 0 {
		return hasher.EmptyRoot()
	}
	root, err := l.rangeOf(t, 0, size).GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func (l *testLog) sign(t testing.TB, c leaf.Checkpoint) []byte {
	t.Helper()
	signed, err := note.Sign(&note.Note{Text: string(c.Marshal())}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// signedAt signs a checkpoint of the log at size.
func (l *testLog) signedAt(t testing.TB, size uint64) []byte {
	t.Helper()
	return l.sign(t, leaf.Checkpoint{Origin: testOrigin, Size: size, Hash: l.root(t, size)})
}

// rangeProof is the bundle proof of leaves [first, end) in the tree of size treeSize.
func (l *testLog) rangeProof(t testing.TB, first, end, treeSize uint64) leaf.RangeProof {
	t.Helper()
	return leaf.RangeProof{TreeSize: treeSize, First: first, End: end,
		Left: l.rangeOf(t, 0, first).Hashes(), Right: l.rangeOf(t, end, treeSize).Hashes()}
}

// consistencyProof is the RFC 6962 consistency proof from size first to size second.
func (l *testLog) consistencyProof(t testing.TB, first, second uint64) [][]byte {
	t.Helper()
	nodes, err := proof.Consistency(first, second)
	if err != nil {
		t.Fatal(err)
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		begin, end := id.Coverage()
		hashes[i] = l.rangeOf(t, begin, end).Hashes()[0] // a perfect subtree: one hash
	}
	out, err := nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lineCanonical is the leaf bytes an export line carries.
func lineCanonical(line []byte) ([]byte, error) {
	var p leaf.LineParser
	if _, _, err := p.Parse(line); err != nil {
		return nil, err
	}
	return p.Canonical(), nil
}

// rejectCustomer is a stand-in history validator that refuses one customer's freeze.
type rejectCustomer struct {
	id      string
	checked int
}

func (r *rejectCustomer) Check(ev domain.StoredEvent) error {
	r.checked++
	var meta domain.Metadata
	if err := json.Unmarshal(ev.Metadata, &meta); err != nil || meta.Actor.Name == "" || meta.Time.IsZero() {
		return errors.New("metadata not rebuilt")
	}
	if strings.Contains(string(ev.Data), `"`+r.id+`"`) {
		return errors.New("rule 4: the actor does not manage the customer")
	}
	return nil
}

func (r *rejectCustomer) Finish() error { return nil }

func TestMain(m *testing.M) {
	code := m.Run()
	// Every rule replayer and line parser a verification started must have stopped.
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
		code = 1
	}
	os.Exit(code)
}
