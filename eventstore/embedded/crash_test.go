package embedded_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

const (
	crashDirEnv = "FREEZELEDGER_TEST_CRASH_DIR"
	crashRunEnv = "FREEZELEDGER_TEST_CRASH_RUN"
)

// TestCrashChild is the child of TestKill9LosesNothingAcknowledged: it appends from several
// goroutines, durably, and prints "ACK <stream> <first revision> <id>,<id>..." after each append is
// acknowledged, until it is killed (or, as a bound, after 20 s).
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child process of TestKill9LosesNothingAcknowledged")
	}
	s, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		fmt.Println("OPEN FAILED:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out sync.Mutex
	var wg sync.WaitGroup
	fmt.Println("READY")
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("crash-%s-%d", os.Getenv(crashRunEnv), w)
			exp := eventstore.NoStream
			for i := 0; ctx.Err() == nil; i++ {
				evs := make([]eventstore.EventData, 1+i%3)
				ids := make([]string, len(evs))
				for j := range evs {
					evs[j] = event(i)
					ids[j] = evs[j].ID.String()
				}
				res, err := s.Append(ctx, stream, exp, evs...)
				if err != nil {
					return
				}
				out.Lock()
				fmt.Printf("ACK %s %d %s\n", stream, res.NextRevision+1-uint64(len(evs)), strings.Join(ids, ","))
				out.Unlock()
				exp = eventstore.Exact(res.NextRevision)
			}
		}()
	}
	wg.Wait()
	s.Close()
}

type ack struct {
	stream string
	rev    uint64
	ids    []uuid.UUID
}

func parseAck(line string) (ack, error) {
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "ACK" {
		return ack{}, fmt.Errorf("bad line %q", line)
	}
	rev, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return ack{}, err
	}
	a := ack{stream: f[1], rev: rev}
	for _, s := range strings.Split(f[3], ",") {
		id, err := uuid.Parse(s)
		if err != nil {
			return ack{}, err
		}
		a.ids = append(a.ids, id)
	}
	return a, nil
}

// TestKill9LosesNothingAcknowledged runs a child process that appends concurrently, SIGKILLs it
// after a random number of acknowledged appends, and checks after each kill that the store opens,
// verifies, and holds every acknowledged event.
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	const kills = 3
	var acks []ack
	for run := 0; run < kills; run++ {
		killAfter := 1 + rng.IntN(150)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRunEnv+"="+strconv.Itoa(run))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n, killed := 0, false
		for sc.Scan() {
			line := sc.Text()
			if line == "READY" || strings.HasPrefix(line, "=== RUN") {
				continue
			}
			if !strings.HasPrefix(line, "ACK ") {
				if !killed {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("child: %s\n%s", line, stderr.String())
				}
				continue
			}
			a, err := parseAck(line)
			if err != nil {
				t.Fatal(err)
			}
			acks = append(acks, a)
			n++
			if n == killAfter && !killed {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("child ended after %d acknowledged appends without being killed: %v\n%s", n, err, stderr.String())
		}
		t.Logf("run %d: killed after %d acknowledged appends (%d read in all)", run, killAfter, n)

		s, err := embedded.Open(dir, embedded.Options{})
		if err != nil {
			t.Fatalf("open after kill -9 in run %d: %v", run, err)
		}
		ctx := context.Background()
		if err := s.Verify(ctx); err != nil {
			s.Close()
			t.Fatalf("verify after kill -9 in run %d: %v", run, err)
		}
		for _, a := range acks {
			evs, err := s.ReadStream(ctx, a.stream, eventstore.Forwards, a.rev, len(a.ids))
			if err != nil {
				s.Close()
				t.Fatalf("acknowledged append to %s at revision %d: %v", a.stream, a.rev, err)
			}
			if len(evs) != len(a.ids) {
				s.Close()
				t.Fatalf("acknowledged append to %s at revision %d: %d of %d events present", a.stream, a.rev, len(evs), len(a.ids))
			}
			for i, e := range evs {
				if e.ID != a.ids[i] {
					s.Close()
					t.Fatalf("%s revision %d is %s, the acknowledged event was %s", a.stream, a.rev+uint64(i), e.ID, a.ids[i])
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
