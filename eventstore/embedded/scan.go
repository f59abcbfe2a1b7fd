package embedded

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/freezeledger/freezeledger/eventstore"
)

// scanOptions choose what scanLog checks beyond the log's structure.
type scanOptions struct {
	// chain checks every record's chain link, on chainWorkers goroutines.
	chain bool
	// names checks each stream's name (once per stream, when the stream is first seen).
	names bool
	// record, if set, is an extra check of each record (Verify: the in-memory index agrees).
	record func(pos uint64, stream []byte, rev uint64) error
}

// chainBatch is the number of records a chain worker checks at a time.
const chainBatch = 1024

// scanLog walks the events bucket of tx in order, adding each record to x, and checks that the
// positions are 1, 2, ... with no gap, that each record parses and states its own position, that
// each stream's revisions are 0, 1, ... and that no event ID repeats in a stream; and, as o asks,
// stream names, every chain link and o.record. It returns the last position and its record's chain
// value, or the first break by position as an error "position N: what" (deterministic: whichever
// worker finds a break, the lowest position is reported; at one position, a chain break before
// the record's other faults, in Verify's historical order).
//
// The chain links are independent once the records are read: link n needs only the chain value
// stored in record n-1 and the canonical bytes of record n. So the scan (parse, index: one core)
// hands batches of chainBatch records, with the stored chain value before them, to GOMAXPROCS
// workers, which hash while the scan goes on. The values point into bbolt's memory map, valid
// until tx ends; scanLog returns only after every worker has finished.
func scanLog(ctx context.Context, tx *bolt.Tx, x *index, o scanOptions) (last uint64, chain [ChainSize]byte, err error) {
	var cc *chainChecker
	if o.chain {
		cc = newChainChecker(runtime.GOMAXPROCS(0))
		defer func() {
			chainErr := cc.wait()
			if chainErr != nil && (err == nil || chainErr.pos <= scanErrPos(err)) {
				last, err = 0, chainErr
			}
		}()
	}
	var want uint64 = 1
	var lastChain, lastStream []byte
	var lastSI *streamIndex
	prev := make([]byte, ChainSize) // chain value stored in the record before the batch
	batch := make([][]byte, 0, chainBatch)
	batchFirst := uint64(1)
	flush := func() {
		if len(batch) > 0 {
			cc.submit(batchFirst, prev, batch)
			v := batch[len(batch)-1]
			prev = v[len(v)-ChainSize:]
			batch = make([][]byte, 0, chainBatch)
		}
		batchFirst = want
	}
	if cc != nil {
		defer flush() // hand over the records scanned before a break, too
	}
	c := tx.Bucket(bucketEvents).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if want%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return 0, chain, err
			}
		}
		if len(k) != 8 {
			return 0, chain, breakAt(want, "events key %x is not 8 bytes", k)
		}
		pos := binary.BigEndian.Uint64(k)
		if pos != want {
			return 0, chain, breakAt(want, "record missing (the next record is at position %d)", pos)
		}
		r, err := parseRecord(v)
		if err != nil {
			return 0, chain, breakAt(pos, "%s", err)
		}
		if r.pos != pos {
			return 0, chain, breakAt(pos, "record says position %d", r.pos)
		}
		if cc != nil {
			batch = append(batch, v)
		}
		si := lastSI // a stream's events are often next to each other: skip the map then
		if !bytes.Equal(r.stream, lastStream) {
			si = x.streams[string(r.stream)]
			if si == nil {
				if o.names {
					if err := eventstore.ValidateStreamName(string(r.stream)); err != nil {
						return 0, chain, breakAt(pos, "%s", err)
					}
				}
				si = newStreamIndex()
				x.streams[string(r.stream)] = si
			}
			lastSI, lastStream = si, r.stream
		}
		if err := si.add(r.stream, r.id, r.rev, pos); err != nil {
			return 0, chain, breakAt(pos, "%s", err)
		}
		if o.record != nil {
			if err := o.record(pos, r.stream, r.rev); err != nil {
				return 0, chain, err
			}
		}
		want++
		lastChain = r.chain
		if cc != nil && len(batch) == chainBatch {
			flush()
			if cc.brokenBefore(want) {
				return 0, chain, nil // a worker found an earlier break: that is the answer
			}
		}
	}
	copy(chain[:], lastChain)
	return want - 1, chain, nil
}

// scanErrPos is the position a scan error names (the highest for errors without one, like ctx's).
func scanErrPos(err error) uint64 {
	if e, ok := err.(*verifyError); ok {
		return e.pos
	}
	return ^uint64(0)
}

// chainChecker checks chain links on worker goroutines and keeps the break at the lowest position.
type chainChecker struct {
	work chan chainWork
	wg   sync.WaitGroup

	mu    sync.Mutex
	first *verifyError // the break at the lowest position found so far
}

type chainWork struct {
	first  uint64   // position of values[0]
	prev   []byte   // the chain value stored before values[0] (zeros before position 1)
	values [][]byte // stored values (canonical bytes || chain value), structure already checked
}

func newChainChecker(workers int) *chainChecker {
	cc := &chainChecker{work: make(chan chainWork, 2*workers)}
	for range workers {
		cc.wg.Add(1)
		go func() {
			defer cc.wg.Done()
			h := sha256.New()
			var sum [ChainSize]byte
			for w := range cc.work {
				if cc.brokenBefore(w.first) {
					continue // a break before this batch is already known
				}
				prev := w.prev
				for i, v := range w.values {
					end := len(v) - ChainSize
					h.Reset()
					h.Write(prev)
					h.Write(v[:end])
					h.Sum(sum[:0])
					if !bytes.Equal(sum[:], v[end:]) {
						cc.broken(breakAt(w.first+uint64(i), "chain breaks: stored chain value %x, computed %x (the record or an earlier one was altered)", v[end:], sum).(*verifyError))
						break
					}
					prev = v[end:]
				}
			}
		}()
	}
	return cc
}

func (cc *chainChecker) submit(first uint64, prev []byte, values [][]byte) {
	cc.work <- chainWork{first: first, prev: prev, values: values}
}

func (cc *chainChecker) broken(e *verifyError) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.first == nil || e.pos < cc.first.pos {
		cc.first = e
	}
}

// brokenBefore reports whether a break at a position before pos is known.
func (cc *chainChecker) brokenBefore(pos uint64) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.first != nil && cc.first.pos < pos
}

// wait ends the work and returns the first break (nil if none).
func (cc *chainChecker) wait() *verifyError {
	close(cc.work)
	cc.wg.Wait()
	return cc.first
}
