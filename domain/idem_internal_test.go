package domain

import (
	"maps"
	"slices"
	"testing"
	"time"
)

// t0 is the time of the keyed events of the internal tests.
var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// TestNoteKeyRuns: a key's events are one run while contiguous, several runs otherwise; a journal
// rollback restores both the entry and the runs.
func TestNoteKeyRuns(t *testing.T) {
	const h = "0123456789abcdef0123456789abcdef"
	a, b := keyID("ops", "k-a"), keyID("ops", "k-b")
	c := NewChannel("channel-x")
	c.noteKey(a, h, 3, t0)
	c.noteKey(a, h, 4, t0)
	if got := c.keyRuns(a); !slices.Equal(got, []idemRun{{3, 2}}) || len(c.idemRuns) != 0 {
		t.Fatalf("contiguous: %v (%d split)", got, len(c.idemRuns))
	}
	c.noteKey(a, h, 9, t0)
	if got := c.keyRuns(a); !slices.Equal(got, []idemRun{{3, 2}, {9, 1}}) {
		t.Fatalf("split: %v", got)
	}
	idem, runs := maps.Clone(c.idem), maps.Clone(c.idemRuns)
	saved := slices.Clone(c.idemRuns[a])

	c.begin()
	c.noteKey(a, h, 10, t0)
	c.noteKey(a, h, 12, t0)
	c.noteKey(b, h, 13, t0)
	c.noteKey(b, h, 14, t0)
	if got := c.keyRuns(a); !slices.Equal(got, []idemRun{{3, 2}, {9, 2}, {12, 1}}) {
		t.Fatalf("split, in a group: %v", got)
	}
	if got := c.keyRuns(b); !slices.Equal(got, []idemRun{{13, 2}}) {
		t.Fatalf("new key in a group: %v", got)
	}
	c.rollback()
	if !maps.Equal(c.idem, idem) || !slices.Equal(c.idemRuns[a], saved) || len(c.idemRuns) != len(runs) {
		t.Fatalf("after rollback: %v %v, want %v %v", c.idem, c.idemRuns, idem, runs)
	}

	c.begin()
	c.noteKey(b, h, 10, t0)
	c.commit()
	if e, ok := c.idem[b]; !ok || e.hash != hashID(h) || e.first() != 10 || e.n() != 1 {
		t.Fatalf("committed entry %+v %v", e, ok)
	}

	// Revisions and counts that do not pack into an entry go to the runs too.
	far, long := keyID("ops", "k-far"), keyID("ops", "k-long")
	c.noteKey(far, h, 1<<50, t0)
	c.noteKey(far, h, 1<<50+1, t0)
	if got := c.keyRuns(far); !slices.Equal(got, []idemRun{{1 << 50, 2}}) || c.idem[far].hash != hashID(h) {
		t.Fatalf("far revision: %v %+v", got, c.idem[far])
	}
	for i := range idemMaxCount + 2 {
		c.noteKey(long, h, 100+uint64(i), t0)
	}
	if got := c.keyRuns(long); !slices.Equal(got, []idemRun{{100, idemMaxCount + 2}}) {
		t.Fatalf("long run: %v", got)
	}
}

func TestHashAndKeyIDs(t *testing.T) {
	h := "00ff0123456789abcdef0123456789ab"
	if got := hashID(h); got != [16]byte{0x00, 0xff, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab} {
		t.Fatalf("hashID(%q) = %x", h, got)
	}
	seen := map[[16]byte]string{}
	for _, s := range []string{h, "", "x", "00FF0123456789ABCDEF0123456789AB", "zz0123456789abcdef0123456789abcd", h + "0"} {
		got := hashID(s)
		if got != hashID(s) {
			t.Fatalf("hashID(%q) is not deterministic", s)
		}
		if o, dup := seen[got]; dup && o != s {
			t.Fatalf("hashID(%q) == hashID(%q)", s, o)
		}
		seen[got] = s
	}
	// The actor and the key are delimited by their lengths, not by a separator they might contain.
	if keyID("a\x00b", "c") == keyID("a", "b\x00c") || keyID("ab", "c") == keyID("a", "bc") {
		t.Fatal("keyID is ambiguous")
	}
	if k := "k"; keyID("ops", k) != keyID("ops", "k") || keyID("ops", "k") == keyID("ops2", "k") {
		t.Fatal("keyID is not a function of actor and key")
	}
}

// TestNoteKeyExpiry: with a TTL, a key's event a TTL or more after its first use is a new first use
// (the old runs are dropped, a rollback brings them back); expireKeys forgets exactly the keys first
// used a TTL or more ago, and skips queue items of keys that were used again since.
func TestNoteKeyExpiry(t *testing.T) {
	const h1, h2 = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	a, b, k := keyID("ops", "k-a"), keyID("ops", "k-b"), keyID("ops", "k-c")
	c := NewChannel("channel-x")
	c.keyTTL.ttl = time.Hour
	c.noteKey(a, h1, 1, t0)
	c.noteKey(a, h1, 5, t0.Add(time.Minute)) // a split key, within the TTL: a second run
	c.noteKey(b, h1, 2, t0.Add(30*time.Minute))
	if got := c.keyRuns(a); !slices.Equal(got, []idemRun{{1, 1}, {5, 1}}) {
		t.Fatalf("split within the TTL: %v", got)
	}
	c.begin()
	c.noteKey(a, h2, 9, t0.Add(time.Hour)) // a TTL after: a new first use
	if e := c.idem[a]; e.hash != hashID(h2) || e.seen != t0.Add(time.Hour).UnixMilli() || !slices.Equal(c.keyRuns(a), []idemRun{{9, 1}}) || len(c.idemRuns) != 0 {
		t.Fatalf("reused after the TTL: %+v %v %v", e, c.keyRuns(a), c.idemRuns)
	}
	c.rollback()
	if e := c.idem[a]; e.hash != hashID(h1) || !slices.Equal(c.keyRuns(a), []idemRun{{1, 1}, {5, 1}}) {
		t.Fatalf("after rollback: %+v %v", e, c.keyRuns(a))
	}
	c.noteKey(a, h2, 9, t0.Add(time.Hour))
	c.noteKey(k, h1, 10, t0.Add(70*time.Minute))

	c.expireKeys(t0.Add(time.Hour - time.Millisecond))
	if c.rememberedKeys() != 3 {
		t.Fatalf("%d keys before any TTL ran out, want 3", c.rememberedKeys())
	}
	c.expireKeys(t0.Add(90 * time.Minute)) // b's TTL ran out; a's first use did, but a was used again
	if _, ok := c.idem[b]; ok || c.rememberedKeys() != 2 {
		t.Fatalf("b kept, or %d keys (want 2)", c.rememberedKeys())
	}
	if e, ok := c.idem[a]; !ok || e.hash != hashID(h2) {
		t.Fatalf("the reused key a: %+v %v", e, ok)
	}
	c.expireKeys(t0.Add(2*time.Hour + 10*time.Minute))
	if c.rememberedKeys() != 0 || c.keyTTL.order.len() != 0 {
		t.Fatalf("%d keys, %d queued, want none", c.rememberedKeys(), c.keyTTL.order.len())
	}
}
