package domain

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// applyDecoded applies a stream's events, decoded (decodeAll or the chunked load), in order. Decoding
// runs on all CPUs; applying is sequential.
func (c *Channel) applyDecoded(evs []StoredEvent, dec []decoded) error {
	for i := range evs {
		if int64(evs[i].Revision) != c.revision+1 {
			return fmt.Errorf("stream %s: revision %d follows %d", c.stream, evs[i].Revision, c.revision)
		}
		if dec[i].err != nil {
			return fmt.Errorf("stream %s revision %d (position %s): %w", c.stream, evs[i].Revision, evs[i].Position, dec[i].err)
		}
		c.apply(evs[i].Type, dec[i].data, eventCtx{meta: &dec[i].meta, stored: &evs[i]})
	}
	return nil
}

// loadChunk is how many events one ranged read takes when loading a channel.
const loadChunk = 8192

// load builds the state of a channel stream: from its snapshot when there is one that matches the
// log (snapRev is its revision; -1 without), else empty; with the Service's key TTL; then the
// stream's events after that state applied in order (catchUp).
func (s *Service) load(ctx context.Context, stream string) (c *Channel, snapRev int64, err error) {
	snapRev = -1
	if c = s.loadFromSnapshot(ctx, stream); c != nil {
		snapRev = c.revision
	} else {
		c = NewChannel(stream)
	}
	c.keyTTL.ttl = s.opts.IdempotencyTTL
	c.rebuildKeyQueue()
	if err := s.catchUp(ctx, c); err != nil {
		return nil, -1, err
	}
	c.expireKeys(s.now())
	return c, snapRev, nil
}

// catchUp applies the events of c's stream after c's revision: with a RangeReader, in waves of
// chunks read and decoded in parallel (one per CPU) and applied in order, forgetting the keys that
// expired before each wave's last event (so that memory holds one TTL of keys while a long stream
// loads).
func (s *Service) catchUp(ctx context.Context, c *Channel) error {
	stream := c.stream
	rr, ok := s.log.(RangeReader)
	if !ok {
		evs, err := s.log.Read(ctx, stream, uint64(c.revision+1))
		if err != nil {
			return fmt.Errorf("loading %s: %w", stream, err)
		}
		return c.applyDecoded(evs, decodeAll(evs))
	}
	par := max(runtime.GOMAXPROCS(0), 2)
	type chunk struct {
		evs []StoredEvent
		dec []decoded
		err error
	}
	for from := uint64(c.revision + 1); ; from += uint64(par * loadChunk) {
		chunks := make([]chunk, par)
		var wg sync.WaitGroup
		for k := range chunks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				evs, err := rr.ReadRange(ctx, stream, from+uint64(k*loadChunk), loadChunk)
				if err != nil {
					chunks[k].err = err
					return
				}
				intern := map[string]string{}
				dec := make([]decoded, len(evs))
				for i := range evs {
					dec[i].data, dec[i].meta, dec[i].err = decodeEvent(&evs[i], intern)
				}
				chunks[k] = chunk{evs: evs, dec: dec}
			}()
		}
		wg.Wait()
		for _, ch := range chunks {
			if ch.err != nil {
				return fmt.Errorf("loading %s: %w", stream, ch.err)
			}
			if err := c.applyDecoded(ch.evs, ch.dec); err != nil {
				return err
			}
			if n := len(ch.dec); n > 0 {
				c.expireKeys(ch.dec[n-1].meta.Time)
			}
			if len(ch.evs) < loadChunk {
				return nil
			}
		}
	}
}
