package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The write-ahead log makes an append durable with one flush: each group commit appends one frame
// to the current WAL segment (4-byte big-endian length of the rest, then for each record a 4-byte
// big-endian length and the record's stored value: canonical bytes || chain value) in one write,
// and fdatasyncs it; only then are its appends acknowledged. A frame is applied whole or not at all,
// so an append is never half recovered. The records are copied into bbolt later, by a checkpoint (one synced bbolt
// transaction for many batches), after which a new segment is started and the old one removed.
// Segments are named wal-<position of their first record, 20 digits>.
//
// Recovery (Open): after bbolt's checks, the segments are read in order; records at or before
// bbolt's head are skipped, the others must continue the positions and the chain exactly, and are
// checkpointed into bbolt before the store opens. A frame that is incomplete or does not continue
// the chain can only be the tail of the last segment written while the process died (acknowledged
// frames are complete and synced): the log ends there, the segment is kept as <name>.broken and a
// warning names the file and offset. The same thing anywhere else refuses the open (ErrCorrupt), as
// does a bad frame in the last segment that is followed by anything but zeros, or one that runs past
// the end of the file but whose whole records do not continue the log (a damaged length, not a
// torn write).
const walPrefix = "wal-"

// Checkpoint when this many events or bytes are in the WAL only, or every checkpointInterval. Few,
// large checkpoints disturb the WAL's syncs least (they share the disk). Variables so that tests can
// make checkpoints frequent.
var (
	checkpointEvents = 65536
	checkpointBytes  = 32 << 20
)

func segmentName(first uint64) string { return fmt.Sprintf("%s%020d", walPrefix, first) }

// segments lists the WAL segments of dir in order.
func segments(fsys fileSystem, dir string) ([]string, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range entries {
		if !strings.HasPrefix(n, walPrefix) || strings.HasSuffix(n, ".broken") {
			continue
		}
		if _, err := strconv.ParseUint(strings.TrimPrefix(n, walPrefix), 10, 64); err != nil {
			continue
		}
		names = append(names, n)
	}
	slices.Sort(names) // fixed width: lexical order is numeric order
	return names, nil
}

// createSegment creates (truncating) the segment for records from position first on, and makes its
// directory entry durable.
func createSegment(fsys fileSystem, dir string, first uint64, noSync bool) (walFile, error) {
	f, err := fsys.Create(filepath.Join(dir, segmentName(first)))
	if err != nil {
		return nil, err
	}
	if !noSync {
		if err := fsys.SyncDir(dir); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// frame encodes one group commit's records.
func frame(values [][]byte) []byte {
	n := 4
	for _, v := range values {
		n += 4 + len(v)
	}
	buf := make([]byte, 0, n)
	buf = binary.BigEndian.AppendUint32(buf, uint32(n-4))
	for _, v := range values {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(v)))
		buf = append(buf, v...)
	}
	return buf
}

// parseFrame splits a frame's payload into records and checks that they continue the log after
// head and chain (records at or before head, already in bbolt, are skipped).
func parseFrame(payload []byte, head uint64, chain [ChainSize]byte) (values [][]byte, newHead uint64, newChain [ChainSize]byte, why string) {
	for off := 0; off < len(payload); {
		if len(payload)-off < 4 {
			return nil, 0, chain, "incomplete record length"
		}
		n := int(binary.BigEndian.Uint32(payload[off:]))
		if n > len(payload)-off-4 {
			return nil, 0, chain, fmt.Sprintf("record of %d bytes runs past the frame", n)
		}
		v := payload[off+4 : off+4+n : off+4+n]
		off += 4 + n
		rec, err := parseRecord(v)
		if err != nil {
			return nil, 0, chain, err.Error()
		}
		switch {
		case rec.pos <= head && len(values) == 0:
			continue
		case rec.pos != head+1:
			return nil, 0, chain, fmt.Sprintf("record at position %d where position %d was next", rec.pos, head+1)
		}
		if c := chainNext(&chain, rec.canonical); string(c[:]) != string(rec.chain) {
			return nil, 0, chain, fmt.Sprintf("record at position %d does not continue the chain", rec.pos)
		}
		values = append(values, v)
		head = rec.pos
		copy(chain[:], rec.chain)
	}
	return values, head, chain, ""
}

// walReplay is what recovery found after bbolt's head.
type walReplay struct {
	values [][]byte // stored values of the records after the head, in order
	head   uint64
	chain  [ChainSize]byte
	torn   string // "segment at offset N: why" if the last segment had a torn tail
	tornIn string // that segment's name
	names  []string
}

// replayWAL reads the segments of dir after bbolt's head and chain value.
func replayWAL(fsys fileSystem, dir string, head uint64, chain [ChainSize]byte) (walReplay, error) {
	r := walReplay{head: head, chain: chain}
	names, err := segments(fsys, dir)
	if err != nil {
		return r, err
	}
	r.names = names
	for i, name := range names {
		data, err := fsys.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return r, err
		}
		last := i == len(names)-1
		for off := 0; off < len(data); {
			at := off
			why := ""
			var values [][]byte
			var head uint64
			var chain [ChainSize]byte
			if len(data)-off < 4 {
				why = "incomplete frame length"
			} else if n := int(binary.BigEndian.Uint32(data[off:])); n > len(data)-off-4 {
				why = fmt.Sprintf("frame of %d bytes runs past the end of the file", n)
				// A torn write is a prefix of a good frame: its whole records continue the log. A
				// length that was damaged (made larger) reads the frames after it as records, which
				// do not; cutting there would drop them, acknowledged.
				if _, _, _, bad := parseFrame(wholeRecords(data[off+4:]), r.head, r.chain); bad != "" {
					return r, fmt.Errorf("WAL segment %s at offset %d: %s, but its records do not continue the log (%s): damage, not a torn write", name, at, why, bad)
				}
			} else if n == 0 {
				why = "empty frame"
			} else {
				values, head, chain, why = parseFrame(data[off+4:off+4+n], r.head, r.chain)
				off += 4 + n
			}
			if why != "" {
				if !last {
					return r, fmt.Errorf("WAL segment %s at offset %d: %s", name, at, why)
				}
				// A torn write is the frame being written when the process died: nothing follows it
				// but zeros. A bad frame with data after it (complete frames, acknowledged) is damage,
				// and cutting the log there would drop acknowledged appends.
				var after []byte // what follows the bad frame
				switch {
				case off > at: // a complete frame that failed its checks
					after = data[off:]
				case why == "empty frame":
					after = data[at+4:]
				}
				if !allZero(after) {
					return r, fmt.Errorf("WAL segment %s at offset %d: %s, and %d bytes follow it: damage, not a torn write", name, at, why, len(after))
				}
				r.torn, r.tornIn = fmt.Sprintf("WAL segment %s at offset %d: %s", name, at, why), name
				break
			}
			if len(values) > 0 {
				r.values = append(r.values, values...)
				r.head, r.chain = head, chain
			}
		}
	}
	return r, nil
}

// wholeRecords returns the part of a frame's payload cut short that holds whole records.
func wholeRecords(partial []byte) []byte {
	off := 0
	for len(partial)-off >= 4 {
		n := int(binary.BigEndian.Uint32(partial[off:]))
		if n > len(partial)-off-4 {
			break
		}
		off += 4 + n
	}
	return partial[:off]
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// errShortWrite is a write that wrote less than asked without an error.
var errShortWrite = errors.New("short write")

func writeAll(w io.Writer, b []byte) error {
	n, err := w.Write(b)
	if err == nil && n != len(b) {
		err = errShortWrite
	}
	return err
}
