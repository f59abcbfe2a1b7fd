package auditlog

import (
	"bytes"
	"slices"
)

// cosignatureStore keeps the witnesses' cosignatures of the most recent checkpoints, by tree size
// (a size names one checkpoint: the tree signs each size once). It lives in memory only: after a
// restart the witnesses are asked again, and a witness cosigns a checkpoint it already knows again
// (C2SP tlog-witness: the old size may equal the checkpoint's). Not safe for concurrent use: the
// Witnesses' mutex guards it.
type cosignatureStore struct {
	witnesses int
	keep      int                  // checkpoints kept
	recent    []cosignedCheckpoint // by ascending size
}

type cosignedCheckpoint struct {
	size   uint64
	signed []byte   // the note as the log signed it
	lines  []string // by witness index; "" for none
}

// add records witness i's cosignature line on the checkpoint of that size, dropping the oldest
// checkpoints beyond keep.
func (s *cosignatureStore) add(i int, size uint64, signed []byte, line string) {
	k, found := slices.BinarySearchFunc(s.recent, size, func(c cosignedCheckpoint, size uint64) int {
		switch {
		case c.size < size:
			return -1
		case c.size > size:
			return 1
		}
		return 0
	})
	if !found {
		s.recent = slices.Insert(s.recent, k, cosignedCheckpoint{size: size, signed: bytes.Clone(signed), lines: make([]string, s.witnesses)})
	}
	s.recent[k].lines[i] = line
	if over := len(s.recent) - s.keep; over > 0 {
		s.recent = slices.Delete(s.recent, 0, over)
	}
}

// find returns the cosigned checkpoint of that size, if kept.
func (s *cosignatureStore) find(size uint64) *cosignedCheckpoint {
	for k := len(s.recent) - 1; k >= 0; k-- {
		if s.recent[k].size == size {
			return &s.recent[k]
		}
	}
	return nil
}

// held is the cosignature lines held, in the witnesses' order.
func (c *cosignedCheckpoint) held() []string {
	var lines []string
	for _, l := range c.lines {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// choose picks the newest checkpoint cosigned by every witness in good standing (good[i]: its
// latest answer was a cosignature); nil if no witness is in good standing or no kept checkpoint
// has all their cosignatures.
func (s *cosignatureStore) choose(good []bool) *cosignedCheckpoint {
	if !slices.Contains(good, true) {
		return nil
	}
	for k := len(s.recent) - 1; k >= 0; k-- {
		all := true
		for i, g := range good {
			if g && s.recent[k].lines[i] == "" {
				all = false
				break
			}
		}
		if all {
			return &s.recent[k]
		}
	}
	return nil
}
