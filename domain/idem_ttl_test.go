package domain_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

func keyedFreezeAcct(k, customer string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.FreezeCustomer(ctx, domain.FreezeCustomer{Meta: key(op("dist-1"), k), CustomerID: customer, Reason: "overdue", FreezeType: acct})
	}
}

func keyedUnfreeze(k, customer string) cmd {
	return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
		return s.UnfreezeCustomer(ctx, domain.UnfreezeCustomer{Meta: key(op("dist-1"), k), CustomerID: customer, Reason: "paid", UnfreezeType: acct})
	}
}

// TestIdempotencyTTL: within the TTL a retry returns the first result, also after a restart, and
// the key with another command is a conflict; a TTL after the first use the key is forgotten: a
// command with it is decided as new, and from then on it is that command's key (also after a
// restart, which rebuilds the index from the log). The same for the platform's cross-channel keys.
func TestIdempotencyTTL(t *testing.T) {
	f := newFixture(t)
	f.opts.IdempotencyTTL = time.Hour
	f.restart()
	f.must(world...)
	first, err := keyedUnfreeze("k-1", "c-d")(f.ctx, f.svc)
	if err != nil || first.Replayed {
		t.Fatalf("first use: %+v %v", first, err)
	}
	f.clock.Advance(time.Hour - time.Millisecond)
	again, err := keyedUnfreeze("k-1", "c-d")(f.ctx, f.svc)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "a retry just within the TTL", again, first)
	if _, err := keyedFreezeAcct("k-1", "c-d")(f.ctx, f.svc); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("another command with the key within the TTL: %v, want a conflict", err)
	}
	f.restart()
	again, err = keyedUnfreeze("k-1", "c-d")(f.ctx, f.svc)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "a retry within the TTL after a restart", again, first)

	f.clock.Advance(time.Millisecond) // a TTL after the first use
	second, err := keyedFreezeAcct("k-1", "c-d")(f.ctx, f.svc)
	if err != nil || second.Replayed || len(second.Events) == 0 {
		t.Fatalf("the key a TTL later, with another command: %+v %v, want it decided", second, err)
	}
	for _, restart := range []bool{false, true} {
		if restart {
			f.restart()
		}
		again, err := keyedFreezeAcct("k-1", "c-d")(f.ctx, f.svc)
		if err != nil {
			t.Fatal(err)
		}
		sameEvents(t, fmt.Sprintf("a retry of the second use (restart %v)", restart), again, second)
		if _, err := keyedUnfreeze("k-1", "c-d")(f.ctx, f.svc); domain.ErrorCode(err) != domain.CodeConflict {
			t.Fatalf("the first command again (restart %v): %v, want a conflict", restart, err)
		}
	}

	// The platform's keys span channels: the Service's own index, with the same TTL.
	pk := func(id string) cmd {
		return func(ctx context.Context, s *domain.Service) (domain.Result, error) {
			return s.RegisterPartner(ctx, domain.RegisterPartner{Meta: key(platform, "pk"), PartnerID: id, Name: id, Type: domain.PartnerDistributor})
		}
	}
	p1, err := pk("dist-8")(f.ctx, f.svc)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour - time.Millisecond)
	if _, err := pk("dist-9")(f.ctx, f.svc); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("a platform key for another channel within the TTL: %v, want a conflict", err)
	}
	again, err = pk("dist-8")(f.ctx, f.svc)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "a platform retry within the TTL", again, p1)
	f.clock.Advance(time.Millisecond)
	if r, err := pk("dist-9")(f.ctx, f.svc); err != nil || r.Replayed {
		t.Fatalf("a platform key a TTL later, for another channel: %+v %v", r, err)
	}
}

// TestIdempotencyKeysBounded: keyed commands over ten TTLs, a new key every minute: the channel
// and the platform index hold the keys of about one TTL at any time, and so does a restarted
// service that loaded the channel from the log.
func TestIdempotencyKeysBounded(t *testing.T) {
	f := newFixture(t)
	f.opts.IdempotencyTTL = time.Hour
	f.restart()
	f.must(world...)
	stream := domain.ChannelStream("dist-1")
	const perTTL = 60 // one key a minute
	most := 0
	for i := 0; i < 10*perTTL; i++ {
		f.clock.Advance(time.Minute)
		k := fmt.Sprintf("k-%d", i)
		var err error
		if i%2 == 0 {
			_, err = keyedUnfreeze(k, "c-d")(f.ctx, f.svc)
		} else {
			_, err = keyedFreezeAcct(k, "c-d")(f.ctx, f.svc)
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			if _, err := f.svc.RegisterPartner(f.ctx, domain.RegisterPartner{Meta: key(platform, k), PartnerID: fmt.Sprintf("dist-p%d", i), Name: "p", Type: domain.PartnerDistributor}); err != nil {
				t.Fatal(err)
			}
		}
		ch, pl := domain.RememberedKeysForTest(f.svc, stream)
		most = max(most, ch)
		if ch > perTTL+1 || pl > perTTL/5+1 {
			t.Fatalf("after %d keys: the channel remembers %d, the platform index %d (one TTL is %d and %d)", i+1, ch, pl, perTTL, perTTL/5)
		}
	}
	if most < perTTL {
		t.Fatalf("the channel never held a TTL of keys (at most %d): is the TTL in force at all?", most)
	}
	f.restart()
	if ch, _ := domain.RememberedKeysForTest(f.svc, stream); ch > perTTL+1 || ch < perTTL-1 {
		t.Fatalf("a restarted service remembers %d keys, want about %d", ch, perTTL)
	}
}
