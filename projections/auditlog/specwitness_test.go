package auditlog

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"filippo.io/torchwood"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// specWitness is a minimal C2SP tlog-witness written in the test from the spec alone
// (https://c2sp.org/tlog-witness): it checks the log's signature, the old size against the size it
// knows (409 with that size otherwise), the consistency proof with transparency-dev/merkle's verifier
// (422 if it fails), and cosigns with torchwood's C2SP tlog-cosignature signer. Unknown logs are 404.
// It listens on a fixed loopback address, and can be stopped (connections refused) and started again
// with its state.
type specWitness struct {
	t      testing.TB
	addr   string
	signer *torchwood.CosignatureSigner
	key    string // its cosignature verifier key

	mu        sync.Mutex
	logs      map[string]*knownLog // by origin
	conflicts int                  // 409 answers given
	refusals  int                  // 422 answers given
	srv       *http.Server
	done      chan struct{}
}

type knownLog struct {
	verifier note.Verifier
	size     uint64
	root     []byte
}

// newSpecWitness returns a stopped witness named name on a free loopback port.
func newSpecWitness(t testing.TB, name string) *specWitness {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	w := &specWitness{t: t, addr: freeAddr(t), signer: s, key: s.Verifier().String(), logs: map[string]*knownLog{}}
	t.Cleanup(w.stop)
	return w
}

// freeAddr is a loopback address nobody listens on (a port the kernel just handed out).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (w *specWitness) url() string { return "http://" + w.addr }

// witness is the log's configuration for this witness.
func (w *specWitness) witness(t testing.TB, label string) Witness {
	t.Helper()
	k, err := leaf.NewCosignatureVerifier(w.key)
	if err != nil {
		t.Fatal(err)
	}
	return Witness{Name: label, URL: w.url(), Key: k}
}

// addLog makes the log known (at size 0), with its verifier key.
func (w *specWitness) addLog(origin, vkey string) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.logs[origin] = &knownLog{verifier: v}
}

func (w *specWitness) start() {
	w.t.Helper()
	ln, err := net.Listen("tcp", w.addr)
	if err != nil {
		w.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", w.addCheckpoint)
	srv := &http.Server{Handler: mux}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	w.mu.Lock()
	w.srv, w.done = srv, done
	w.mu.Unlock()
}

func (w *specWitness) stop() {
	w.mu.Lock()
	srv, done := w.srv, w.done
	w.srv = nil
	w.mu.Unlock()
	if srv != nil {
		srv.Close()
		<-done
	}
}

func (w *specWitness) counts() (conflicts, refusals int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conflicts, w.refusals
}

func (w *specWitness) addCheckpoint(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	head, signed, ok := bytes.Cut(body, []byte("\n\n"))
	sc := bufio.NewScanner(bytes.NewReader(head))
	if !ok || !sc.Scan() || !strings.HasPrefix(sc.Text(), "old ") {
		http.Error(rw, "want old <size>, the proof, a blank line and the checkpoint", http.StatusBadRequest)
		return
	}
	old, err := strconv.ParseUint(strings.TrimPrefix(sc.Text(), "old "), 10, 64)
	if err != nil {
		http.Error(rw, "bad old size", http.StatusBadRequest)
		return
	}
	var hashes [][]byte
	for sc.Scan() {
		h, err := base64.StdEncoding.DecodeString(sc.Text())
		if err != nil || len(h) != 32 {
			http.Error(rw, "bad proof hash", http.StatusBadRequest)
			return
		}
		hashes = append(hashes, h)
	}
	origin, _, _ := strings.Cut(string(signed), "\n")
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.logs[origin]
	if l == nil {
		http.Error(rw, "unknown log", http.StatusNotFound)
		return
	}
	n, err := note.Open(signed, note.VerifierList(l.verifier))
	if err != nil {
		http.Error(rw, "bad log signature: "+err.Error(), http.StatusForbidden)
		return
	}
	cp, err := leaf.ParseCheckpoint([]byte(n.Text))
	if err != nil || old > cp.Size {
		http.Error(rw, "bad checkpoint or old size", http.StatusBadRequest)
		return
	}
	if old != l.size {
		w.conflicts++
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", l.size)
		return
	}
	if old > 0 {
		if err := proof.VerifyConsistency(hasher, old, cp.Size, hashes, l.root, cp.Hash); err != nil {
			w.refusals++
			http.Error(rw, "bad consistency proof: "+err.Error(), http.StatusUnprocessableEntity)
			return
		}
	}
	l.size, l.root = cp.Size, cp.Hash
	cosigned, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	rw.Write(cosigned[len(n.Text)+1:]) // the signature lines only
}
