package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// endlessAudit is an audit log whose export never ends: it writes lines until a write fails, and
// reports that error on done.
type endlessAudit struct{ done chan error }

func (a endlessAudit) Export(ctx context.Context, w io.Writer, format, from, to string) error {
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for {
		if _, err := w.Write(line); err != nil {
			a.done <- err
			return err
		}
	}
}

func (endlessAudit) Events(context.Context, eventstore.Position, int, func(leaf.Event) error) error {
	return nil
}
func (endlessAudit) Checkpoint(context.Context) ([]byte, error)             { return nil, nil }
func (endlessAudit) WaitCheckpoint(context.Context, uint64) ([]byte, error) { return nil, nil }
func (endlessAudit) InclusionProof(uint64, uint64) ([][]byte, error)        { return nil, nil }
func (endlessAudit) ConsistencyProof(uint64, uint64) ([][]byte, error)      { return nil, nil }
func (endlessAudit) PublicKey() string                                      { return "" }

// stall sends GET path as token on a connection with a small receive buffer, reads the status and
// n bytes of the body, and stops reading.
func stall(t *testing.T, addr, path, token string, n int64) (net.Conn, *http.Response) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", path, token)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		if _, err := io.CopyN(io.Discard, resp.Body, n); err != nil {
			t.Fatal(err)
		}
	}
	return conn, resp
}

// TestStalledStreamIsCut: a client that stops reading an export has its connection cut by the
// write deadline, so the export ends (with the deadline's error) and its slot is free again; while it
// is open, the principal's further exports are 429 rate_limited with Retry-After.
func TestStalledStreamIsCut(t *testing.T) {
	done := make(chan error, 4)
	srv, toks := hostileServer(t, Options{Audit: endlessAudit{done}, MaxStreamsPerPrincipal: 1, MaxStreams: 8,
		StreamWriteTimeout: 200 * time.Millisecond})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	addr := strings.TrimPrefix(hs.URL, "http://")

	_, resp := stall(t, addr, "/v1/audit/export", toks["aud"], 64<<10)
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Fatalf("first export: %d %v", resp.StatusCode, resp.Header)
	}
	// The same principal's second export, while the first is open: refused.
	req := httptest.NewRequest("GET", "/v1/audit/export", nil)
	req.Header.Set("Authorization", "Bearer "+toks["aud"])
	rec := serve(srv, req)
	if rec.Code != http.StatusTooManyRequests || problemCode(t, rec) != "rate_limited" || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("second export while the first is open: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the stalled export ended with %v, want the write deadline", err)
		}
	case <-time.After(20 * time.Second): // a bound on a hang, not a timing assertion
		t.Fatal("the stalled export was never cut")
	}
	// The slot is free again (released when the handler returned, right after its write failed).
	for i := 0; ; i++ {
		_, resp = stall(t, addr, "/v1/audit/export", toks["aud"], 1)
		if resp.StatusCode == http.StatusOK {
			break
		}
		if i == 100 {
			t.Fatalf("after the cut: %d", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond) // the handler returns just after the failed write
	}
	// HEAD of an export answers its headers without exporting.
	req = httptest.NewRequest("HEAD", "/v1/audit/export?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+toks["plat"])
	if rec := serve(srv, req); rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" || rec.Body.Len() != 0 {
		t.Errorf("HEAD export: %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
}
