package webhook

import (
	"context"
	"sync"
	"time"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// hook is one webhook at run time: its record and its deliverer's bookkeeping.
type hook struct {
	owner string // immutable copy of rec.Owner, read under Manager.mu
	key   string // immutable copy of rec.IdempotencyKey, read under Manager.mu

	mu      sync.Mutex
	rec     record
	dirty   bool      // rec.Cursor advanced since the last save
	savedAt time.Time // of the last save
	deleted bool
	cancel  context.CancelFunc // stops the deliverer (Delete)
	wake    chan struct{}      // Enable wakes a disabled deliverer
}

func newHook(r record) *hook {
	return &hook{owner: r.Owner, key: r.IdempotencyKey, rec: r, wake: make(chan struct{}, 1)}
}

func (h *hook) view() Webhook {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := &h.rec
	w := Webhook{ID: r.ID, URL: r.URL, Description: r.Description, CreatedAt: r.CreatedAt.UTC().Format(leaf.TimeFormat), State: r.State}
	if r.LastDelivered != "" {
		s := r.LastDelivered
		w.LastDeliveredPosition = &s
	}
	if r.LastError != "" {
		s := r.LastError
		w.LastError = &s
	}
	if !r.FailingSince.IsZero() {
		s := r.FailingSince.UTC().Format(leaf.TimeFormat)
		w.FailingSince = &s
	}
	return w
}
