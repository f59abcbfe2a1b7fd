package auditlog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// The witness scenarios against a real third-party witness: torchwood's litewitness (v0.6.1, the
// version go.mod requires), a separate process on loopback with its SQLite database, its key served
// by an in-process ssh-agent over a unix socket. The binaries are built once per test run with `go
// install filippo.io/torchwood/cmd/{litewitness,witnessctl}@v0.6.1` into a temporary directory
// (from the module cache, else through GOPROXY); FREEZELEDGER_LITEWITNESS_BIN names a directory that
// already holds both. The tests skip when they cannot be built (offline without the modules), and
// in -short mode.

var (
	litewitnessOnce sync.Once
	litewitnessBin  string
	litewitnessErr  string
)

const torchwoodVersion = "v0.6.1"

// removeLitewitnessBin removes the binaries this test run built (TestMain calls it).
func removeLitewitnessBin() {
	if litewitnessBin != "" && os.Getenv("FREEZELEDGER_LITEWITNESS_BIN") == "" {
		os.RemoveAll(litewitnessBin)
	}
}

// litewitnessDir returns the directory holding litewitness and witnessctl, or skips the test.
func litewitnessDir(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no litewitness build")
	}
	litewitnessOnce.Do(func() {
		if dir := os.Getenv("FREEZELEDGER_LITEWITNESS_BIN"); dir != "" {
			litewitnessBin = dir
			return
		}
		dir, err := os.MkdirTemp("", "litewitness-bin-")
		if err != nil {
			litewitnessErr = err.Error()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "install",
			"filippo.io/torchwood/cmd/litewitness@"+torchwoodVersion, "filippo.io/torchwood/cmd/witnessctl@"+torchwoodVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			litewitnessErr = err.Error() + ": " + string(out)
			return
		}
		litewitnessBin = dir
	})
	if litewitnessBin == "" {
		t.Skipf("litewitness cannot be built here: %s", litewitnessErr)
	}
	return litewitnessBin
}

// liteWitness is one litewitness process (started and stopped at will) with its database and agent.
type liteWitness struct {
	t      testing.TB
	bin    string
	dir    string // short: a unix socket path lives here
	addr   string
	name   string
	key    string // cosignature verifier key
	fpr    string // the ssh key's SHA256 fingerprint
	sock   string
	agent  net.Listener
	cmd    *exec.Cmd
	stderr bytes.Buffer

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newLiteWitness(t testing.TB, name string) *liteWitness {
	t.Helper()
	bin := litewitnessDir(t)
	dir, err := os.MkdirTemp("", "lw-")
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	cs, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	w := &liteWitness{t: t, bin: bin, dir: dir, addr: freeAddr(t), name: name, key: cs.Verifier().String(),
		fpr: ssh.FingerprintSHA256(sshPub), sock: filepath.Join(dir, "agent.sock")}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	if w.agent, err = net.Listen("unix", w.sock); err != nil {
		t.Fatal(err)
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			c, err := w.agent.Accept()
			if err != nil {
				return
			}
			w.mu.Lock()
			w.conns = append(w.conns, c)
			w.mu.Unlock()
			w.wg.Add(1)
			go func() { defer w.wg.Done(); agent.ServeAgent(keyring, c) }()
		}
	}()
	t.Cleanup(func() {
		w.stop()
		w.agent.Close()
		w.mu.Lock()
		for _, c := range w.conns {
			c.Close()
		}
		w.mu.Unlock()
		w.wg.Wait()
		if t.Failed() {
			t.Logf("litewitness stderr:\n%s", w.stderr.String())
		}
		os.RemoveAll(dir)
	})
	return w
}

func (w *liteWitness) db() string { return filepath.Join(w.dir, "litewitness.db") }

func (w *liteWitness) ctl(args ...string) {
	w.t.Helper()
	out, err := exec.Command(filepath.Join(w.bin, "witnessctl"), args...).CombinedOutput()
	if err != nil {
		w.t.Fatalf("witnessctl %q: %v\n%s", args, err, out)
	}
}

func (w *liteWitness) addLog(origin, vkey string) {
	w.ctl("add-log", "-db", w.db(), "-origin", origin)
	w.ctl("add-key", "-db", w.db(), "-origin", origin, "-key", vkey)
}

func (w *liteWitness) start() {
	w.t.Helper()
	w.cmd = exec.Command(filepath.Join(w.bin, "litewitness"), "-db", w.db(), "-name", w.name, "-key", w.fpr,
		"-ssh-agent", w.sock, "-listen", w.addr)
	w.cmd.Stderr = &w.stderr
	if err := w.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
}

func (w *liteWitness) stop() {
	if w.cmd == nil {
		return
	}
	w.cmd.Process.Signal(os.Interrupt)
	w.cmd.Wait()
	w.cmd = nil
}

func (w *liteWitness) cosignKey() string { return w.key }

func (w *liteWitness) witness(t testing.TB, label string) Witness {
	t.Helper()
	k, err := leaf.NewCosignatureVerifier(w.key)
	if err != nil {
		t.Fatal(err)
	}
	return Witness{Name: label, URL: "http://" + w.addr, Key: k}
}

func TestLitewitnessCosignsEachCheckpoint(t *testing.T) {
	scenarioCosigns(t, newLiteWitness(t, "witness.test/lite"))
}

func TestLitewitnessDownThenUp(t *testing.T) {
	scenarioDownThenUp(t, newLiteWitness(t, "witness.test/lite"))
}

func TestLitewitnessRefusesFork(t *testing.T) {
	scenarioRefusesFork(t, newLiteWitness(t, "witness.test/lite"))
}

func TestLitewitnessLearnsItsSizeAfterRestart(t *testing.T) {
	scenarioRestart(t, newLiteWitness(t, "witness.test/lite"))
}
