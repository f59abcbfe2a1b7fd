package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

var crashKills = flag.Int("crash.kills", 5, "TestCrashKill9: how many times to SIGKILL the server (CI: 5)")

// buildBinary builds the real freezeledger binary into a temporary directory (with -race when the
// tests run with it).
func buildBinary(t testing.TB) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go" // .ci/run's Go
	}
	bin := filepath.Join(t.TempDir(), "freezeledger")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool, append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// procServer is `freezeledger serve` running as a child process.
type procServer struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
	err    error // Wait's result, once exited is closed

	mu   sync.Mutex
	tail []string // the last lines of its stderr
}

var servingRE = regexp.MustCompile(`serving.*addr=(\S+)`)

// startProc starts bin serve on dataDir, listening on a free loopback port, with any extra flags,
// and waits until it serves.
func startProc(t testing.TB, bin, dataDir string, flags ...string) *procServer {
	t.Helper()
	p := &procServer{exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-level", "info"}, flags...)...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := servingRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
			p.mu.Lock()
			p.tail = append(p.tail, line)
			if len(p.tail) > 200 {
				p.tail = p.tail[len(p.tail)-100:]
			}
			p.mu.Unlock()
		}
	}()
	go func() {
		<-scanned // Wait closes the pipe: read it to the end first
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case a := <-addr:
		p.addr = a
	case <-p.exited:
		t.Fatalf("serve exited before serving: %v\n%s", p.err, p.logTail())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start within 60 s\n%s", p.logTail())
	}
	return p
}

func (p *procServer) logTail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *procServer) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM (a graceful shutdown) and returns the exit error.
func (p *procServer) stop(t *testing.T) error {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(60 * time.Second):
		p.kill()
		return errors.New("did not stop within 60 s of SIGTERM")
	}
}

// crashOp is one write of the crash workload.
type crashOp struct {
	worker   int
	key      string // Idempotency-Key, unique per op
	who      string
	method   string
	path     string
	body     map[string]any
	customer string
	types    []string // the command's events in its channel stream, in order
	after    string   // the customer's state once it is applied: ACTIVE, ACCOUNT or ACCOUNT_AND_RESOURCE
	pos      uint64   // acknowledged position (0: not acknowledged)
}

// crashWorker owns some customers and writes to them one op at a time, so the state each should
// be in follows from the acknowledged ops alone.
type crashWorker struct {
	id        int
	rng       *rand.Rand
	seq       int
	customers []string
	managerOf map[string]string
	state     map[string]string
	pending   *crashOp // the op in flight when the server was killed, if any
}

func (w *crashWorker) next() *crashOp {
	w.seq++
	op := &crashOp{worker: w.id, key: fmt.Sprintf("crash-w%d-%d", w.id, w.seq), method: "POST"}
	if len(w.customers) < 3 || w.rng.IntN(6) == 0 {
		id := fmt.Sprintf("cust-w%d-%d", w.id, len(w.customers))
		partner, who := "dist-a", "op-dist-a"
		if w.rng.IntN(2) == 0 {
			partner, who = "res-a1", "op-res-a1" // res-a1 has the freeze permission: it manages its customers
		}
		op.who, op.path, op.customer = who, "/v1/customers", id
		op.body = map[string]any{"customer_id": id, "name": "Crash " + id, "partner_id": partner}
		op.types = []string{domain.EventCustomerAssociated, domain.EventCustomerFrozen}
		op.after = "ACCOUNT"
		return op
	}
	id := w.customers[w.rng.IntN(len(w.customers))]
	op.customer, op.who = id, w.managerOf[id]
	reason := "crash test " + op.key
	switch st := w.state[id]; {
	case st == "ACTIVE":
		ft := []string{"ACCOUNT", "ACCOUNT_AND_RESOURCE"}[w.rng.IntN(2)]
		op.path, op.body, op.types, op.after = "/v1/customers/"+id+"/freeze", map[string]any{"reason": reason, "freeze_type": ft}, []string{domain.EventCustomerFrozen}, ft
	case st == "ACCOUNT" && w.rng.IntN(3) == 0:
		op.path, op.body, op.types, op.after = "/v1/customers/"+id+"/freeze", map[string]any{"reason": reason, "freeze_type": "ACCOUNT_AND_RESOURCE"}, []string{domain.EventCustomerFrozen}, "ACCOUNT_AND_RESOURCE"
	default:
		op.path, op.body, op.types, op.after = "/v1/customers/"+id+"/unfreeze", map[string]any{"reason": reason, "unfreeze_type": st}, []string{domain.EventCustomerUnfrozen}, "ACTIVE"
	}
	return op
}

