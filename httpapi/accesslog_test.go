package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writes, counting them.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestAccessLogFormat: a text line splits back into its fields (values with spaces, quotes or '='
// quoted), and a JSON line is an object with hclog's keys and the fields.
func TestAccessLogFormat(t *testing.T) {
	rec := &accessRecord{id: "req-1", principal: `ops "x" = y`, method: "GET", route: "/v1/customers/{id}/status",
		status: 200, duration: 1234567 * time.Nanosecond, bytes: 512}
	now := time.Date(2026, 11, 26, 10, 0, 0, 123e6, time.UTC)
	text := string((&AccessLog{opts: AccessLogOptions{Name: "freezeledger.http"}}).format(nil, now, rec))
	want := `2026-11-26T10:00:00.123Z [INFO]  freezeledger.http: request: request_id=req-1 principal="ops \"x\" = y" method=GET route=/v1/customers/{id}/status status=200 duration=1.235ms bytes=512` + "\n"
	if text != want {
		t.Errorf("text line\n got %q\nwant %q", text, want)
	}
	rec.principal = ""
	if text := string((&AccessLog{}).format(nil, now, rec)); !strings.Contains(text, ` principal="" `) {
		t.Errorf("an empty principal: %q", text)
	}
	line := (&AccessLog{opts: AccessLogOptions{JSON: true, Name: "freezeledger.http"}}).format(nil, now, rec)
	var v map[string]any
	if err := json.Unmarshal(line, &v); err != nil || line[len(line)-1] != '\n' {
		t.Fatalf("JSON line %q: %v", line, err)
	}
	for k, want := range map[string]any{"@level": "info", "@message": "request", "@module": "freezeledger.http",
		"@timestamp": "2026-11-26T10:00:00.123Z", "request_id": "req-1", "principal": "", "method": "GET",
		"route": "/v1/customers/{id}/status", "status": 200.0, "duration": 1235000.0, "bytes": 512.0} {
		if v[k] != want {
			t.Errorf("JSON %s = %v, want %v", k, v[k], want)
		}
	}
}

// TestAccessLogConcurrent: lines logged by many goroutines through a small pending bound all come
// out whole, each goroutine's in its order; lines after Close too.
func TestAccessLogConcurrent(t *testing.T) {
	out := &lockedBuffer{}
	l := NewAccessLog(out, AccessLogOptions{MaxPending: 300})
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				l.log(&accessRecord{id: fmt.Sprintf("g%d-%04d", g, i), method: "GET", route: "/r", status: 200})
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.log(&accessRecord{id: "after-close", method: "GET", route: "/r", status: 200})
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != goroutines*each+1 {
		t.Fatalf("%d lines, want %d", len(lines), goroutines*each+1)
	}
	next := make([]int, goroutines)
	for _, line := range lines[:len(lines)-1] {
		var g, i int
		j := strings.Index(line, "request_id=")
		if j < 0 || !strings.HasSuffix(line, " bytes=0") {
			t.Fatalf("a broken line: %q", line)
		}
		if _, err := fmt.Sscanf(line[j:], "request_id=g%d-%d", &g, &i); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if i != next[g] {
			t.Fatalf("goroutine %d: line %d where %d was next", g, i, next[g])
		}
		next[g]++
	}
	if !strings.Contains(lines[len(lines)-1], "request_id=after-close") {
		t.Errorf("the line after Close: %q", lines[len(lines)-1])
	}
	t.Logf("%d lines in %d writes", len(lines), out.writes)
}
