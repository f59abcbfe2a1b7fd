package domain

import "fmt"

// replayChannel builds a channel's state from its stream's events, in order.
func replayChannel(stream string, evs []StoredEvent) (*Channel, error) {
	c := NewChannel(stream)
	for i := range evs {
		if int64(evs[i].Revision) != c.revision+1 {
			return nil, fmt.Errorf("stream %s: revision %d follows %d", stream, evs[i].Revision, c.revision)
		}
		if err := c.applyStored(&evs[i]); err != nil {
			return nil, fmt.Errorf("stream %s revision %d (position %s): %w", stream, evs[i].Revision, evs[i].Position, err)
		}
	}
	return c, nil
}
