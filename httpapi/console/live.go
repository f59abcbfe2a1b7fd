package console

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// GET /console/live?after=POSITION: the signed-in principal's change feed (GET /v1/changes) as
// server-sent events, for the pages' EventSource (static/console.js). The API's stream is passed
// through as it comes, with the session's token, so the browser sees exactly the changes the
// principal may see and never the token. An EventSource reconnection's Last-Event-ID goes to the
// API, which resumes exactly there (it wins over after). The stream ends when the browser goes
// away, and at the first write (an item, or the API's heartbeat comment every 15 s) after the
// session ended or its principal left the principals file.
func (c *Console) live(w http.ResponseWriter, r *http.Request, s session) {
	if !c.features(r.Context()).Changes {
		c.renderError(w, r, &s, http.StatusNotFound, "This server has no change feed.")
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	rq := request{method: "GET", path: "/v1/changes", header: map[string]string{"Accept": "text/event-stream"}, query: map[string][]string{}}
	if a := r.URL.Query().Get("after"); a != "" {
		rq.query.Set("after", a)
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		rq.header["Last-Event-ID"] = id
	}
	lw := &liveWriter{w: w, alive: func() bool {
		if !c.sessions.alive(s.id) {
			return false
		}
		p, ok := c.identify(s.token)
		return ok && p == s.principal
	}, cancel: cancel}
	if err := c.api.stream(ctx, s.token, rq, lw); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			// EventSource shows no body; the status (a 4xx) stops its reconnecting.
			http.Error(w, ae.Error(), ae.Status)
			return
		}
		if ctx.Err() == nil {
			c.log.Error("console: the change feed stream failed", "error", err)
		}
	}
}

// errSessionEnded is a live stream's write after its session ended.
var errSessionEnded = errors.New("console: the session of this stream ended")

// liveWriter passes a live stream to the browser while its session lasts: every write first asks
// alive, and once that is false it cancels the stream and fails the write.
type liveWriter struct {
	w      http.ResponseWriter
	alive  func() bool
	cancel context.CancelFunc
	ended  bool
}

func (l *liveWriter) Header() http.Header  { return l.w.Header() }
func (l *liveWriter) WriteHeader(code int) { l.w.WriteHeader(code) }

func (l *liveWriter) Write(b []byte) (int, error) {
	if l.ended || !l.alive() {
		l.ended = true
		l.cancel()
		return 0, errSessionEnded
	}
	return l.w.Write(b)
}

// Flush sends what was written to the browser at once.
func (l *liveWriter) Flush() {
	if f, ok := l.w.(http.Flusher); ok && !l.ended {
		f.Flush()
	}
}

// SetReadDeadline lets the API lift the server's read timeout for the stream.
func (l *liveWriter) SetReadDeadline(t time.Time) error {
	return http.NewResponseController(l.w).SetReadDeadline(t)
}
