package domain

// Idempotency keys: each channel remembers the keys of its events (recovered from its stream) and
// where the first command's events are, so a retry returns the first result, read back from the log;
// the Service checks platform keys, whose commands span channels. A key is remembered for
// Options.IdempotencyTTL after its first use (the time its events record), then forgotten: memory
// holds the keys of one TTL, and a later command with the key is decided as new.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// DefaultIdempotencyTTL is how long an idempotency key is remembered by default: a day, as payment
// APIs keep theirs.
const DefaultIdempotencyTTL = 24 * time.Hour

// commandHash fingerprints a command without its Meta. It is only needed (and only recorded) when
// the command carries an idempotency key.
func commandHash(m Meta, kind string, cmd any) string {
	if m.IdempotencyKey == "" {
		return ""
	}
	h := sha256.New()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	_ = json.NewEncoder(h).Encode(cmd)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// checkKey refuses a platform idempotency key this process saw with another command within the TTL:
// the platform's commands span channels, while each channel's index (recovered from its stream)
// only knows its own.
func (s *Service) checkKey(m Meta, hash string) error {
	if m.IdempotencyKey == "" {
		return nil
	}
	if n := len(m.IdempotencyKey); n > 128 {
		return Errorf(CodeInvalid, "an idempotency key is 1 to 128 characters")
	}
	if m.Actor.Role != RolePlatform {
		return nil // a partner's commands all go to its own channel, whose index is complete
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.platformKeys.expire(now)
	if k, ok := s.platformKeys.keys[keyID(m.Actor.Name, m.IdempotencyKey)]; ok && k.hash != hashID(hash) && !s.platformKeys.expired(k.seen, now) {
		return Errorf(CodeConflict, "idempotency key %q was already used by %q for a different command", m.IdempotencyKey, m.Actor.Name)
	}
	return nil
}

func (s *Service) rememberKey(m Meta, hash string) {
	if m.IdempotencyKey == "" || m.Actor.Role != RolePlatform {
		return
	}
	now := s.now()
	s.mu.Lock()
	s.platformKeys.remember(keyID(m.Actor.Name, m.IdempotencyKey), hashID(hash), now)
	s.mu.Unlock()
}

// platformKeys is the Service's index of platform keys, each with the time of its first use
// (Unix ms), and the keys in that order for expiry. Guarded by Service.mu.
type platformKeys struct {
	ttl   time.Duration // <= 0: never expire
	keys  map[idemID]platformKey
	order idemQueue
}

type platformKey struct {
	hash [16]byte
	seen int64
}

func (p *platformKeys) expired(seen int64, now time.Time) bool {
	return p.ttl > 0 && now.UnixMilli()-seen >= p.ttl.Milliseconds()
}

func (p *platformKeys) remember(id idemID, hash [16]byte, now time.Time) {
	if k, ok := p.keys[id]; ok && !p.expired(k.seen, now) {
		return // the first use stands
	}
	p.keys[id] = platformKey{hash, now.UnixMilli()}
	if p.ttl > 0 {
		p.order.push(id, now.UnixMilli())
	}
}

// expire forgets the keys first used a TTL or more before now.
func (p *platformKeys) expire(now time.Time) {
	if p.ttl <= 0 {
		return
	}
	p.order.expire(now.UnixMilli()-p.ttl.Milliseconds(), func(id idemID, seen int64) {
		if k, ok := p.keys[id]; ok && k.seen == seen {
			delete(p.keys, id)
		}
	})
}

// idemQueue holds remembered keys in the order of their first use, each with that time (Unix ms),
// so that the keys of a TTL ago are found at its head. A key may be in it more than once (reused
// after it expired, or pushed by a group that was rolled back): an item whose time is not the key's
// current one is stale and only dropped. 24 bytes a key.
type idemQueue struct {
	items []idemAged
	head  int
}

type idemAged struct {
	id   idemID
	seen int64
}

func (q *idemQueue) push(id idemID, seen int64) { q.items = append(q.items, idemAged{id, seen}) }

// expire pops the items first used at or before cutoff (Unix ms), calling drop for each; it stops
// at the first younger item (times out of order, from a clock that went back, only delay expiry).
func (q *idemQueue) expire(cutoff int64, drop func(id idemID, seen int64)) {
	for q.head < len(q.items) && q.items[q.head].seen <= cutoff {
		it := q.items[q.head]
		drop(it.id, it.seen)
		q.items[q.head] = idemAged{}
		q.head++
	}
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head > len(q.items)/2 {
		q.items, q.head = append(q.items[:0], q.items[q.head:]...), 0
	}
}

// len is the number of items in the queue.
func (q *idemQueue) len() int { return len(q.items) - q.head }

// resultOf is request r's Result once it ran in stream's worker: for a replay, the first request's
// events, read back from the log unless the round had them at hand.
func (s *Service) resultOf(ctx context.Context, stream string, r *request) (Result, error) {
	evs := r.events
	if r.replay && r.runs != nil {
		var err error
		if evs, err = s.readRuns(context.WithoutCancel(ctx), stream, r.runs); err != nil {
			return Result{}, err
		}
	}
	pos := r.position
	if len(evs) > 0 {
		pos = evs[len(evs)-1].Position
	}
	return Result{Position: pos, Events: evs, Replayed: r.replay}, nil
}

// readRuns reads the events at the revisions of runs from stream (an idempotent replay).
func (s *Service) readRuns(ctx context.Context, stream string, runs []idemRun) ([]StoredEvent, error) {
	var out []StoredEvent
	for _, run := range runs {
		var evs []StoredEvent
		var err error
		if rr, ok := s.log.(RangeReader); ok {
			evs, err = rr.ReadRange(ctx, stream, run.first, int(run.n))
		} else {
			evs, err = s.log.Read(ctx, stream, run.first)
		}
		if err != nil {
			if errors.Is(err, ErrStoreUnavailable) {
				return nil, &Error{Code: CodeUnavailable, Message: fmt.Sprintf("reading %s from revision %d for an idempotent replay: %v", stream, run.first, err)}
			}
			return nil, fmt.Errorf("reading %s from revision %d for an idempotent replay: %w", stream, run.first, err)
		}
		if len(evs) < int(run.n) {
			return nil, fmt.Errorf("idempotent replay: %s has %d events from revision %d, want %d", stream, len(evs), run.first, run.n)
		}
		for i := range int(run.n) {
			if evs[i].Revision != run.first+uint64(i) {
				return nil, fmt.Errorf("idempotent replay: read revision %d of %s where %d was expected", evs[i].Revision, stream, run.first+uint64(i))
			}
		}
		out = append(out, evs[:run.n]...)
	}
	return out, nil
}

// idemID identifies a remembered idempotency key: a digest of the actor name and the key (see
// digest), so that every remembered key costs the same few bytes whatever the lengths.
type idemID [16]byte

// idemEntry is a remembered idempotency key: the hash of the command it was first used for, and
// where that command's events are in the channel's stream: revisions first to first+n-1, packed in
// at as first<<16 | n. A command's events are contiguous: the service appends each command's events
// together, in one append that is conditional on the stream revision its decision saw. A stream
// written otherwise may hold one key's events in several runs (or at revisions or in numbers that do
// not pack): n is then 0 and Channel.idemRuns keeps them all. The events themselves are read back
// from the log on a replay (rare) instead of being kept here. seen is the time of the first use
// (Unix ms, as its events record it), for expiry. 40 bytes a key, with the map's key, and 24 in the
// channel's expiry queue.
type idemEntry struct {
	hash [16]byte
	at   uint64
	seen int64
}

const (
	idemCountBits = 16
	idemMaxCount  = 1<<idemCountBits - 1
	idemMaxFirst  = 1<<(64-idemCountBits) - 1
)

func (e idemEntry) first() uint64 { return e.at >> idemCountBits }
func (e idemEntry) n() uint32     { return uint32(e.at & idemMaxCount) }

// idemRun is a run of consecutive revisions of one key's events.
type idemRun struct {
	first uint64
	n     uint32
}

// idemExpiry is when a channel forgets its keys: the TTL (<= 0: never, the zero value, as for a
// Channel outside a Service), and the keys in the order of their first use.
type idemExpiry struct {
	ttl   time.Duration
	order idemQueue
}

// keyExpired reports whether a key first used at seen (Unix ms) is forgotten at time at.
func (c *Channel) keyExpired(seen int64, at time.Time) bool {
	return c.keyTTL.ttl > 0 && at.UnixMilli()-seen >= c.keyTTL.ttl.Milliseconds()
}

// expireKeys forgets the keys first used a TTL or more before now. It runs between rounds, never
// inside one (it is not journaled).
func (c *Channel) expireKeys(now time.Time) {
	if c.keyTTL.ttl <= 0 {
		return
	}
	c.keyTTL.order.expire(now.UnixMilli()-c.keyTTL.ttl.Milliseconds(), func(id idemID, seen int64) {
		if e, ok := c.idem[id]; ok && e.seen == seen {
			delete(c.idem, id)
			delete(c.idemRuns, id)
		}
	})
}

// rememberedKeys is how many idempotency keys the channel remembers.
func (c *Channel) rememberedKeys() int { return len(c.idem) }

// noteKey records that the event at revision rev, at time at, carries idempotency key id, first
// used for the command whose hash is hash. A key remembered since a TTL or more before at was
// forgotten when this event's command was decided: this is a new first use.
func (c *Channel) noteKey(id idemID, hash string, rev uint64, at time.Time) {
	e, ok := c.idem[id]
	if ok && c.keyExpired(e.seen, at) {
		c.j.saveIdem(c, id)
		delete(c.idem, id)
		if _, runs := c.idemRuns[id]; runs {
			c.j.saveIdemRuns(c, id)
			delete(c.idemRuns, id)
		}
		e, ok = idemEntry{}, false
	}
	seen := at.UnixMilli()
	if !ok && c.keyTTL.ttl > 0 {
		c.keyTTL.order.push(id, seen)
	}
	if !ok && rev <= idemMaxFirst {
		c.j.saveIdem(c, id)
		c.idem[id] = idemEntry{hash: hashID(hash), at: rev<<idemCountBits | 1, seen: seen}
		return
	}
	if n := e.n(); ok && n != 0 && n < idemMaxCount && e.first()+uint64(n) == rev {
		c.j.saveIdem(c, id)
		e.at++
		c.idem[id] = e
		return
	}
	// Not contiguous with the key's earlier events, or not packable: keep every run in idemRuns
	// (never modifying a slice that a journal may hold).
	c.j.saveIdemRuns(c, id)
	var runs []idemRun
	switch {
	case !ok:
		c.j.saveIdem(c, id)
		c.idem[id] = idemEntry{hash: hashID(hash), seen: seen}
	case e.n() == 0:
		runs = slices.Clone(c.idemRuns[id])
	default:
		runs = []idemRun{{e.first(), e.n()}}
		c.j.saveIdem(c, id)
		c.idem[id] = idemEntry{hash: e.hash, seen: e.seen}
	}
	if k := len(runs) - 1; k >= 0 && runs[k].first+uint64(runs[k].n) == rev && runs[k].n < math.MaxUint32 {
		runs[k].n++
	} else {
		runs = append(runs, idemRun{rev, 1})
	}
	if c.idemRuns == nil {
		c.idemRuns = map[idemID][]idemRun{}
	}
	c.idemRuns[id] = runs
}

// keyRuns returns where the events of remembered key id are, in stream order.
func (c *Channel) keyRuns(id idemID) []idemRun {
	e := c.idem[id]
	if e.n() == 0 {
		return slices.Clone(c.idemRuns[id])
	}
	return []idemRun{{e.first(), e.n()}}
}

// keyID is the idemID of idempotency key key used by the actor named actor.
func keyID(actor, key string) idemID { return digest(actor, key) }

// digest is the first 16 bytes of the SHA-256 of parts, each preceded by its length.
func digest(parts ...string) idemID {
	var buf [256]byte
	b := buf[:0]
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	sum := sha256.Sum256(b)
	return idemID(sum[:16])
}

// hashID is a command hash (32 lower-case hex digits, as commandHash makes them) as 16 bytes. Any
// other string (a stream not written by this service) is digested instead: equal strings still give
// equal values, different ones different values.
func hashID(h string) [16]byte {
	var out [16]byte
	if len(h) != 2*len(out) {
		return digest("command hash", h)
	}
	for i := 0; i < len(h); i++ {
		var v byte
		switch c := h[i]; {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		default:
			return digest("command hash", h)
		}
		out[i/2] = out[i/2]<<4 | v
	}
	return out
}
