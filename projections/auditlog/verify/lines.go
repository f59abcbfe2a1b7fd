package verify

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"runtime"
	"sync"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// parsedLine is one export line, parsed and hashed.
type parsedLine struct {
	line  int // 1-based
	empty bool
	f     leaf.Line // aliases the batch the line was read into
	leaf  [32]byte
	err   error
}

const verifyBatch = 512

type lineBatch struct {
	first int // line number of the first line
	arena []byte
	ends  []int
	out   []parsedLine
	done  chan struct{}
}

// parseLines reads JSON Lines from r, parses and hashes them in parallel batches, and calls fn with
// each line in order. It returns how many lines fn was called with and, after the last line, the read
// error (bufio.ErrTooLong for a line longer than 4 MiB). A few batches are in flight at a time:
// memory stays flat.
func parseLines(ctx context.Context, r io.Reader, fn func(*parsedLine) error) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	workers := max(1, min(runtime.GOMAXPROCS(0), 4))
	work := make(chan *lineBatch)
	order := make(chan *lineBatch, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lp leaf.LineParser
			for b := range work {
				start := 0
				for k, end := range b.ends {
					raw := b.arena[start:end:end]
					start = end
					pl := parsedLine{line: b.first + k}
					if len(bytes.TrimSpace(raw)) == 0 {
						pl.empty = true
					} else {
						pl.f, pl.leaf, pl.err = lp.Parse(raw)
					}
					b.out = append(b.out, pl)
				}
				close(b.done)
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(work)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		newBatch := func(first int) *lineBatch {
			return &lineBatch{first: first, ends: make([]int, 0, verifyBatch), out: make([]parsedLine, 0, verifyBatch), done: make(chan struct{})}
		}
		send := func(b *lineBatch) bool {
			select {
			case order <- b:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- b:
				return true
			case <-ctx.Done():
				return false
			}
		}
		line := 0
		b := newBatch(1)
		for sc.Scan() {
			line++
			b.arena = append(b.arena, sc.Bytes()...)
			b.ends = append(b.ends, len(b.arena))
			if len(b.ends) == verifyBatch {
				if !send(b) {
					readErr <- ctx.Err()
					return
				}
				b = newBatch(line + 1)
			}
		}
		if len(b.ends) > 0 && !send(b) {
			readErr <- ctx.Err()
			return
		}
		readErr <- sc.Err()
	}()
	defer func() {
		cancel() // stops the reader, which closes work, which stops the workers
		wg.Wait()
	}()
	n := 0
	for b := range order {
		select {
		case <-b.done:
		case <-ctx.Done():
			return n, ctx.Err()
		}
		for i := range b.out {
			n++
			if err := fn(&b.out[i]); err != nil {
				return n, err
			}
		}
	}
	return n, <-readErr
}
