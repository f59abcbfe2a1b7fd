// Command freezeledger-load is a small, bounded load generator for freezeledger's HTTP service on
// loopback. It measures, in one run, a trivial net/http JSON handler (served by this process) as the
// baseline, then GET /v1/customers/{id}/status (closed loop, keep-alive), then the status route at a
// fixed rate (open loop, half the measured maximum) for its latency, then durable freeze/unfreeze
// pairs. It needs a server started on a demo data directory:
//
//	go run ./cmd/freezeledger demo --data-dir /tmp/fl-bench
//	go run ./cmd/freezeledger serve --data-dir /tmp/fl-bench --log-level warn &
//	go run ./cmd/freezeledger-load --url http://127.0.0.1:8080 --tokens /tmp/fl-bench/demo-tokens.txt
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
)

func main() {
	url := pflag.String("url", "http://127.0.0.1:8080", "freezeledger base URL")
	tokens := pflag.String("tokens", "./data/demo-tokens.txt", "the demo's tokens file")
	conns := pflag.Int("conns", 16, "keep-alive connections for the read tests")
	writeConns := pflag.Int("write-conns", 64, "connections for the freeze/unfreeze test")
	dur := pflag.Duration("duration", 5*time.Second, "duration of each test")
	trivial := pflag.String("trivial", "", "baseline URL: a trivial handler started with --serve-trivial (default: served by this process)")
	openRate := pflag.Float64("open-rate", 0, "rate of the open-loop latency test (default: half the measured status rate)")
	serveTrivial := pflag.String("serve-trivial", "", "only serve the trivial baseline handler on this address, in its own process")
	pflag.Parse()
	if *serveTrivial != "" {
		ln, err := net.Listen("tcp", *serveTrivial)
		if err == nil {
			err = http.Serve(ln, trivialHandler())
		}
		fmt.Fprintln(os.Stderr, "freezeledger-load:", err)
		os.Exit(1)
	}
	if err := run(*url, *tokens, *trivial, *openRate, *conns, *writeConns, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "freezeledger-load:", err)
		os.Exit(1)
	}
}

type result struct {
	name     string
	requests int64
	errors   int64
	elapsed  time.Duration
	lat      []time.Duration
	sendLat  []time.Duration // open loop: from the actual send, not the scheduled time
}

func (r result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	slices.Sort(r.lat)
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
}

func (r result) String() string {
	s := fmt.Sprintf("%-44s %9.0f req/s  p50 %7s  p99 %7s  errors %d  (%d requests)", r.name, r.rate(),
		r.pct(0.50).Round(time.Microsecond), r.pct(0.99).Round(time.Microsecond), r.errors, r.requests)
	if len(r.sendLat) > 0 {
		sr := result{lat: r.sendLat}
		s += fmt.Sprintf("\n%-44s %15s  p50 %7s  p99 %7s  (latency from the actual send)", "", "",
			sr.pct(0.50).Round(time.Microsecond), sr.pct(0.99).Round(time.Microsecond))
	}
	return s
}

func newClient(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute,
		DisableCompression: true,
	}}
}

// request is one request a worker makes; it returns whether the response was the expected one.
type request func(c *http.Client, worker int, i int64) bool

// closedLoop runs conns workers, each sending its next request when the previous answered.
func closedLoop(name string, conns int, d time.Duration, do request) result {
	c := newClient(conns)
	defer c.CloseIdleConnections()
	var n, errs atomic.Int64
	lats := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := int64(0); time.Now().Before(deadline); i++ {
				t0 := time.Now()
				ok := do(c, w, i)
				if len(lats[w]) < 1_000_000 {
					lats[w] = append(lats[w], time.Since(t0))
				}
				n.Add(1)
				if !ok {
					errs.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	r := result{name: name, requests: n.Load(), errors: errs.Load(), elapsed: time.Since(start)}
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	return r
}

// openLoop sends requests at a fixed rate (spread over conns workers) and measures each latency from
// its scheduled send time, so a stall counts against every request it delays.
func openLoop(name string, conns int, rate float64, d time.Duration, do request) result {
	c := newClient(conns)
	defer c.CloseIdleConnections()
	total := int64(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	var next, errs atomic.Int64
	lats := make([][]time.Duration, conns)
	sends := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				at := start.Add(time.Duration(i) * interval)
				if wait := time.Until(at); wait > 0 {
					time.Sleep(wait)
				}
				sent := time.Now()
				if !do(c, w, i) {
					errs.Add(1)
				}
				lats[w] = append(lats[w], time.Since(at))
				sends[w] = append(sends[w], time.Since(sent))
			}
		}(w)
	}
	wg.Wait()
	r := result{name: name, requests: total, errors: errs.Load(), elapsed: time.Since(start)}
	for w := range lats {
		r.lat = append(r.lat, lats[w]...)
		r.sendLat = append(r.sendLat, sends[w]...)
	}
	return r
}

func get(c *http.Client, url, token string) bool {
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}

func post(c *http.Client, url, token string, body []byte) (int, []byte) {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, b
}

