package httpapi

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections"
)

// ChangeFeed is the read side of the change feed; *projections.ReadModels satisfies it. GET
// /v1/changes is served when the server's ReadModels also implement it, and answers 503
// unavailable otherwise.
type ChangeFeed interface {
	Changes(viewer projections.ChangeViewer, after projections.ChangeCursor) *projections.ChangeReader
}

// FeedOptions configure the change feed and the webhook routes (Options.Feed). The zero value
// serves the feed with a 15 s heartbeat and answers the webhook routes with 503 unavailable.
type FeedOptions struct {
	// Heartbeat is how often an idle server-sent event stream gets a comment line (default 15 s),
	// so that proxies and clients see the connection is alive. NDJSON streams get none: every
	// line of one is an item (an empty or other line would be no item, or no JSON text); TCP
	// keepalive is what probes an idle one.
	Heartbeat time.Duration
	// Coalesce is how long a caught-up stream waits after sending, and after being woken by new
	// events, before it reads again (default DefaultCoalesce; negative: not at all). Under a high
	// write rate a subscriber then wakes at most once per Coalesce (also one that sees none of
	// the new events) and sends what accumulated in one write, instead of waking for every
	// commit: the cost of many subscribers stops growing with the write rate. It adds at most
	// Coalesce to an item's latency; a backlog (a cascade, a catch-up) is sent without pauses.
	Coalesce time.Duration
	// Webhooks manages webhook registrations; nil: the webhook routes answer 503 unavailable.
	Webhooks Webhooks
	// Done, when closed, ends every change feed stream and long poll (the server is shutting
	// down: http.Server.Shutdown waits for requests, and streams never finish by themselves).
	Done <-chan struct{}
}

// DefaultHeartbeat is FeedOptions.Heartbeat's default.
const DefaultHeartbeat = 15 * time.Second

// DefaultCoalesce is FeedOptions.Coalesce's default.
const DefaultCoalesce = 10 * time.Millisecond

// streamBatch is how many items a stream reads at a time.
const streamBatch = 256

// MaxChangeWait bounds a page's wait parameter (seconds).
const MaxChangeWait = 30

// changesPage is the JSON page of GET /v1/changes.
type changesPage struct {
	Changes   []projections.Change `json:"changes"`
	NextAfter string               `json:"next_after"`
}

// changeViewer is whose changes principal p sees: its subtree, like every other read; a customer
// principal its own customer's changes only.
func changeViewer(p Principal) (projections.ChangeViewer, error) {
	switch p.Role {
	case domain.RolePlatform, domain.RolePartner, domain.RoleAuditor, domain.RoleReader:
		return projections.ChangeViewer{Scope: p.scope()}, nil
	case domain.RoleCustomer:
		return projections.ChangeViewer{CustomerID: p.CustomerID}, nil
	}
	return projections.ChangeViewer{}, errorf(domain.CodeForbidden, "role %s may not read the change feed", p.Role)
}

// changeCursor is the request's starting point: Last-Event-ID (an SSE reconnection) wins over
// after; neither is the start of the log.
func changeCursor(r *http.Request, q map[string]string) (projections.ChangeCursor, error) {
	if vs, ok := r.Header["Last-Event-Id"]; ok {
		if len(vs) != 1 {
			return projections.ChangeCursor{}, errorf(domain.CodeInvalid, "Last-Event-ID is given %d times", len(vs))
		}
		c, err := projections.ParseChangeCursor(strings.TrimSpace(vs[0]))
		if err != nil {
			return c, errorf(domain.CodeInvalid, "Last-Event-ID: %s", detailOf(err))
		}
		return c, nil
	}
	if v, ok := q["after"]; ok {
		c, err := projections.ParseChangeCursor(v)
		if err != nil {
			return c, errorf(domain.CodeInvalid, "after: %s", detailOf(err))
		}
		return c, nil
	}
	return projections.ChangeCursor{Item: projections.WholeEvent}, nil
}

// detailOf is the message of a *domain.Error (the whole error text otherwise).
func detailOf(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Message
	}
	return err.Error()
}

