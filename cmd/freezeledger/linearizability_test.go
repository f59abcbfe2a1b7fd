package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

var linOps = flag.Int("lin.ops", 70, "TestLinearizable: operations per client (12 clients)")

// linInput is one operation on a customer: a freeze or unfreeze with a type, or a status read.
type linInput struct {
	customer string
	kind     string // freeze, unfreeze, read
	typ      string // ACCOUNT or ACCOUNT_AND_RESOURCE (writes)
}

// linOutput is its answer: ok, conflict, type_mismatch or unknown (the outcome was not learnt) for
// a write; the customer's state (ACTIVE, ACCOUNT or ACCOUNT_AND_RESOURCE) for a read.
type linOutput struct {
	result string
	pos    uint64
}

// customerModel is the sequential specification of a customer's own freeze state (rules 5): the
// state is ACTIVE, ACCOUNT or ACCOUNT_AND_RESOURCE.
//
//	freeze t:   ACTIVE -> t; ACCOUNT with ACCOUNT_AND_RESOURCE -> upgrade; same type or a downgrade: conflict
//	unfreeze t: ACTIVE: conflict; another type: type_mismatch; the same type -> ACTIVE
//	read:       returns the state
//
// A write whose outcome is unknown may have happened or not: its return is at the end of time and
// it applies if it is legal.
var customerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			c := op.Input.(linInput).customer
			if _, ok := by[c]; !ok {
				order = append(order, c)
			}
			by[c] = append(by[c], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, c := range order {
			out = append(out, by[c])
		}
		return out
	},
	Init: func() any { return "ACCOUNT" }, // associated customers start frozen (rule 1)
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(string), input.(linInput), output.(linOutput)
		want, next := decideModel(st, in)
		switch {
		case in.kind == "read":
			return out.result == st, st
		case out.result == "unknown":
			return true, next
		}
		return out.result == want, next
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		return fmt.Sprintf("%s %s %s -> %s %d", in.kind, in.customer, in.typ, out.result, out.pos)
	},
	DescribeState: func(state any) string { return state.(string) },
}

// decideModel is the rules applied to a state: the answer and the next state.
func decideModel(st string, in linInput) (string, string) {
	switch in.kind {
	case "freeze":
		switch {
		case st == "ACTIVE":
			return "ok", in.typ
		case st == "ACCOUNT" && in.typ == "ACCOUNT_AND_RESOURCE":
			return "ok", in.typ
		default:
			return "conflict", st
		}
	case "unfreeze":
		switch {
		case st == "ACTIVE":
			return "conflict", st
		case st != in.typ:
			return "type_mismatch", st
		default:
			return "ok", "ACTIVE"
		}
	}
	return st, st
}

// TestLinearizable: 12 clients freeze, unfreeze and read the status of 4 customers concurrently over
// HTTP; reads pass min_position = the highest position any client has had acknowledged when the read
// starts (what a client that shares its causality token does). The history must be linearizable
// against customerModel: every answer, refusals included, is one the rules give in some order of the
// operations consistent with real time.
func TestLinearizable(t *testing.T) {
	ts := startServer(t)
	ts.setupHierarchy()
	c := newAPIClient(ts.url, ts.tokens)
	defer c.close()
	managers := map[string]string{"c-a": "op-dist-a", "c-b": "op-dist-b", "c-c": "op-sp-c", "c-a1": "op-res-a1"}
	customers := []string{"c-a", "c-b", "c-c", "c-a1"}
	var maxPos maxPosition
	maxPos.observe(ts.head().Commit)

	const clients = 12
	base := time.Now()
	now := func() int64 { return int64(time.Since(base)) }
	var mu sync.Mutex
	var history []porcupine.Operation
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	seed := uint64(time.Now().UnixNano())
	for cl := 0; cl < clients; cl++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(cl)))
			for i := 0; i < *linOps; i++ {
				in := linInput{customer: customers[rng.IntN(len(customers))], typ: []string{"ACCOUNT", "ACCOUNT_AND_RESOURCE"}[rng.IntN(2)]}
				switch r := rng.IntN(10); {
				case r < 4:
					in.kind = "read"
				case r < 7:
					in.kind = "freeze"
				default:
					in.kind = "unfreeze"
				}
				op := porcupine.Operation{ClientId: cl, Input: in}
				out, err := linCall(c, managers[in.customer], in, &maxPos, &op, now)
				if err != nil {
					errc <- err
					return
				}
				op.Output = out
				mu.Lock()
				history = append(history, op)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, op := range history {
		in, out := op.Input.(linInput), op.Output.(linOutput)
		if in.kind == "read" {
			counts["read"]++
		} else {
			counts[in.kind+" "+out.result]++
		}
	}
	res, info := porcupine.CheckOperationsVerbose(customerModel, history, 60*time.Second)
	if res != porcupine.Ok {
		if id := logFirstIllegal(t, history); id != "" {
			t.Logf("the log of %s: %s", id, ts.must(200, "GET", "/v1/customers/"+id+"/history?limit=1000", "aud", nil).body)
		}
		f, err := os.CreateTemp("", "freezeledger-linearizability-*.html")
		if err == nil {
			_ = porcupine.Visualize(customerModel, info, f)
			f.Close()
		}
		t.Fatalf("the history of %d operations is not linearizable (%s); visualization: %s", len(history), res, f.Name())
	}
	t.Logf("linearizable: %d operations by %d clients on %d customers: %v", len(history), clients, len(customers), counts)
	if counts["freeze ok"] == 0 || counts["unfreeze ok"] == 0 || counts["freeze conflict"]+counts["unfreeze conflict"]+counts["unfreeze type_mismatch"] == 0 {
		t.Errorf("the workload did not exercise both successes and refusals: %v", counts)
	}
}