// applied records an acknowledged op in the worker's model.
func (w *crashWorker) applied(op *crashOp) {
	if op.types[0] == domain.EventCustomerAssociated {
		w.customers = append(w.customers, op.customer)
		w.managerOf[op.customer] = op.who
	}
	w.state[op.customer] = op.after
}

// send sends op once. It returns an error only for an answer the model says is impossible; a failed
// connection (the server was killed) leaves op unacknowledged.
func send(ctx context.Context, c *apiClient, op *crashOp) (acked bool, err error) {
	a, err := c.do(ctx, op.method, op.path, op.who, op.body, "Idempotency-Key", op.key)
	if err != nil {
		return false, nil
	}
	switch {
	case a.status == 200 || a.status == 201:
		if op.pos = a.position(); op.pos == 0 {
			return false, fmt.Errorf("%s %s (key %s): %d without X-Ledger-Position", op.method, op.path, op.key, a.status)
		}
		return true, nil
	case a.status == 503 && a.position() > 0:
		// Committed; only the read-back timed out (docs/API-NOTES.md): acknowledged with its position.
		op.pos = a.position()
		return true, nil
	case a.status == 503:
		return false, nil // refused as the server went down: not acknowledged
	}
	return false, fmt.Errorf("%s %s as %s (key %s): unexpected %d: %s", op.method, op.path, op.who, op.key, a.status, a.body)
}

// TestCrashKill9 is the crash harness: the real binary, concurrent writes over HTTP, SIGKILL at
// random moments, restart; after each kill: every acknowledged write is in the store at its position,
// every write is in the log completely or not at all, and `freezeledger verify --data-dir` passes
// (hash chain, Merkle tree, domain rules over the whole history, read models equal to a rebuild).
// After the last restart every customer's status over HTTP is what the acknowledged writes make it.
// More kills (about 1.5 s per kill at first, growing with the log the verifier re-reads):
// go test ./cmd/freezeledger -run TestCrashKill9 -crash.kills=200 -timeout 60m (the package before
// the custom flags).
func TestCrashKill9(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	tokens := createPrincipals(t, dir, []testPrincipal{
		{"plat", "platform", ""}, {"op-dist-a", "partner", "dist-a"}, {"op-res-a1", "partner", "res-a1"},
	})
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 8))
	const workers = 8
	ws := make([]*crashWorker, workers)
	for i := range ws {
		ws[i] = &crashWorker{id: i, rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(i))), managerOf: map[string]string{}, state: map[string]string{}}
	}
	var acked []*crashOp
	all := map[string]*crashOp{} // key -> op, every op ever sent
	var ackMu sync.Mutex
	kills, retried, checked := 0, 0, 0

	p := startProc(t, bin, dir)
	c := newAPIClient("http://"+p.addr, tokens)
	setupChannel(t, c)
	c.close()

	for cycle := 0; ; cycle++ {
		c := newAPIClient("http://"+p.addr, tokens)
		// Retry, with the same key and body, each write that was in flight at the kill: a client's
		// recovery. It must succeed: either it was written (the first result comes back) or not.
		for _, w := range ws {
			if op := w.pending; op != nil {
				ok, err := send(context.Background(), c, op)
				if err != nil || !ok {
					t.Fatalf("retry after restart of %s %s (key %s): acked %v, %v\n%s", op.method, op.path, op.key, ok, err, p.logTail())
				}
				w.applied(op)
				acked = append(acked, op)
				w.pending = nil
				retried++
			}
		}
		if kills == *crashKills {
			checkStatuses(t, c, ws, acked)
			c.close()
			if err := p.stop(t); err != nil {
				t.Fatalf("serve after SIGTERM: %v\n%s", err, p.logTail())
			}
			break
		}

		// Concurrent writes until the kill.
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		errc := make(chan error, workers)
		for _, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					op := w.next()
					ackMu.Lock()
					all[op.key] = op
					ackMu.Unlock()
					ok, err := send(ctx, c, op)
					if err != nil {
						errc <- err
						return
					}
					if !ok {
						w.pending = op
						return
					}
					w.applied(op)
					ackMu.Lock()
					acked = append(acked, op)
					ackMu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond) // the kill lands at a random moment
		p.kill()
		kills++
		cancel()
		wg.Wait()
		c.close()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		checked += checkCrashedDir(t, bin, dir, acked, all)
		p = startProc(t, bin, dir)
	}
	checked += checkCrashedDir(t, bin, dir, acked, all)
	t.Logf("crash harness: %d kills (SIGKILL), %d writes acknowledged, %d checks of an acknowledged write in the store (after every kill, all so far), %d in-flight writes retried after restarts, %d customers",
		kills, len(acked), checked, retried, countCustomers(ws))
	fmt.Printf("crash harness: %d kills, %d writes acknowledged, %d writes checked\n", kills, len(acked), checked)
}

