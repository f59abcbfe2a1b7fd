package embedded

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	bolt "go.etcd.io/bbolt"

	"github.com/freezeledger/freezeledger/eventstore"
)

// scanOptions choose what scanLog checks beyond the log's structure.
type scanOptions struct {
	// chain checks every record's chain link, on chainWorkers goroutines.
	chain bool
	// names checks each stream's name (once per stream, when the stream is first seen).
	names bool
	// allIDs checks every event ID against all earlier ones of its stream (Verify); without it
	// only a stream's first smallStream IDs are, the rest when its ID map is first built (see
	// streamIndex.add).
	allIDs bool
	// record, if set, is an extra check of each record (Verify: the in-memory index agrees).
	record func(pos uint64, stream []byte, rev uint64) error
}

// chainBatch is the number of records a chain worker checks at a time.
const chainBatch = 1024

// scanLog walks the events bucket of tx in order, adding each record to x, and checks that the
// positions are 1, 2, ... with no gap, that each record parses and states its own position, that
// each stream's revisions are 0, 1, ... and that no event ID repeats in a stream (in a stream past
// smallStream events, unless o.allIDs, only once its ID map is built); and, as o asks,
// stream names, every chain link and o.record. It returns the last position and its record's chain
// value, or the first break by position as an error "position N: what" (deterministic: whichever
// worker finds a break, the lowest position is reported; at one position, a chain break before
// the record's other faults, in Verify's historical order).
//
// The work is split three ways so that it spreads over the cores: the cursor walk checks positions
// and parses (scanRecords); an indexer goroutine adds the records to x in order (one map lookup per
// record, the costliest part with a million streams); and the chain links, independent once the
// records are read (link n needs only the chain value stored in record n-1 and the canonical bytes
// of record n), are hashed in batches of chainBatch records by GOMAXPROCS workers. Each reports the
// first break it finds with its position, and the lowest wins. The values point into bbolt's
// memory map, valid until tx ends; scanLog returns only after the indexer and every worker finished.
func scanLog(ctx context.Context, tx *bolt.Tx, x *index, o scanOptions) (uint64, [ChainSize]byte, error) {
	var cc *chainChecker
	if o.chain {
		cc = newChainChecker(runtime.GOMAXPROCS(0))
	}
	ix := newIndexer(x, o)
	last, chain, err := scanRecords(ctx, tx, cc, ix)
	// The first break by position; at one position, a chain break first. (A record that fails
	// to parse or is misplaced is handed to neither the indexer nor the chain workers.)
	if e := ix.wait(); e != nil && (err == nil || e.pos < scanErrPos(err)) {
		err = e
	}
	if cc != nil {
		if e := cc.wait(); e != nil && (err == nil || e.pos <= scanErrPos(err)) {
			err = e
		}
	}
	if err != nil {
		return 0, chain, err
	}
	return last, chain, nil
}

// scanRecords is scanLog's cursor walk: it checks the positions and the records' structure and
// hands each record to the indexer and the chain workers, in batches. It stops early, with no error
// of its own, once the indexer or a chain worker has found a break before where it is.
func scanRecords(ctx context.Context, tx *bolt.Tx, cc *chainChecker, ix *indexer) (last uint64, chain [ChainSize]byte, err error) {
	var want uint64 = 1
	var lastChain []byte
	prev := make([]byte, ChainSize) // chain value stored in the record before the chain batch
	batch := make([][]byte, 0, chainBatch)
	items := ix.batch()
	batchFirst := uint64(1)
	flush := func() {
		if len(items) > 0 {
			ix.work <- items
			items = ix.batch()
		}
		if cc != nil && len(batch) > 0 {
			cc.submit(batchFirst, prev, batch)
			v := batch[len(batch)-1]
			prev = v[len(v)-ChainSize:]
			batch = make([][]byte, 0, chainBatch)
		}
		batchFirst = want
	}
	defer flush() // hand over the records scanned before a break, too
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
		items = append(items, indexItem{stream: r.stream, id: r.id, rev: r.rev, pos: pos})
		want++
		lastChain = r.chain
		if len(items) == chainBatch {
			flush()
			if ix.brokenBefore(want) || (cc != nil && cc.brokenBefore(want)) {
				return 0, chain, nil // an earlier break is known: that is the answer
			}
		}
	}
	copy(chain[:], lastChain)
	return want - 1, chain, nil
}

// indexer adds the scanned records to the index on a goroutine of its own, in order, so that the
// map work (one lookup per record in a map of up to millions of streams) runs alongside the
// cursor walk and the parsing.
type indexer struct {
	x    *index
	o    scanOptions
	work chan []indexItem
	free chan []indexItem // batches handed back for reuse
	done chan struct{}

	err      *verifyError  // the break found (read after done)
	failedAt atomic.Uint64 // its position, 0 if none
}

type indexItem struct {
	stream []byte // points into the record (bbolt's memory map)
	id     uuid.UUID
	rev    uint64
	pos    uint64
}

func newIndexer(x *index, o scanOptions) *indexer {
	ix := &indexer{x: x, o: o, work: make(chan []indexItem, 4), free: make(chan []indexItem, 8), done: make(chan struct{})}
	go ix.run()
	return ix
}

func (ix *indexer) batch() []indexItem {
	select {
	case b := <-ix.free:
		return b[:0]
	default:
		return make([]indexItem, 0, chainBatch)
	}
}

func (ix *indexer) run() {
	defer close(ix.done)
	var lastStream []byte
	var lastSI *streamIndex
	for items := range ix.work {
		for i := 0; i < len(items) && ix.err == nil; i++ {
			it := &items[i]
			si := lastSI // a stream's events are often next to each other: skip the map then
			if !bytes.Equal(it.stream, lastStream) {
				si = ix.x.streams[string(it.stream)]
				if si == nil {
					if ix.o.names {
						if err := eventstore.ValidateStreamName(string(it.stream)); err != nil {
							ix.fail(breakAt(it.pos, "%s", err))
							break
						}
					}
					si = newStreamIndex()
					ix.x.streams[string(it.stream)] = si
				}
				lastSI, lastStream = si, it.stream
			}
			if err := si.add(it.stream, it.id, it.rev, it.pos, ix.o.allIDs); err != nil {
				ix.fail(breakAt(it.pos, "%s", err))
				break
			}
			if ix.o.record != nil {
				if err := ix.o.record(it.pos, it.stream, it.rev); err != nil {
					if e, ok := err.(*verifyError); ok {
						ix.fail(e)
					} else {
						ix.fail(breakAt(it.pos, "%s", err))
					}
					break
				}
			}
		}
		select {
		case ix.free <- items:
		default:
		}
	}
}

func (ix *indexer) fail(e error) {
	ix.err = e.(*verifyError)
	ix.failedAt.Store(ix.err.pos)
}

// brokenBefore reports whether the indexer found a break at a position before pos.
func (ix *indexer) brokenBefore(pos uint64) bool {
	f := ix.failedAt.Load()
	return f != 0 && f < pos
}

// wait ends the work and returns the break found (nil if none).
func (ix *indexer) wait() *verifyError {
	close(ix.work)
	<-ix.done
	return ix.err
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