// GET /v1/changes
func (s *Server) getChanges(w http.ResponseWriter, r *http.Request, p Principal) error {
	q, err := parseQuery(r, "after", "limit", "wait", "min_position")
	if err != nil {
		return err
	}
	viewer, err := changeViewer(p)
	if err != nil {
		return err
	}
	after, err := changeCursor(r, q)
	if err != nil {
		return err
	}
	limit, err := parseLimit(q["limit"])
	if err != nil {
		return err
	}
	wait := 0.0
	if v, ok := q["wait"]; ok {
		if wait, err = strconv.ParseFloat(v, 64); err != nil || !(wait >= 0 && wait <= MaxChangeWait) {
			return errorf(domain.CodeInvalid, "wait must be a number of seconds from 0 to %d", MaxChangeWait)
		}
	}
	feed, ok := s.reads.(ChangeFeed)
	if !ok {
		return errorf(domain.CodeUnavailable, "the change feed is not available on this server")
	}
	if err := s.waitMin(r.Context(), q); err != nil {
		return err
	}
	reader := feed.Changes(viewer, after)
	defer reader.Close()
	accept := r.Header.Get("Accept")
	switch {
	case strings.Contains(accept, "text/event-stream"):
		return s.streamChanges(w, r, reader, true)
	case strings.Contains(accept, "application/x-ndjson"):
		return s.streamChanges(w, r, reader, false)
	}
	items, err := reader.Next(r.Context(), limit)
	if err == nil && len(items) == 0 && wait > 0 {
		// A long poll may outlast the server's read timeout: lift it for this request.
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
		sctx, stop := s.untilShutdown(r.Context())
		wctx, cancel := context.WithTimeout(sctx, time.Duration(wait*float64(time.Second)))
		for err == nil && len(items) == 0 && reader.Wait(wctx) == nil {
			items, err = reader.Next(r.Context(), limit)
		}
		cancel()
		stop()
	}
	if err != nil {
		return err
	}
	if items == nil {
		items = []projections.Change{}
	}
	writeJSON(w, http.StatusOK, changesPage{Changes: items, NextAfter: reader.Cursor().String()})
	return nil
}

// untilShutdown is ctx, also cancelled when the server shuts down (FeedOptions.Done).
func (s *Server) untilShutdown(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	if done := s.feed.Done; done != nil {
		go func() {
			select {
			case <-done:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// streamChanges serves the feed as server-sent events (sse) or NDJSON until the client goes away.
// The first read happens before anything is written, so a bad cursor is still a problem document.
func (s *Server) streamChanges(w http.ResponseWriter, r *http.Request, reader *projections.ChangeReader, sse bool) error {
	items, err := reader.Next(r.Context(), streamBatch)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // the stream outlives the server's read timeout
	h := w.Header()
	if sse {
		h.Set("Content-Type", "text/event-stream")
	} else {
		h.Set("Content-Type", "application/x-ndjson")
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx, stop := s.untilShutdown(r.Context())
	defer stop()
	heartbeat := s.feed.Heartbeat
	if heartbeat <= 0 {
		heartbeat = DefaultHeartbeat
	}
	coalesce := s.feed.Coalesce
	if coalesce == 0 {
		coalesce = DefaultCoalesce
	}
	var pause *time.Timer
	// wait pauses for coalesce (false: the stream ends).
	wait := func() bool {
		if coalesce <= 0 {
			return true
		}
		if pause == nil {
			pause = time.NewTimer(coalesce)
		} else {
			pause.Reset(coalesce)
		}
		select {
		case <-ctx.Done():
			return false
		case <-pause.C:
			return true
		}
	}
	defer func() {
		if pause != nil {
			pause.Stop()
		}
	}()
	bw := bufio.NewWriterSize(w, 32<<10)
	flush := func() bool { return bw.Flush() == nil && rc.Flush() == nil }
	if !flush() { // headers out at once: the client knows it is subscribed
		return nil
	}
	var line []byte
	for {
		for i := range items {
			line = line[:0]
			if sse {
				line = append(append(append(line, "id: "...), items[i].ID...), "\nevent: status\ndata: "...)
				line = append(items[i].AppendJSON(line), "\n\n"...)
			} else {
				line = append(items[i].AppendJSON(line), '\n')
			}
			if _, err := bw.Write(line); err != nil {
				return nil
			}
		}
		if len(items) > 0 && !flush() {
			return nil
		}
		if len(items) > 0 && len(items) < streamBatch && !wait() {
			return nil
		}
		for {
			items, err = reader.Next(ctx, streamBatch)
			if err != nil || len(items) > 0 {
				break
			}
			wctx, cancel := context.WithTimeout(ctx, heartbeat)
			werr := reader.Wait(wctx)
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			if werr != nil && domain.ErrorCode(werr) == domain.CodeUnavailable {
				return nil // the read models closed: the server is shutting down
			}
			if werr != nil && sse {
				if _, err := bw.WriteString(": keep-alive\n\n"); err != nil || !flush() {
					return nil
				}
			}
			// Woken by new events, which this viewer may not even see: let more accumulate, so
			// that a stream wakes at most once per coalesce whatever it sees.
			if werr == nil && !wait() {
				return nil
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The body has started: end the stream; the client resumes from its last ID.
			s.log.Warn("change feed stream ended by an error", "request_id", info(r).id, "error", err)
			return nil
		}
	}
}
