package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiClient calls the HTTP API's handler in-process. It is the console's only way to read or change
// anything: requests carry the session's bearer token and pass through the API's authentication,
// tenancy, validation, idempotency and logging like any other client's.
type apiClient struct {
	h http.Handler
}

// apiError is a refusal by the API: its HTTP status and its problem document.
type apiError struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

func (e *apiError) Error() string {
	if e.Detail != "" {
		return e.Detail
	}
	if e.Title != "" {
		return e.Title
	}
	return fmt.Sprintf("the API answered %d", e.Status)
}

// unauthenticated reports whether err is the API's 401: the token no longer identifies a principal.
func unauthenticated(err error) bool {
	ae, ok := err.(*apiError)
	return ok && ae.Status == http.StatusUnauthorized
}

// request is one in-process API call. Body, when not nil, is sent as JSON.
type request struct {
	method, path string
	query        url.Values
	body         any
	header       map[string]string
}

// memoryResponse is an http.ResponseWriter that keeps the answer in memory.
type memoryResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (m *memoryResponse) Header() http.Header { return m.header }

func (m *memoryResponse) WriteHeader(code int) {
	if m.status == 0 {
		m.status = code
	}
}

func (m *memoryResponse) Write(b []byte) (int, error) {
	if m.status == 0 {
		m.status = http.StatusOK
	}
	return m.body.Write(b)
}

// newRequest builds the in-process request for rq as the principal of token ("" for none).
func newRequest(ctx context.Context, token string, rq request) (*http.Request, error) {
	var body io.Reader = http.NoBody
	if rq.body != nil {
		b, err := json.Marshal(rq.body)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	u := &url.URL{Scheme: "http", Host: "console.internal", Path: rq.path}
	if len(rq.query) > 0 {
		u.RawQuery = rq.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.RemoteAddr = "console"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rq.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	return req, nil
}

// do makes the call and decodes a 2xx JSON answer into out (when not nil). Any other answer is an
// *apiError carrying the API's problem.
func (c apiClient) do(ctx context.Context, token string, rq request, out any) error {
	raw, err := c.raw(ctx, token, rq)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("console: decoding the answer of %s %s: %w", rq.method, rq.path, err)
	}
	return nil
}

// raw makes the call and returns the body of a 2xx answer.
func (c apiClient) raw(ctx context.Context, token string, rq request) ([]byte, error) {
	req, err := newRequest(ctx, token, rq)
	if err != nil {
		return nil, err
	}
	res := &memoryResponse{header: http.Header{}}
	c.h.ServeHTTP(res, req)
	if res.status == 0 {
		res.status = http.StatusOK
	}
	if res.status/100 != 2 {
		return nil, problemFrom(res.status, res.body.Bytes())
	}
	return res.body.Bytes(), nil
}

func problemFrom(status int, body []byte) *apiError {
	ae := &apiError{}
	if json.Unmarshal(body, ae) != nil || ae.Status == 0 {
		ae = &apiError{Detail: strings.TrimSpace(string(body))}
	}
	ae.Status = status
	return ae
}

// stream makes the call and, when the API answers 2xx, copies its headers and body to w as they come
// (an export can be large). A refusal is returned as an *apiError before anything is written to w.
func (c apiClient) stream(ctx context.Context, token string, rq request, w http.ResponseWriter) error {
	req, err := newRequest(ctx, token, rq)
	if err != nil {
		return err
	}
	sw := &streamingResponse{w: w, header: http.Header{}}
	c.h.ServeHTTP(sw, req)
	if sw.refused != nil {
		return problemFrom(sw.refused.status, sw.refused.body.Bytes())
	}
	if !sw.started {
		sw.start(http.StatusOK)
	}
	return nil
}

// streamingResponse passes a 2xx answer through to w and keeps any other in memory.
type streamingResponse struct {
	w       http.ResponseWriter
	header  http.Header
	started bool
	refused *memoryResponse
}

func (s *streamingResponse) Header() http.Header { return s.header }

func (s *streamingResponse) WriteHeader(code int) {
	if s.started || s.refused != nil {
		return
	}
	if code/100 != 2 {
		s.refused = &memoryResponse{header: s.header, status: code}
		return
	}
	s.start(code)
}

func (s *streamingResponse) start(code int) {
	s.started = true
	for _, k := range []string{"Content-Type", "Content-Disposition", "Cache-Control", "X-Accel-Buffering"} {
		if v := s.header.Get(k); v != "" {
			s.w.Header().Set(k, v)
		}
	}
	s.w.WriteHeader(code)
}

func (s *streamingResponse) Write(b []byte) (int, error) {
	if !s.started && s.refused == nil {
		s.start(http.StatusOK)
	}
	if s.refused != nil {
		return s.refused.body.Write(b)
	}
	return s.w.Write(b)
}

// SetReadDeadline passes the API's deadline changes for reading the request through (the change
// feed lifts the server's read timeout for its stream). Write deadlines are not passed on.
func (s *streamingResponse) SetReadDeadline(t time.Time) error {
	return http.NewResponseController(s.w).SetReadDeadline(t)
}

// Flush passes the API's flushes through, so that a streamed export reaches the browser as it goes.
func (s *streamingResponse) Flush() {
	if f, ok := s.w.(http.Flusher); ok && s.started {
		f.Flush()
	}
}
