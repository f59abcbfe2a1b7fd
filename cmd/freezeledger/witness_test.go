package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

// cosigningWitness is a loopback stand-in for a witness in the server's end-to-end test: it checks
// the log's signature and cosigns (torchwood's C2SP tlog-cosignature signer) whatever checkpoint it
// gets. The protocol's checks (sizes, 409, consistency proofs, 422) are tested in
// projections/auditlog against torchwood's litewitness and a witness written from the spec.
type cosigningWitness struct {
	srv *httptest.Server
	key string
}

func newCosigningWitness(t *testing.T, name, logKey string) *cosigningWitness {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(logKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, signed, _ := bytes.Cut(body, []byte("\n\n"))
		n, err := note.Open(signed, note.VerifierList(v))
		if r.URL.Path != "/add-checkpoint" || err != nil {
			http.Error(w, "unknown log", http.StatusNotFound)
			return
		}
		cosigned, _ := note.Sign(&note.Note{Text: n.Text}, s)
		w.Write(cosigned[len(n.Text)+1:])
	}))
	t.Cleanup(srv.Close)
	return &cosigningWitness{srv: srv, key: s.Verifier().String()}
}

// TestServeWithWitnesses: serve --witness sends checkpoints to each witness; one is down. The log
// goes on; GET /v1/audit/checkpoint and the bundle carry the cosignature of the one that is up,
// which freezeledger verify --witness-key checks (threshold met, not met naming the witness, a key
// given twice through a file); /metrics shows both witnesses' state.
func TestServeWithWitnesses(t *testing.T) {
	dir := t.TempDir()
	// The log's key exists before the server starts, so the witness can know it.
	first := startServerIn(t, dir, standardPrincipals, nil)
	logKey := strings.TrimSpace(string(first.must(200, "GET", "/v1/audit/public-key", "", nil).body))
	first.shutdown()

	up := newCosigningWitness(t, "witness.test/up", logKey)
	down := newCosigningWitness(t, "witness.test/down", logKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + ln.Addr().String()
	ln.Close() // nobody listens there
	ts := startServerFull(t, dir, nil, nil, []string{"--log-level", "warn",
		"--witness", "up=" + up.srv.URL + "=" + up.key, "--witness", "down=" + downURL + "=" + down.key})
	ts.tokens = first.tokens
	ts.setupHierarchy()

	cp := ts.must(200, "GET", "/v1/audit/checkpoint?min_position="+ts.head().String(), "aud", nil).body
	if !bytes.Contains(cp, []byte("\n— witness.test/up ")) || bytes.Contains(cp, []byte("witness.test/down")) {
		t.Fatalf("checkpoint:\n%s", cp)
	}
	tarball := ts.must(200, "GET", "/v1/audit/bundle", "aud", nil).body
	work := t.TempDir()
	bundle, keyFile, upKeyFile := filepath.Join(work, "bundle.tar"), filepath.Join(work, "key"), filepath.Join(work, "up.vkey")
	os.WriteFile(bundle, tarball, 0o644)
	os.WriteFile(keyFile, []byte(logKey+"\n"), 0o644)
	os.WriteFile(upKeyFile, []byte(up.key+"\n"), 0o644)
	ctx := context.Background()
	verifyWith := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := runVerify(ctx, append([]string{"--bundle", bundle, "--public-key", keyFile, "--no-rules"}, args...), &o, &e)
		return code, o.String(), e.String()
	}
	if code, o, e := verifyWith("--witness-key", upKeyFile, "--witness-key", down.key, "--witness-threshold", "1"); code != 0 ||
		!strings.Contains(o, "cosigned by 1 of the witnesses (witness.test/up; 1 required)") {
		t.Errorf("threshold 1: exit %d\n%s\n%s", code, o, e)
	}
	if code, o, e := verifyWith("--witness-key", up.key, "--witness-key", down.key); code != 1 ||
		!strings.Contains(e, "witness witness.test/down") || !strings.Contains(e, "no cosignature of this witness") {
		t.Errorf("threshold 2 (all): exit %d\n%s\n%s", code, o, e)
	}
	if code, _, e := verifyWith("--witness-key", up.key, "--witness-threshold", "2"); code != 2 || !strings.Contains(e, "needs at least 2 --witness-key") {
		t.Errorf("threshold above the keys: exit %d\n%s", code, e)
	}
	if code, _, e := verifyWith("--witness-key", logKey); code != 2 || !strings.Contains(e, "not a cosignature/v1 key") {
		t.Errorf("the log's key as a witness key: exit %d\n%s", code, e)
	}
	// Without witness keys the cosigned bundle verifies as before.
	if code, o, e := verifyWith(); code != 0 || strings.Contains(o, "cosigned by") {
		t.Errorf("no witness keys: exit %d\n%s\n%s", code, o, e)
	}

	metrics := string(ts.must(200, "GET", "/metrics", "", nil).body)
	for _, want := range []string{`freezeledger_witness_up{witness="up"} 1`, `freezeledger_witness_up{witness="down"} 0`,
		`freezeledger_witness_cosignatures_total{witness="up"}`, `freezeledger_witness_failures_total{witness="down"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, `freezeledger_witness_failures_total{witness="down"} 0`) {
		t.Error("the witness that is down has no failure counted")
	}
}

func TestServeRejectsBadWitnessFlags(t *testing.T) {
	w := newCosigningWitness(t, "witness.test/w", "freezeledger/default+0ce1a908+AUaW+dvnupRr2x5Ct+vschrp7KT21UA19UZAMU6lqojw")
	ok := "w1=" + w.srv.URL + "=" + w.key
	for _, bad := range [][]string{{"w1"}, {"w1=http://127.0.0.1:1"}, {"w1=ftp://x=" + w.key}, {ok, ok}} {
		var args []string
		for _, f := range bad {
			args = append(args, "--witness", f)
		}
		m := &Main{}
		if err := m.ParseFlags(append([]string{"serve"}, args...)); err == nil || !strings.Contains(err.Error(), "--witness") {
			t.Errorf("--witness %q: %v", bad, err)
		}
	}
	if err := (&Main{}).ParseFlags([]string{"serve", "--witness", ok}); err != nil {
		t.Errorf("--witness %q: %v", ok, err)
	}
}
