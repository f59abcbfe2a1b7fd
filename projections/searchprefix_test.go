package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

// prefixLog is a log of n customers whose IDs follow association order in runs (the first one
// longer than a block of the prefix index) and are random in between, over two distributors, applied to fresh read
// models; it returns them with the IDs in association order.
func prefixLog(t *testing.T, n int, seed uint64) (*ReadModels, []string) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 9))
	var evs []eventstore.RecordedEvent
	add := func(typ string, actor domain.Actor, data any) {
		d, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		p := uint64(len(evs) + 1)
		md, _ := json.Marshal(domain.Metadata{SchemaVersion: 1, Actor: actor, Time: t0.Add(time.Duration(p) * time.Millisecond)})
		evs = append(evs, eventstore.RecordedEvent{ID: uuid.New(), Type: typ, Stream: "channel-x", Revision: p - 1,
			Position: eventstore.Position{Commit: p, Prepare: p}, Data: d, Metadata: md})
	}
	for _, d := range []string{"dist-a", "dist-b"} {
		add(domain.EventPartnerRegistered, platform, domain.PartnerRegistered{PartnerID: d, Name: d, Type: domain.PartnerDistributor})
	}
	ids := make([]string, 0, n)
	seen := map[string]bool{}
	for len(ids) < n {
		var id string
		switch k := len(ids); {
		case k%12000 < 5000: // a run of consecutive IDs, as sequential numbering gives (block 0 is all of one)
			id = fmt.Sprintf("seq-%06d", k)
		default:
			id = fmt.Sprintf("%c%c-%d", 'a'+r.IntN(6), 'a'+r.IntN(6), r.IntN(1_000_000))
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		p := []string{"dist-a", "dist-b"}[r.IntN(2)]
		add(domain.EventCustomerAssociated, opsOf(p), domain.CustomerAssociated{CustomerID: id, Name: "C " + id, PartnerID: p})
		ids = append(ids, id)
	}
	return modelOf(evs), ids
}

// TestCustomerIDPrefixIndexEqualsScan: the customer_id prefix search through the block index finds
// exactly the customers whose ID has the prefix, in association order, page by page from any cursor,
// alone and with another filter, in complete blocks and in the open one; and the same after a
// checkpoint round trip (the index is derived again).
func TestCustomerIDPrefixIndexEqualsScan(t *testing.T) {
	m, order := prefixLog(t, 3*idBlockSize+1500, 4)
	if got := len(m.st.idBlocks); got != 3 {
		t.Fatalf("%d complete blocks, want 3", got)
	}
	for ci, blk := range m.st.idBlocks {
		if !isSortedByID(m.st, blk) || len(blk) != idBlockSize {
			t.Fatalf("block %d: not %d customers sorted by ID", ci, idBlockSize)
		}
	}
	reloaded := func() *ReadModels {
		st, err := readState(stateBytes(t, m))
		if err != nil {
			t.Fatal(err)
		}
		return &ReadModels{st: st, opts: m.opts, log: m.log, notify: make(chan struct{})}
	}()
	if !reflect.DeepEqual(reloaded.st.idBlocks, m.st.idBlocks) {
		t.Fatal("the index derived after a checkpoint load differs from the one apply kept")
	}
	if !reflect.DeepEqual(reloaded.st.created, m.st.created) || len(m.st.created) != len(order) {
		t.Fatal("the creation leaves derived after a checkpoint load differ from the ones apply kept")
	}
	want := func(prefix, partner string, from int) []string {
		out := []string{}
		for ci := from; ci < len(order); ci++ {
			st, _ := m.Status(order[ci], AsOf{})
			if strings.HasPrefix(order[ci], prefix) && (partner == "" || st.PartnerID == partner) {
				out = append(out, order[ci])
			}
		}
		return out
	}
	at := map[string]int{}
	for i, id := range order {
		at[id] = i
	}
	r := rand.New(rand.NewPCG(4, 4))
	prefixes := []string{"seq-", "seq-0012", "seq-00", "seq-000", "seq-0135", "a", "ab", "ab-1", "f", "fa-9", "zz", "s", "seq-013"}
	for _, models := range []*ReadModels{m, reloaded} {
		for _, prefix := range prefixes {
			for _, partner := range []string{"", "dist-b"} {
				for _, from := range []int{0, 1000, r.IntN(len(order))} {
					f := SearchFilter{CustomerIDPrefix: prefix, PartnerID: partner, Limit: 1 + r.IntN(300)}
					if from > 0 {
						f.Cursor = encodeCursor('c', uint64(from))
					}
					got, last := []string{}, -1
					for next := "x"; next != ""; f.Cursor = next {
						var cs []CustomerStatus
						var err error
						if cs, next, err = models.SearchCustomers(f); err != nil {
							t.Fatal(err)
						}
						for _, id := range ids(cs) {
							if at[id] <= last {
								t.Fatalf("prefix %q partner %q from %d limit %d: %s after %s, out of association order", prefix, partner, from, f.Limit, id, order[last])
							}
							got, last = append(got, id), at[id]
						}
					}
					if w := want(prefix, partner, from); fmt.Sprint(got) != fmt.Sprint(w) {
						t.Fatalf("prefix %q partner %q from %d limit %d: %d customers, want %d", prefix, partner, from, f.Limit, len(got), len(w))
					}
				}
			}
		}
	}
}

func isSortedByID(s *state, blk []uint32) bool {
	for i := 1; i < len(blk); i++ {
		if bytes.Compare(s.cidBytes(&s.customers[blk[i-1]]), s.cidBytes(&s.customers[blk[i]])) >= 0 {
			return false
		}
	}
	return true
}
