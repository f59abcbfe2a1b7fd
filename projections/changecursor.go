package projections

import (
	"strconv"
	"strings"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
)

// ChangeCursor is a place in the change feed: just after item Item of the event at Position, or,
// with Item < 0 (WholeEvent), just after every item of that event (and of any earlier one).
//
// Its text form (String, ParseChangeCursor) is the feed's item ID: "POSITION" or "POSITION.N", so
// an SSE client's Last-Event-ID, a page's next_after and an item's id all resume exactly where they
// name, also in the middle of a cascade. Item numbers count the items one viewer sees of the event
// (see ChangeViewer), so a cursor resumes exactly for the viewer it was issued to.
type ChangeCursor struct {
	Position eventstore.Position
	Item     int
}

// WholeEvent is ChangeCursor.Item for "after every item of the event".
const WholeEvent = -1

// maxCursorItem bounds N in "POSITION.N": more than any cascade can yield (customers are indexed
// with 32 bits).
const maxCursorItem = 1<<32 - 1

// String is "POSITION" for a whole event and "POSITION.N" after item N.
func (c ChangeCursor) String() string {
	if c.Item < 0 {
		return c.Position.String()
	}
	return c.Position.String() + "." + strconv.Itoa(c.Item)
}

// ParseChangeCursor parses "POSITION" or "POSITION.N" (N a decimal from 0, no leading zeros).
// Anything else is a *domain.Error with code invalid naming the value (clipped).
func ParseChangeCursor(s string) (ChangeCursor, error) {
	bad := func() (ChangeCursor, error) {
		v := s
		if len(v) > 80 {
			v = v[:80] + "..."
		}
		return ChangeCursor{}, domain.Errorf(domain.CodeInvalid, "%q is not a change feed position (POSITION or POSITION.N, as the feed's ids and next_after give them)", v)
	}
	ps, ns, item := strings.Cut(s, ".")
	p, err := eventstore.ParsePosition(ps)
	if err != nil {
		return bad()
	}
	if !item {
		return ChangeCursor{Position: p, Item: WholeEvent}, nil
	}
	n, err := strconv.ParseUint(ns, 10, 64)
	if err != nil || n > maxCursorItem || (len(ns) > 1 && ns[0] == '0') {
		return bad()
	}
	return ChangeCursor{Position: p, Item: int(n)}, nil
}
