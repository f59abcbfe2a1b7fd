package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// Format is an export's file format.
type Format string

const (
	FormatJSONL Format = "jsonl" // JSON Lines: one Event per line (application/x-ndjson)
	FormatCSV   Format = "csv"   // CSV with the columns CSVHeader (text/csv)
)

// CSVHeader are the CSV export's columns, in order. data and metadata are JSON; a cell starting
// with '=', '+', '-', '@', tab or carriage return is prefixed with a single quote (') so that a
// spreadsheet shows it as text instead of running it as a formula.
var CSVHeader = []string{"index", "position", "event_id", "time", "type", "stream", "revision",
	"actor_name", "actor_role", "actor_partner_id", "data", "metadata", "leaf_hash"}

// ErrInvalid: an export request that cannot be served (unknown format, malformed bound).
var ErrInvalid = errors.New("invalid export request")

// Bound is one end of an export range: a store position, a time, or nothing (open).
// Ranges are half-open: From is inclusive, To exclusive.
type Bound struct {
	Position *eventstore.Position
	Time     *time.Time
}

// ParseBound parses the from/to query value: "" is open, an RFC 3339 time is a time, anything else
// must be a position (eventstore.ParsePosition).
func ParseBound(s string) (Bound, error) {
	if s == "" {
		return Bound{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		t = t.UTC()
		return Bound{Time: &t}, nil
	}
	p, err := eventstore.ParsePosition(s)
	if err != nil {
		return Bound{}, fmt.Errorf("%w: range bound %q is neither an RFC 3339 time nor a position", ErrInvalid, s)
	}
	return Bound{Position: &p}, nil
}

// ExportRequest says what to export.
//
// The range selects a contiguous run of leaves: from the first event at or after From (its position,
// or its time field) to the last event before To. Times are compared at the millisecond resolution
// of the time field; since a server's clock moves forward, the events of a time range are exactly
// those whose time is in it. Only indexed events (those below the tree's size when the export
// starts) are exported.
type ExportRequest struct {
	Format   Format
	From, To Bound
	// Limit, if non-zero, caps the export at leaves below it (a bundle uses its checkpoint's size).
	Limit uint64
}

// ExportResult describes what was exported: leaves [First, End).
type ExportResult struct {
	First, End uint64
	TreeSize   uint64 // the tree's size when the export started
}

// Events is the number of events exported.
func (r ExportResult) Events() uint64 { return r.End - r.First }

// exportPage is how many events an export reads from the store at a time: memory stays flat. A
// variable for the tests. With the pages in flight of exportParallel (one being written, one per
// worker) an export holds about 3 to 5 pages: 256 events keep that under a megabyte, which counts
// when a client that stops reading holds an export open (1024 held about 4.9 MiB).
var exportPage uint64 = 256

// Export streams the events of req's range to w in req's format, each with its leaf index and leaf
// hash. Each event's leaf hash is recomputed and compared with the tree's: a difference (the store
// changed under the tree) stops the export with an error wrapping eventstore.ErrCorrupt.
func (t *Tree) Export(ctx context.Context, w io.Writer, req ExportRequest) (ExportResult, error) {
	res := ExportResult{TreeSize: t.Size()}
	end := res.TreeSize
	if req.Limit != 0 && req.Limit < end {
		end = req.Limit
	}
	var first uint64
	var err error
	if req.From.Position != nil {
		if first, err = t.IndexOf(*req.From.Position); err != nil {
			return res, err
		}
	}
	if req.To.Position != nil {
		to, err := t.IndexOf(*req.To.Position)
		if err != nil {
			return res, err
		}
		end = min(end, to)
	}
	var fromTime, toTime string
	if req.From.Time != nil {
		fromTime = req.From.Time.Format(leaf.TimeFormat)
	}
	if req.To.Time != nil {
		toTime = req.To.Time.Format(leaf.TimeFormat)
	}
	switch req.Format {
	case "":
		req.Format = FormatJSONL
	case FormatJSONL, FormatCSV:
	default:
		return res, fmt.Errorf("%w: export format %q: want jsonl or csv", ErrInvalid, req.Format)
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	if req.Format == FormatCSV {
		cw := csv.NewWriter(bw)
		cw.Write(CSVHeader)
		if cw.Flush(); cw.Error() != nil {
			return res, cw.Error()
		}
	}
	if fromTime == "" && toTime == "" {
		// A range of known leaves: pages are encoded in parallel and written in order.
		res.First, res.End = first, max(first, end)
		if err := t.exportParallel(ctx, bw, req.Format, first, end); err != nil {
			return res, err
		}
		return res, bw.Flush()
	}

	res.First, res.End = first, first
	started := fromTime == ""
	after := eventstore.Start
	if first > 0 {
		if after, err = t.Position(first - 1); err != nil {
			return res, err
		}
	}
	enc := newLineEncoder(req.Format, bw)
	pw := pageWorker{t: t}
	index := first
	for index < end {
		n := min(exportPage, end-index)
		var stop bool
		index, after, stop, err = pw.encode(ctx, index, n, after, enc, func(ev *leaf.Event) (bool, bool) {
			if toTime != "" && ev.Time >= toTime {
				return false, true
			}
			if !started && ev.Time >= fromTime {
				started = true
				res.First = ev.Index
			}
			if started {
				res.End = ev.Index + 1
			}
			return started, false
		})
		if err != nil {
			return res, err
		}
		if stop {
			break
		}
	}
	if !started {
		res.First, res.End = index, index
	}
	if err := enc.flush(); err != nil {
		return res, err
	}
	return res, bw.Flush()
}

// pageWorker encodes pages of leaves, reusing its buffers.
type pageWorker struct {
	t            *Tree
	le           leaf.Encoder
	stored, posb []byte
}

// encode reads the n events after position after (leaves start to start+n-1) and writes them to enc,
// each checked against the tree's stored position and leaf hash. keep, if set, decides for each
// event whether to write it and whether to stop before it. It returns the next leaf index and its
// predecessor's position.
func (p *pageWorker) encode(ctx context.Context, start, n uint64, after eventstore.Position, enc lineEncoder,
	keep func(ev *leaf.Event) (write, stop bool)) (uint64, eventstore.Position, bool, error) {
	t := p.t
	index := start
	if err := ctx.Err(); err != nil {
		return index, after, false, err
	}
	recs, err := t.store.ReadAll(ctx, after, int(n))
	if err != nil {
		return index, after, false, fmt.Errorf("export: read after %s: %w", after, err)
	}
	if uint64(len(recs)) < n {
		return index, after, false, fmt.Errorf("%w: export: the store has %d events after %s but the audit tree has %d", eventstore.ErrCorrupt, len(recs), after, n)
	}
	recs = recs[:n]
	if p.stored, p.posb, err = t.readLeaves(index, n, p.stored, p.posb); err != nil {
		return index, after, false, err
	}
	for k, rec := range recs {
		pos := eventstore.Position{Commit: binary.BigEndian.Uint64(p.posb[k*posSize:]), Prepare: binary.BigEndian.Uint64(p.posb[k*posSize+8:])}
		if pos != rec.Position {
			return index, after, false, fmt.Errorf("%w: export: leaf %d is at position %s in the audit tree but the store's event is at %s", eventstore.ErrCorrupt, index, pos, rec.Position)
		}
		ev, err := p.le.Decode(recordOf(rec), index)
		if err != nil {
			return index, after, false, fmt.Errorf("export: leaf %d: %w", index, err)
		}
		write := true
		if keep != nil {
			var stop bool
			if write, stop = keep(&ev); stop {
				return index, after, true, nil
			}
		}
		if write {
			lh, err := p.le.LeafHash(&ev)
			if err != nil {
				return index, after, false, fmt.Errorf("export: leaf %d: %w", index, err)
			}
			if !bytes.Equal(lh[:], p.stored[k*hashSize:(k+1)*hashSize]) {
				return index, after, false, fmt.Errorf("%w: export: event %s at position %s hashes differently from leaf %d of the audit tree: the stored event changed after it was indexed",
					eventstore.ErrCorrupt, rec.ID, rec.Position, index)
			}
			ev.LeafHash = base64.StdEncoding.EncodeToString(lh[:])
			if err := enc.write(&ev, p.le.Canonical()); err != nil {
				return index, after, false, err
			}
		}
		index++
		after = rec.Position
	}
	return index, after, false, nil
}

// exportParallel writes leaves [first, end) to w: pages are encoded by up to GOMAXPROCS workers
// (at most 4) and written in order. At most one page per worker is in flight besides the one being
// written: memory stays flat, also while w blocks.
func (t *Tree) exportParallel(ctx context.Context, w io.Writer, format Format, first, end uint64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		buf *bytes.Buffer
		err error
	}
	type job struct {
		start, n uint64
		out      chan result
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), 4))
	jobs := make(chan job)
	order := make(chan chan result, workers)
	bufs := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := pageWorker{t: t}
			for j := range jobs {
				buf := bufs.Get().(*bytes.Buffer)
				buf.Reset()
				enc := newLineEncoder(format, buf)
				after := eventstore.Start
				var err error
				if j.start > 0 {
					after, err = t.Position(j.start - 1)
				}
				if err == nil {
					_, _, _, err = pw.encode(ctx, j.start, j.n, after, enc, nil)
				}
				if err == nil {
					err = enc.flush()
				}
				j.out <- result{buf, err}
			}
		}()
	}
	go func() {
		defer close(order)
		defer close(jobs)
		for s := first; s < end; s += exportPage {
			out := make(chan result, 1)
			select {
			case order <- out:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- job{start: s, n: min(exportPage, end-s), out: out}:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		cancel() // stops the dispatcher, which closes jobs, which stops the workers
		wg.Wait()
	}()
	for out := range order {
		select {
		case r := <-out:
			if r.err != nil {
				return r.err
			}
			_, err := w.Write(r.buf.Bytes())
			bufs.Put(r.buf)
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}

// readLeaves reads n stored leaf hashes and positions from leaf index on, reusing the buffers.
func (t *Tree) readLeaves(index, n uint64, hashes, positions []byte) ([]byte, []byte, error) {
	t.mu.RLock()
	level0, posf := t.levels[0], t.positions
	t.mu.RUnlock()
	hashes = append(hashes[:0], make([]byte, n*hashSize)...)
	positions = append(positions[:0], make([]byte, n*posSize)...)
	if _, err := level0.ReadAt(hashes, int64(index*hashSize)); err != nil {
		return nil, nil, fmt.Errorf("%w: audit tree %s: leaves %d..%d: %v", eventstore.ErrCorrupt, t.dir, index, index+n-1, err)
	}
	if _, err := posf.ReadAt(positions, int64(index*posSize)); err != nil {
		return nil, nil, fmt.Errorf("%w: audit tree %s: positions %d..%d: %v", eventstore.ErrCorrupt, t.dir, index, index+n-1, err)
	}
	return hashes, positions, nil
}

type lineEncoder interface {
	// write writes ev, whose canonical bytes (CanonicalBytes) are canon.
	write(ev *leaf.Event, canon []byte) error
	flush() error
}

func newLineEncoder(f Format, w io.Writer) lineEncoder {
	if f == FormatCSV {
		return &csvEncoder{cw: csv.NewWriter(w), row: make([]string, len(CSVHeader))}
	}
	return &jsonlEncoder{w: w}
}

type jsonlEncoder struct {
	w   io.Writer
	buf []byte
}

func (*jsonlEncoder) flush() error { return nil }

// write writes the line {"index":…,"position":…,<the members of the canonical bytes>,"leaf_hash":…}:
// the event's API shape, with the members the leaf covers in canonical form and order, so that the
// leaf bytes can be read off the line.
func (e *jsonlEncoder) write(ev *leaf.Event, canon []byte) error {
	b := leaf.AppendLine(e.buf[:0], ev, canon)
	e.buf = b
	_, err := e.w.Write(b)
	return err
}

// appendCompact appends raw JSON, compacting it only if it spans lines.
func appendCompact(dst []byte, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return append(dst, "null"...), nil
	}
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		return append(dst, raw...), nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return append(dst, b.Bytes()...), nil
}

type csvEncoder struct {
	cw  *csv.Writer
	row []string
	buf []byte
}

func (e *csvEncoder) flush() error {
	e.cw.Flush()
	return e.cw.Error()
}

func (e *csvEncoder) write(ev *leaf.Event, _ []byte) error {
	data, err := appendCompact(e.buf[:0], ev.Data)
	if err != nil {
		return fmt.Errorf("event %s: data: %w", ev.EventID, err)
	}
	e.buf = data
	e.row[0] = strconv.FormatUint(ev.Index, 10)
	e.row[1] = ev.Position
	e.row[2] = ev.EventID
	e.row[3] = ev.Time
	e.row[4] = ev.Type
	e.row[5] = ev.Stream
	e.row[6] = strconv.FormatUint(ev.Revision, 10)
	e.row[7] = ev.Actor.Name
	e.row[8] = string(ev.Actor.Role)
	e.row[9] = ev.Actor.PartnerID
	e.row[10] = string(data)
	e.row[11] = string(ev.Metadata)
	e.row[12] = ev.LeafHash
	for i, c := range e.row {
		e.row[i] = NeutraliseCell(c)
	}
	return e.cw.Write(e.row)
}

// NeutraliseCell prefixes a CSV cell that a spreadsheet would run as a formula (one starting with
// '=', '+', '-', '@', tab or carriage return) with a single quote.
func NeutraliseCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// RangeProof returns the proof for leaves [first, end) in the tree of size treeSize.
func (t *Tree) RangeProof(first, end, treeSize uint64) (leaf.RangeProof, error) {
	if first > end || end > treeSize || treeSize > t.Size() {
		return leaf.RangeProof{}, fmt.Errorf("%w: range [%d, %d) of tree size %d (current size %d)", ErrSize, first, end, treeSize, t.Size())
	}
	left, err := t.readNodes(compact.RangeNodes(0, first, nil))
	if err != nil {
		return leaf.RangeProof{}, err
	}
	right, err := t.readNodes(compact.RangeNodes(end, treeSize, nil))
	if err != nil {
		return leaf.RangeProof{}, err
	}
	return leaf.RangeProof{TreeSize: treeSize, First: first, End: end, Left: left, Right: right}, nil
}

// BundleResult describes a written bundle.
type BundleResult struct {
	ExportResult
	Checkpoint leaf.Checkpoint
}

// WriteBundle writes an export bundle into dir (created if needed; existing bundle files are
// replaced): events.jsonl (req's range, up to the latest checkpoint's size), checkpoint (that signed
// checkpoint), proof.json (the RangeProof of the exported leaves) and public-key. req.Format is
// ignored: a bundle's export is JSON Lines.
func (t *Tree) WriteBundle(ctx context.Context, dir string, req ExportRequest) (BundleResult, error) {
	cp, signed := t.Checkpoint()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return BundleResult{}, err
	}
	f, err := os.Create(filepath.Join(dir, leaf.BundleEvents))
	if err != nil {
		return BundleResult{}, err
	}
	defer f.Close()
	req.Format = FormatJSONL
	req.Limit = cp.Size
	if cp.Size == 0 {
		req.To = Bound{Position: &eventstore.Start} // nothing is certified yet: an empty export
	}
	res, err := t.Export(ctx, f, req)
	if err != nil {
		return BundleResult{}, err
	}
	if err := f.Close(); err != nil {
		return BundleResult{}, err
	}
	rp, err := t.RangeProof(res.First, res.End, cp.Size)
	if err != nil {
		return BundleResult{}, err
	}
	pj, err := json.MarshalIndent(rp, "", "  ")
	if err != nil {
		return BundleResult{}, err
	}
	for name, data := range map[string][]byte{leaf.BundleCheckpoint: signed, leaf.BundleProof: append(pj, '\n'), leaf.BundlePublicKey: []byte(t.vkey + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return BundleResult{}, err
		}
	}
	return BundleResult{ExportResult: res, Checkpoint: cp}, nil
}
