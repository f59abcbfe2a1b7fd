package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sender POSTs signed messages to webhook URLs. Each request is bounded in time (Timeout), the
// response body read is bounded (maxResponse, then the connection is dropped), redirects are not
// followed (a 3xx is a failed delivery), and no proxy is used (the dial check must see the real
// target). It is safe for concurrent use; each webhook sends one message at a time.
type sender struct {
	client *http.Client
}

// maxResponse is how much of a receiver's response body is read (and thrown away) so that the
// connection can be reused.
const maxResponse = 64 << 10

// DefaultTimeout bounds one delivery attempt (connect, send, response headers and body).
const DefaultTimeout = 10 * time.Second

func newSender(timeout time.Duration, allowLoopback bool) *sender {
	base := &net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialContext(base, allowLoopback),
		TLSHandshakeTimeout:   min(timeout, 5*time.Second),
		ResponseHeaderTimeout: timeout,
		// One connection per webhook at most is in use (one attempt at a time), and many webhooks
		// may share a host: keep theirs alive rather than dial for every delivery.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &sender{client: &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// message is one delivery: the Standard Webhooks headers and the body.
type message struct {
	url       string
	id        string // webhook-id, the same for every attempt of one item
	timestamp int64
	signature string
	body      []byte
}

// send delivers m once: nil for a 2xx answer, otherwise an error for last_error (status code, or
// what failed; never the secret, which is not in m but in its signature only).
func (s *sender) send(ctx context.Context, m message) error {
	plain := strings.HasPrefix(m.url, "http://")
	req, err := http.NewRequestWithContext(withPlainHTTP(ctx, plain), http.MethodPost, m.url, bytes.NewReader(m.body))
	if err != nil {
		return fmt.Errorf("building the request: %v", err)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "freezeledger-webhooks")
	h.Set("webhook-id", m.id)
	h.Set("webhook-timestamp", strconv.FormatInt(m.timestamp, 10))
	h.Set("webhook-signature", m.signature)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("POST failed: %v", scrub(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fmt.Errorf("the receiver answered %d (redirects are not followed)", resp.StatusCode)
	}
	return fmt.Errorf("the receiver answered %d", resp.StatusCode)
}

// scrub shortens a client error for last_error: url.Error repeats the URL, which the owner knows.
func scrub(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "\": "); i >= 0 {
		s = s[i+3:]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
