package leaf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidPosition: a position string that is not in the form ParsePosition reads.
var ErrInvalidPosition = errors.New("invalid position")

// Position is a store position as exports show it in the "position" member: "C" (decimal) when
// commit and prepare are both C, which is always the case in the embedded store, or "C/P" (two
// decimals that differ) for EventStoreDB's $all pair. Decimals have no sign and no leading zeros.
// Positions are ordered by commit, then prepare; an export's positions strictly increase.
type Position struct {
	Commit  uint64
	Prepare uint64
}

// ParsePosition parses the form produced by Position.String. Anything else is an error wrapping
// ErrInvalidPosition.
func ParsePosition(s string) (Position, error) {
	c, p, pair := strings.Cut(s, "/")
	commit, err := strconv.ParseUint(c, 10, 64)
	if err != nil || (len(c) > 1 && c[0] == '0') {
		return Position{}, fmt.Errorf("%w: position %q is not a log position (a decimal number, as responses show it)", ErrInvalidPosition, s)
	}
	if !pair {
		return Position{Commit: commit, Prepare: commit}, nil
	}
	prepare, err := strconv.ParseUint(p, 10, 64)
	if err != nil || (len(p) > 1 && p[0] == '0') || prepare == commit {
		return Position{}, fmt.Errorf("%w: position %q is not a log position (a decimal number, as responses show it)", ErrInvalidPosition, s)
	}
	return Position{Commit: commit, Prepare: prepare}, nil
}

// String is "C" when Commit == Prepare, else "C/P".
func (p Position) String() string {
	if p.Commit == p.Prepare {
		return strconv.FormatUint(p.Commit, 10)
	}
	return strconv.FormatUint(p.Commit, 10) + "/" + strconv.FormatUint(p.Prepare, 10)
}

// Less reports whether p is before q.
func (p Position) Less(q Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Prepare < q.Prepare
}