// linCall performs one operation, setting op's call and return times.
func linCall(c *apiClient, who string, in linInput, maxPos *maxPosition, op *porcupine.Operation, now func() int64) (linOutput, error) {
	ctx := context.Background()
	if in.kind == "read" {
		op.Call = now()
		a, err := c.do(ctx, "GET", fmt.Sprintf("/v1/customers/%s/status?min_position=%d", in.customer, maxPos.load()), "rd", nil)
		op.Return = now()
		if err != nil {
			return linOutput{}, err
		}
		if a.status != 200 {
			return linOutput{}, fmt.Errorf("read %s: %d %s", in.customer, a.status, a.body)
		}
		var st struct {
			State          string `json:"state"`
			FreezeType     string `json:"freeze_type"`
			EffectiveState string `json:"effective_state"`
		}
		if err := a.decode(&st); err != nil {
			return linOutput{}, err
		}
		if st.State != st.EffectiveState {
			return linOutput{}, fmt.Errorf("read %s: state %s but effective_state %s with no partner frozen", in.customer, st.State, st.EffectiveState)
		}
		if st.State == "FROZEN" {
			return linOutput{st.FreezeType, 0}, nil
		}
		return linOutput{st.State, 0}, nil
	}
	body := map[string]any{"reason": "linearizability"}
	if in.kind == "freeze" {
		body["freeze_type"] = in.typ
	} else {
		body["unfreeze_type"] = in.typ
	}
	op.Call = now()
	a, err := c.do(ctx, "POST", "/v1/customers/"+in.customer+"/"+in.kind, who, body)
	if err != nil {
		op.Return = math.MaxInt64
		return linOutput{"unknown", 0}, nil
	}
	switch {
	case a.status == 200:
		maxPos.observe(a.position()) // before the return time: a read starting later must see it
		op.Return = now()
		return linOutput{"ok", a.position()}, nil
	case a.status == 409 && (a.code() == "conflict" || a.code() == "type_mismatch"):
		op.Return = now()
		return linOutput{a.code(), 0}, nil
	case a.status == 503:
		if p := a.position(); p > 0 {
			maxPos.observe(p)
			op.Return = now()
			return linOutput{"ok", p}, nil
		}
		op.Return = math.MaxInt64
		return linOutput{"unknown", 0}, nil
	}
	return linOutput{}, fmt.Errorf("%s %s %s as %s: unexpected %d %s", in.kind, in.customer, in.typ, who, a.status, a.body)
}

// logFirstIllegal logs, in call order, the operations on the first customer whose history is not
// linearizable, and returns that customer.
func logFirstIllegal(t *testing.T, history []porcupine.Operation) string {
	t.Helper()
	for _, part := range customerModel.Partition(history) {
		if porcupine.CheckOperations(customerModel, part) {
			continue
		}
		sort.Slice(part, func(i, j int) bool { return part[i].Call < part[j].Call })
		for _, op := range part {
			ret := op.Return
			if ret == math.MaxInt64 {
				ret = -1
			}
			t.Logf("%8d..%8d µs client %-2d %s", op.Call/1000, ret/1000, op.ClientId, customerModel.DescribeOperation(op.Input, op.Output))
		}
		return part[0].Input.(linInput).customer
	}
	return ""
}
