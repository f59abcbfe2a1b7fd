package domain

// Idempotency keys: each channel remembers the keys of its events (recovered from its stream) and
// where the first command's events are, so a retry returns the first result, read back from the log;
// the Service checks platform keys, whose commands span channels.

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
)

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

// checkKey refuses a platform idempotency key this process saw with another command: the platform's
// commands span channels, while each channel's index (recovered from its stream) only knows its own.
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.keys[keyID(m.Actor.Name, m.IdempotencyKey)]; ok && h != hashID(hash) {
		return Errorf(CodeConflict, "idempotency key %q was already used by %q for a different command", m.IdempotencyKey, m.Actor.Name)
	}
	return nil
}

func (s *Service) rememberKey(m Meta, hash string) {
	if m.IdempotencyKey == "" || m.Actor.Role != RolePlatform {
		return
	}
	s.mu.Lock()
	s.keys[keyID(m.Actor.Name, m.IdempotencyKey)] = hashID(hash)
	s.mu.Unlock()
}

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
// from the log on a replay (rare) instead of being kept here. 32 bytes a key, with the map's key.
type idemEntry struct {
	hash [16]byte
	at   uint64
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

// noteKey records that the event at revision rev carries idempotency key id, first used for the
// command whose hash is hash.
func (c *Channel) noteKey(id idemID, hash string, rev uint64) {
	e, ok := c.idem[id]
	if !ok && rev <= idemMaxFirst {
		c.j.saveIdem(c, id)
		c.idem[id] = idemEntry{hash: hashID(hash), at: rev<<idemCountBits | 1}
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
		c.idem[id] = idemEntry{hash: hashID(hash)}
	case e.n() == 0:
		runs = slices.Clone(c.idemRuns[id])
	default:
		runs = []idemRun{{e.first(), e.n()}}
		c.j.saveIdem(c, id)
		c.idem[id] = idemEntry{hash: e.hash}
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