func countCustomers(ws []*crashWorker) int {
	n := 0
	for _, w := range ws {
		n += len(w.customers)
	}
	return n
}

// checkCrashedDir checks a data directory whose server is gone: every acknowledged op is in the
// store at its position; every op's events are there completely or not at all, once; and
// `freezeledger verify --data-dir` (the real binary) passes.
func checkCrashedDir(t *testing.T, bin, dir string, acked []*crashOp, all map[string]*crashOp) (checked int) {
	t.Helper()
	events := readStore(t, dir)
	byPos := make(map[uint64]*storedEvent, len(events))
	byKey := map[string][]string{}
	for i := range events {
		e := &events[i]
		byPos[e.Position.Commit] = e
		if k := e.meta.IdempotencyKey; k != "" && strings.HasPrefix(e.Stream, domain.ChannelStreamPrefix) {
			byKey[k] = append(byKey[k], e.Type)
		}
	}
	for _, op := range acked {
		e := byPos[op.pos]
		if e == nil {
			t.Fatalf("acknowledged write lost: %s %s (key %s) at position %d: no event there (store has %d events)", op.method, op.path, op.key, op.pos, len(events))
		}
		if e.meta.IdempotencyKey != op.key || e.Type != op.types[len(op.types)-1] {
			t.Fatalf("acknowledged write %s (key %s) at position %d: the event there is %s with key %q", op.path, op.key, op.pos, e.Type, e.meta.IdempotencyKey)
		}
	}
	for key, types := range byKey {
		op := all[key]
		if op == nil {
			continue // the setup's writes carry no key; nothing else writes
		}
		if strings.Join(types, ",") != strings.Join(op.types, ",") {
			t.Fatalf("write %s %s (key %s) is in the log as %v, want exactly %v (all or nothing, once)", op.method, op.path, key, types, op.types)
		}
	}
	for _, op := range acked {
		if _, ok := byKey[op.key]; !ok {
			t.Fatalf("acknowledged write (key %s) has no events", op.key)
		}
	}
	cmd := exec.Command(bin, "verify", "--data-dir", dir)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("freezeledger verify --data-dir after a kill: %v\n%s\n%s", err, out.String(), errs.String())
	}
	for _, want := range []string{"ok: event store", "ok: audit tree", "ok: history", "ok: read models"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("verify --data-dir did not report %q:\n%s", want, out.String())
		}
	}
	return len(acked)
}

// checkStatuses reads every customer's status (with min_position of the last acknowledged write)
// and compares it with the model.
func checkStatuses(t *testing.T, c *apiClient, ws []*crashWorker, acked []*crashOp) {
	t.Helper()
	var maxPos uint64
	for _, op := range acked {
		maxPos = max(maxPos, op.pos)
	}
	for _, w := range ws {
		for _, id := range w.customers {
			a := c.must(t, 200, "GET", fmt.Sprintf("/v1/customers/%s/status?min_position=%d", id, maxPos), w.managerOf[id], nil)
			var st struct {
				State      string `json:"state"`
				FreezeType string `json:"freeze_type"`
			}
			if err := a.decode(&st); err != nil {
				t.Fatal(err)
			}
			got := st.State
			if got == "FROZEN" {
				got = st.FreezeType
			}
			if got != w.state[id] {
				t.Errorf("customer %s after the crashes: %s (%s), want %s", id, st.State, st.FreezeType, w.state[id])
			}
		}
	}
}
