package webhook

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/freezeledger/freezeledger/projections"
)

// deliverLoop is one webhook's deliverer: it reads the owner's change feed from the webhook's
// cursor and sends each item, in order, retrying until it is acknowledged, until ctx is done (a
// shutdown or Delete). A disabled webhook waits for Enable.
func (m *Manager) deliverLoop(ctx context.Context, h *hook) {
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed))
	defer func() {
		h.mu.Lock()
		if h.dirty {
			if err := m.saveLocked(h); err != nil {
				m.log.Error("webhook: saving the delivery cursor at shutdown", "webhook", h.rec.ID, "error", err)
			}
		}
		h.mu.Unlock()
	}()
	for ctx.Err() == nil {
		h.mu.Lock()
		state, cur, scope := h.rec.State, h.rec.Cursor, h.rec.Scope
		h.mu.Unlock()
		if state != StateActive {
			select {
			case <-ctx.Done():
			case <-h.wake:
			}
			continue
		}
		cursor, err := projections.ParseChangeCursor(cur)
		if err == nil {
			reader := m.o.Feed.Changes(projections.ChangeViewer{Scope: scope}, cursor)
			err = m.deliverFrom(ctx, h, reader, r)
			reader.Close()
		}
		if err != nil && ctx.Err() == nil {
			m.log.Warn("webhook: reading the change feed failed; retrying", "webhook", h.rec.ID, "error", err)
			_ = m.o.Sleep(ctx, time.Second)
		}
	}
}

// deliverFrom sends reader's items until an error (returned), ctx's end, or the webhook's
// disabling (nil).
func (m *Manager) deliverFrom(ctx context.Context, h *hook, reader *projections.ChangeReader, r *rand.Rand) error {
	for {
		items, err := reader.Next(ctx, 64)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			// Caught up: save the cursor, but at most once per PersistEvery (a webhook that keeps
			// up with a busy log is caught up after nearly every commit); if it is not due yet,
			// wait for new items until it is.
			h.mu.Lock()
			dirty, due := h.dirty, time.Until(h.savedAt.Add(m.o.PersistEvery))
			if dirty && due <= 0 {
				if err := m.saveLocked(h); err != nil {
					m.log.Error("webhook: saving the delivery cursor", "webhook", h.rec.ID, "error", err)
				}
				dirty = false
			}
			h.mu.Unlock()
			wctx, cancel := ctx, context.CancelFunc(func() {})
			if dirty {
				wctx, cancel = context.WithTimeout(ctx, due)
			}
			err := reader.Wait(wctx)
			cancel()
			if err != nil && ctx.Err() != nil {
				return err
			}
			if err != nil && wctx.Err() == nil {
				return err
			}
			if err == nil && m.o.Coalesce > 0 && sleep(ctx, m.o.Coalesce) != nil {
				return ctx.Err() // woken by new events: let more of them accumulate first
			}
			continue
		}
		for i := range items {
			if !m.deliver(ctx, h, &items[i], r) {
				return nil
			}
		}
	}
}

// deliver sends one item until the receiver acknowledges it (true), or the webhook is disabled,
// deleted or shut down (false).
func (m *Manager) deliver(ctx context.Context, h *hook, it *projections.Change, r *rand.Rand) bool {
	body := it.AppendJSON(nil)
	h.mu.Lock()
	id, url, secret := h.rec.ID, h.rec.URL, h.rec.Secret
	h.mu.Unlock()
	msgID := id + "." + it.ID
	for attempt := 0; ; attempt++ {
		ts := m.o.Clock.Now().Unix()
		sig, err := Sign(secret, msgID, ts, body)
		if err == nil {
			err = m.send.send(ctx, message{url: url, id: msgID, timestamp: ts, signature: sig, body: body})
		}
		now := m.o.Clock.Now()
		h.mu.Lock()
		if h.deleted || ctx.Err() != nil {
			h.mu.Unlock()
			return false // shutting down or deleted: not the receiver's failure
		}
		rec := &h.rec
		if err == nil {
			wasFailing := !rec.FailingSince.IsZero()
			rec.Cursor, rec.LastDelivered, rec.LastError, rec.FailingSince = it.ID, it.Position, "", time.Time{}
			h.dirty = true
			if wasFailing || time.Since(h.savedAt) >= m.o.PersistEvery {
				if serr := m.saveLocked(h); serr != nil {
					m.log.Error("webhook: saving the delivery cursor", "webhook", id, "error", serr)
				}
			}
			h.mu.Unlock()
			return true
		}
		rec.LastError = fmt.Sprintf("delivering %s: %v", it.ID, err)
		if rec.FailingSince.IsZero() {
			rec.FailingSince = now
		}
		disable := now.Sub(rec.FailingSince) >= DisableAfter
		if disable {
			rec.State = StateDisabled
			rec.LastError = fmt.Sprintf("disabled: no successful delivery since %s (%s); last: %s",
				rec.FailingSince.UTC().Format(time.RFC3339), DisableAfter, rec.LastError)
		}
		if serr := m.saveLocked(h); serr != nil {
			m.log.Error("webhook: saving the webhook's state", "webhook", id, "error", serr)
		}
		since, reason := rec.FailingSince, rec.LastError
		h.mu.Unlock()
		if disable {
			m.log.Warn("webhook disabled after failing for too long", "webhook", id, "failing_since", since)
			if m.o.OnDisable != nil {
				m.o.OnDisable(id, reason)
			}
			return false
		}
		delay := retryDelay(attempt, r)
		m.log.Debug("webhook delivery failed; retrying", "webhook", id, "item", it.ID, "attempt", attempt+1, "retry_in", delay, "error", err)
		if m.o.Sleep(ctx, delay) != nil {
			return false
		}
	}
}
