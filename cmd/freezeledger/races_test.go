package main

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"testing"
)

var raceRounds = flag.Int("races.rounds", 60, "TestCrossEntityRaces: rounds of each race")

// race2 sends two requests at the same moment and returns both answers.
func race2(t *testing.T, c *apiClient, a, b func(ctx context.Context) (answer, error)) (answer, answer) {
	t.Helper()
	var ra, rb answer
	var ea, eb error
	start := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); <-start; ra, ea = a(context.Background()) }()
	go func() { defer wg.Done(); <-start; rb, eb = b(context.Background()) }()
	close(start)
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatalf("race requests failed: %v, %v", ea, eb)
	}
	return ra, rb
}

func req(c *apiClient, method, path, who string, body any) func(ctx context.Context) (answer, error) {
	return func(ctx context.Context) (answer, error) { return c.do(ctx, method, path, who, body) }
}

// TestCrossEntityRaces races, over HTTP and many times, the requests whose rules span entities of one
// channel or IDs across channels; each round must end in one of the outcomes the rules allow, in the
// order the log shows, and afterwards the domain's history validator accepts the whole log
// (freezeledger verify --data-dir).
//
//   - a distributor freezes its reseller while the reseller freezes or unfreezes a customer (rule 3):
//     either the reseller's write comes first in the log, or it is refused actor_frozen;
//   - the platform freezes a distributor while the distributor freezes or unfreezes a customer (rule 3);
//   - the distributor revokes the reseller's freeze permission while the reseller freezes a customer
//     (rules 2 and 6): either the freeze comes first, or it is refused forbidden;
//   - two distributors associate the same customer ID (rule 10): exactly one wins, the other gets
//     conflict, and the customer is the winner's.
func TestCrossEntityRaces(t *testing.T) {
	ts := startServer(t)
	ts.setupHierarchy()
	c := newAPIClient(ts.url, ts.tokens)
	defer c.close()
	outcomes := map[string]int{}

	// toggle returns a freeze or an unfreeze of a customer, whichever its state allows, and the
	// state the customer is in if it succeeds.
	frozen := map[string]bool{"c-a1": true, "c-a": true}
	toggle := func(id string) (string, map[string]any) {
		if frozen[id] {
			return "/v1/customers/" + id + "/unfreeze", map[string]any{"reason": "race", "unfreeze_type": "ACCOUNT"}
		}
		return "/v1/customers/" + id + "/freeze", map[string]any{"reason": "race", "freeze_type": "ACCOUNT"}
	}

	type partnerRace struct {
		name, partner, freezer, actor, customer string
	}
	for _, pr := range []partnerRace{
		{"reseller frozen by its distributor vs its customer write", "res-a1", "op-dist-a", "op-res-a1", "c-a1"},
		{"distributor frozen by the platform vs its customer write", "dist-a", "plat", "op-dist-a", "c-a"},
	} {
		for i := 0; i < *raceRounds; i++ {
			path, body := toggle(pr.customer)
			pf, cw := race2(t, c,
				req(c, "POST", "/v1/partners/"+pr.partner+"/freeze", pr.freezer, map[string]any{"reason": fmt.Sprintf("race %d", i)}),
				req(c, "POST", path, pr.actor, body))
			if pf.status != 200 {
				t.Fatalf("%s: partner freeze: %d %s", pr.name, pf.status, pf.body)
			}
			switch {
			case cw.status == 200:
				if cw.position() >= pf.position() {
					t.Fatalf("%s: the customer write (position %d) succeeded after its partner's freeze (position %d)", pr.name, cw.position(), pf.position())
				}
				frozen[pr.customer] = !frozen[pr.customer]
				outcomes[pr.name+": write first"]++
			case cw.status == 403 && cw.code() == "actor_frozen":
				outcomes[pr.name+": refused actor_frozen"]++
			default:
				t.Fatalf("%s: customer write: %d %s (allowed: 200 before the freeze, or 403 actor_frozen)", pr.name, cw.status, cw.body)
			}
			c.must(t, 200, "POST", "/v1/partners/"+pr.partner+"/unfreeze", pr.freezer, map[string]any{"reason": "reset"})
		}
	}

	// Delegation revoke vs the reseller's freeze.
	for i := 0; i < *raceRounds; i++ {
		path, body := toggle("c-a1")
		rv, cw := race2(t, c,
			req(c, "DELETE", "/v1/partners/res-a1/delegation", "op-dist-a", nil),
			req(c, "POST", path, "op-res-a1", body))
		if rv.status != 200 || rv.position() == 0 {
			t.Fatalf("revoke: %d %s", rv.status, rv.body)
		}
		const name = "delegation revoke vs the reseller's customer write"
		switch {
		case cw.status == 200:
			if cw.position() >= rv.position() {
				t.Fatalf("%s: the reseller's write (position %d) succeeded after the revoke (position %d)", name, cw.position(), rv.position())
			}
			frozen["c-a1"] = !frozen["c-a1"]
			outcomes[name+": write first"]++
		case cw.status == 403 && cw.code() == "forbidden":
			outcomes[name+": refused forbidden"]++
		default:
			t.Fatalf("%s: %d %s (allowed: 200 before the revoke, or 403 forbidden)", name, cw.status, cw.body)
		}
		c.must(t, 200, "PUT", "/v1/partners/res-a1/delegation", "op-dist-a", map[string]any{"freeze": true, "budget": false})
	}

	// Two distributors associate the same customer ID.
	for i := 0; i < *raceRounds; i++ {
		id := fmt.Sprintf("dup-%d", i)
		a, b := race2(t, c,
			req(c, "POST", "/v1/customers", "op-dist-a", map[string]any{"customer_id": id, "name": "A", "partner_id": "dist-a"}),
			req(c, "POST", "/v1/customers", "op-dist-b", map[string]any{"customer_id": id, "name": "B", "partner_id": "dist-b"}))
		winner := "dist-a"
		switch {
		case a.status == 201 && b.status == 409 && b.code() == "conflict":
		case b.status == 201 && a.status == 409 && a.code() == "conflict":
			winner = "dist-b"
		default:
			t.Fatalf("double association of %s: %d %s / %d %s (allowed: one 201, one 409 conflict)", id, a.status, a.body, b.status, b.body)
		}
		outcomes["double association: "+winner+" wins"]++
		st := c.must(t, 200, "GET", "/v1/customers/"+id+"/status", "aud", nil)
		var s struct {
			PartnerID string `json:"partner_id"`
		}
		if err := st.decode(&s); err != nil || s.PartnerID != winner {
			t.Fatalf("double association of %s: the customer is %q's, the winner was %s (%v)", id, s.PartnerID, winner, err)
		}
		// The loser does not see it at all.
		other := map[string]string{"dist-a": "op-dist-b", "dist-b": "op-dist-a"}[winner]
		if r, _ := c.do(context.Background(), "GET", "/v1/customers/"+id+"/status", other, nil); r.status != 404 {
			t.Fatalf("double association of %s: the losing partner reads it: %d", id, r.status)
		}
	}
	t.Logf("race outcomes over %d rounds each: %v", *raceRounds, outcomes)
	ts.shutdown()
	verifyDataDirOK(t, ts.dir)
}
