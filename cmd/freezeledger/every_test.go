package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestEvery: the sweeps run at once and in order, a failure is logged and does not stop the
// next sweep, a count is logged under its unit, and the loop returns nil when ctx is done.
func TestEvery(t *testing.T) {
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ran []string
	err := every(ctx, time.Hour, log,
		sweep{run: func(context.Context) (int, error) { ran = append(ran, "a"); return 0, errors.New("disk full") }, failed: "sweeping a", done: "swept a", unit: "things"},
		sweep{run: func(context.Context) (int, error) { ran = append(ran, "b"); return 0, nil }, failed: "sweeping b", done: "swept b", unit: "things"},
		sweep{run: func(context.Context) (int, error) { ran = append(ran, "c"); cancel(); return 3, nil }, failed: "sweeping c", done: "swept c", unit: "widgets"})
	if err != nil {
		t.Fatalf("every returned %v, want nil when ctx is done", err)
	}
	if got := strings.Join(ran, ","); got != "a,b,c" {
		t.Fatalf("sweeps ran %s, want a,b,c once each", got)
	}
	out := buf.String()
	for _, want := range []string{`"@message":"sweeping a"`, `"error":"disk full"`, `"@message":"swept c"`, `"widgets":3`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "swept b") || strings.Contains(out, "sweeping b") {
		t.Errorf("a sweep that counted 0 without an error was logged:\n%s", out)
	}
}

// TestEveryQuietAfterCancel: an error after ctx is done is not logged.
func TestEveryQuietAfterCancel(t *testing.T) {
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := every(ctx, time.Hour, log, sweep{run: func(ctx context.Context) (int, error) { return 0, ctx.Err() }, failed: "sweeping"}); err != nil {
		t.Fatalf("every returned %v, want nil", err)
	}
	if buf.Len() != 0 {
		t.Errorf("logged after ctx was done:\n%s", buf.String())
	}
}