// trivialHandler answers a small JSON object, encoded per request like a real handler would.
func trivialHandler() http.Handler {
	type status struct {
		CustomerID     string `json:"customer_id"`
		State          string `json:"state"`
		EffectiveState string `json:"effective_state"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(status{"c-1", "ACTIVE", "ACTIVE"})
	})
}

// trivialServer is the baseline: a net/http handler answering a small JSON object.
func trivialServer() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: trivialHandler()}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Shutdown(context.Background()) }, nil
}

func readTokens(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out, nil
}

// managed are the demo's customers with the token of their manager (see cmd/freezeledger/demo.go),
// interleaved across the demo's three channels (dist-north, dist-south, sp-east) so that consecutive
// writers hit different channels.
func managed(tokens map[string]string) (ids, toks []string) {
	groups := []struct {
		prefix, token string
		n             int
	}{
		{"dn", "TOKEN_OPS_DIST_NORTH", 50}, {"ds", "TOKEN_OPS_DIST_SOUTH", 40}, {"sp", "TOKEN_OPS_SP_EAST", 50},
		{"rn1", "TOKEN_OPS_RES_NORTH_1", 50}, {"rs1", "TOKEN_OPS_RES_SOUTH_1", 40}, {"rn2", "TOKEN_OPS_DIST_NORTH", 40},
	}
	for i := 1; i <= 50; i++ {
		for _, g := range groups {
			if i <= g.n {
				ids = append(ids, fmt.Sprintf("cust-%s-%03d", g.prefix, i))
				toks = append(toks, tokens[g.token])
			}
		}
	}
	return ids, toks
}

func run(base, tokensFile, triv string, openRate float64, conns, writeConns int, d time.Duration) error {
	tokens, err := readTokens(tokensFile)
	if err != nil {
		return err
	}
	reader := tokens["TOKEN_AUDITOR"]
	if reader == "" {
		return errors.New("the tokens file has no TOKEN_AUDITOR: is it a demo's?")
	}
	ids, mgr := managed(tokens)
	if !get(newClient(1), base+"/v1/customers/"+ids[0]+"/status", reader) {
		return fmt.Errorf("GET %s/v1/customers/%s/status failed: is the server running on a demo directory?", base, ids[0])
	}
	if triv == "" {
		var stop func()
		if triv, stop, err = trivialServer(); err != nil {
			return err
		}
		defer stop()
	}
	fmt.Printf("freezeledger-load: %d read connections, %d write connections, %s per test, GOMAXPROCS of this process %d\n\n",
		conns, writeConns, d, runtimeProcs())

	warm := closedLoop("warm-up", conns, d/5, func(c *http.Client, w int, i int64) bool { return get(c, triv, "") })
	_ = warm
	base1 := closedLoop("trivial net/http JSON handler (baseline)", conns, d, func(c *http.Client, w int, i int64) bool { return get(c, triv, "") })
	fmt.Println(base1)
	status := closedLoop("GET /v1/customers/{id}/status", conns, d, func(c *http.Client, w int, i int64) bool {
		return get(c, base+"/v1/customers/"+ids[(int64(w)*7919+i)%int64(len(ids))]+"/status", reader)
	})
	fmt.Println(status)
	fmt.Printf("%-44s %9.2f\n", "ratio status / baseline", status.rate()/base1.rate())
	half := status.rate() / 2
	if openRate > 0 {
		half = openRate
	}
	openTriv := openLoop(fmt.Sprintf("trivial handler at %.0f req/s (same rate)", half), conns*4, half, d, func(c *http.Client, w int, i int64) bool {
		return get(c, triv, "")
	})
	fmt.Println(openTriv)
	open := openLoop(fmt.Sprintf("GET status at %.0f req/s (half of max)", half), conns*4, half, d, func(c *http.Client, w int, i int64) bool {
		return get(c, base+"/v1/customers/"+ids[i%int64(len(ids))]+"/status", reader)
	})
	fmt.Println(open)

	// Durable writes: each worker owns one customer and alternates freeze and unfreeze (ACCOUNT).
	// The writers are the demo's customers that take a plain freeze and unfreeze: sp-east's need a
	// verification code each (rule 19), and a customer may be disassociated or budget-frozen.
	c := newClient(writeConns)
	var wids, wtoks []string
	for w := 0; w < len(ids) && len(wids) < writeConns; w++ {
		// Bring the customer to ACTIVE: unfreeze with whatever type it has (errors mean it already is).
		for _, t := range []string{"ACCOUNT", "ACCOUNT_AND_RESOURCE"} {
			post(c, base+"/v1/customers/"+ids[w]+"/unfreeze", mgr[w], []byte(`{"reason":"load test","unfreeze_type":"`+t+`"}`))
		}
		f, _ := post(c, base+"/v1/customers/"+ids[w]+"/freeze", mgr[w], []byte(`{"reason":"load test","freeze_type":"ACCOUNT"}`))
		u, _ := post(c, base+"/v1/customers/"+ids[w]+"/unfreeze", mgr[w], []byte(`{"reason":"load test","unfreeze_type":"ACCOUNT"}`))
		if f == 200 && u == 200 {
			wids, wtoks = append(wids, ids[w]), append(wtoks, mgr[w])
		}
	}
	if len(wids) == 0 {
		return errors.New("no demo customer takes a plain freeze and unfreeze")
	}
	writeConns = len(wids)
	writes := closedLoop("POST freeze / unfreeze (durable)", writeConns, d, func(c *http.Client, w int, i int64) bool {
		path, body := "/freeze", `{"reason":"load test","freeze_type":"ACCOUNT"}`
		if i%2 == 1 {
			path, body = "/unfreeze", `{"reason":"load test","unfreeze_type":"ACCOUNT"}`
		}
		code, _ := post(c, base+"/v1/customers/"+wids[w]+path, wtoks[w], []byte(body))
		return code == 200
	})
	fmt.Println(writes)
	return nil
}
