package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/freezeledger/freezeledger/eventstore/embedded"
)

// diskFaults is an embedded.FaultInjector: while set, every commit fails with err, as a disk whose
// fsync fails or that is full would make it fail.
type diskFaults struct {
	mu      sync.Mutex
	err     error
	refused int // commits refused
}

func (d *diskFaults) BeforeCommit(int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		d.refused++
	}
	return d.err
}

func (d *diskFaults) set(err error) {
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
}

// TestDiskFaultsRefuseWritesKeepReads: while the disk fails (fsync errors, then a full disk) every
// write is refused with 503 unavailable and the log says why; reads keep working; once the fault
// clears writes work again; after a restart nothing acknowledged is missing and the data directory
// verifies.
func TestDiskFaultsRefuseWritesKeepReads(t *testing.T) {
	dir := t.TempDir()
	faults := &diskFaults{}
	ts := startServerFull(t, dir, standardPrincipals, func(m *Main) {
		m.StoreFaults = faults
		m.UnsafeNoSync = false
	}, []string{"--log-level", "info"})
	ts.setupHierarchy()
	acked := map[string]string{} // customer -> state the acknowledged writes left it in
	ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "paid", "unfreeze_type": "ACCOUNT"})
	acked["c-a"] = "ACTIVE"

	for _, fault := range []error{
		fmt.Errorf("fsync %s: %w", filepath.Join(StoreDir(dir), embedded.FileName), syscall.EIO),
		fmt.Errorf("write %s: %w", filepath.Join(StoreDir(dir), embedded.FileName), syscall.ENOSPC),
	} {
		faults.set(fault)
		for _, w := range []struct {
			method, path, who string
			body              any
		}{
			{"POST", "/v1/customers/c-a/freeze", "op-dist-a", map[string]any{"reason": "disk test", "freeze_type": "ACCOUNT"}},
			{"POST", "/v1/customers/c-b/unfreeze", "op-dist-b", map[string]any{"reason": "disk test", "unfreeze_type": "ACCOUNT"}},
			{"POST", "/v1/customers", "op-dist-a", map[string]any{"customer_id": "c-new", "name": "New", "partner_id": "dist-a"}},
			{"POST", "/v1/partners/res-a2/freeze", "op-dist-a", map[string]any{"reason": "disk test"}},
			{"PUT", "/v1/partners/res-a2/delegation", "op-dist-a", map[string]any{"freeze": true, "budget": false}},
			{"POST", "/v1/partners", "plat", map[string]any{"partner_id": "dist-new", "name": "New", "type": "distributor"}},
		} {
			r := ts.call(w.method, w.path, w.who, w.body, "Idempotency-Key", "disk-"+w.path)
			if r.status != 503 || r.code() != "unavailable" {
				t.Errorf("%v: %s %s: %d %s, want 503 unavailable", fault, w.method, w.path, r.status, r.body)
			}
		}
		// A batch reports the refusal per customer and appends nothing.
		r := ts.call("POST", "/v1/customers/freeze", "op-dist-a", map[string]any{"customer_ids": []string{"c-a", "c-a2"}, "reason": "disk", "freeze_type": "ACCOUNT_AND_RESOURCE"})
		if r.status == 200 {
			for _, res := range r.json(t)["results"].([]any) {
				if res.(map[string]any)["ok"] == true {
					t.Errorf("%v: a batch item succeeded while the disk fails: %s", fault, r.body)
				}
			}
		} else if r.status != 503 {
			t.Errorf("%v: batch: %d %s", fault, r.status, r.body)
		}
		// Reads keep working.
		wantFields(t, "c-a during the fault", ts.must(200, "GET", "/v1/customers/c-a/status", "rd-a", nil).json(t), "state", "ACTIVE")
		ts.must(200, "GET", "/v1/customers?frozen=true", "aud", nil)
		ts.must(200, "GET", "/v1/customers/c-a/history", "aud", nil)
		ts.must(200, "GET", "/v1/audit/events", "aud", nil)
		ts.must(200, "GET", "/v1/audit/checkpoint", "aud", nil)
		ts.must(200, "GET", "/v1/partners/res-a2", "op-dist-a", nil)
		ts.must(200, "GET", "/healthz", "", nil)
		// The log says what failed and where.
		logs := ts.stderr.String()
		if !strings.Contains(logs, "commit failed") || !strings.Contains(logs, syscall.Errno(fault.(interface{ Unwrap() error }).Unwrap().(syscall.Errno)).Error()) {
			t.Errorf("%v: no clear log line about the failed commit:\n%s", fault, logs)
		}

		// The fault clears: writes work again, without a restart.
		faults.set(nil)
		ts.must(200, "POST", "/v1/customers/c-a/freeze", "op-dist-a", map[string]any{"reason": "after the fault", "freeze_type": "ACCOUNT"}, "Idempotency-Key", "after-"+fault.Error())
		ts.must(200, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "after the fault", "unfreeze_type": "ACCOUNT"}, "Idempotency-Key", "after2-"+fault.Error())
	}
	if faults.refused == 0 {
		t.Fatal("no commit reached the fault injector")
	}
	ts.shutdown()

	// Restart: what was acknowledged is there, what was refused is not, the directory verifies.
	verifyDataDirOK(t, dir)
	ts2 := startServerIn(t, dir, nil, nil)
	ts2.tokens = ts.tokens
	for id, state := range acked {
		wantFields(t, id+" after restart", ts2.must(200, "GET", "/v1/customers/"+id+"/status", "aud", nil).json(t), "state", state)
	}
	wantProblem(t, ts2.call("GET", "/v1/customers/c-new/status", "aud", nil), 404, "not_found")
	wantFields(t, "res-a2", ts2.must(200, "GET", "/v1/partners/res-a2", "aud", nil).json(t), "frozen", false)
	ts2.must(201, "POST", "/v1/customers", "op-dist-a", map[string]any{"customer_id": "c-new", "name": "New", "partner_id": "dist-a"})
}

// TestDiskFullTmpfs fills a real, small tmpfs under the store: the failing write makes the store
// refuse every further write (503) while reads go on; after more space is given and the server
// restarted, everything acknowledged is there and the directory verifies. It needs root (mount).
func TestDiskFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs; TestDiskFaultsRefuseWritesKeepReads covers the refusal through the fault injector")
	}
	dir := t.TempDir()
	mnt := StoreDir(dir)
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); TestDiskFaultsRefuseWritesKeepReads covers the refusal through the fault injector", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	ts := startServerFull(t, dir, standardPrincipals, func(m *Main) { m.UnsafeNoSync = false }, []string{"--log-level", "info"})
	ts.setupHierarchy()
	type ackd struct{ id, state string }
	var acks []ackd
	full := false
	for i := 0; i < 20000 && !full; i++ {
		id := fmt.Sprintf("fill-%d", i)
		r := ts.call("POST", "/v1/customers", "op-dist-a", map[string]any{"customer_id": id, "name": strings.Repeat("n", 200), "partner_id": "dist-a", "account_manager": strings.Repeat("m", 120)})
		switch {
		case r.status == 201:
			acks = append(acks, ackd{id, "FROZEN"})
		case r.status == 503 && r.code() == "unavailable":
			full = true
		default:
			t.Fatalf("filling the disk: %d %s", r.status, r.body)
		}
	}
	if !full {
		t.Fatal("the 512 KiB tmpfs never filled up")
	}
	logs := ts.stderr.String()
	if !strings.Contains(logs, "commit failed") || !strings.Contains(logs, "no space left on device") {
		t.Errorf("no clear log line about the full disk:\n%s", logs)
	}
	// Every further write is refused until a restart (after a failed write the file's state is
	// unknown); reads go on.
	wantProblem(t, ts.call("POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "x", "unfreeze_type": "ACCOUNT"}), 503, "unavailable")
	wantFields(t, "c-a", ts.must(200, "GET", "/v1/customers/c-a/status", "rd-a", nil).json(t), "state", "FROZEN")
	ts.must(200, "GET", "/v1/customers/"+acks[len(acks)-1].id+"/status", "rd-a", nil)
	ts.shutdown()

	if out, err := exec.Command("mount", "-o", "remount,size=64m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	verifyDataDirOK(t, dir)
	ts2 := startServerIn(t, dir, nil, nil)
	ts2.tokens = ts.tokens
	for _, a := range acks {
		wantFields(t, a.id, ts2.must(200, "GET", "/v1/customers/"+a.id+"/status", "aud", nil).json(t), "state", a.state)
	}
	ts2.must(200, "POST", "/v1/customers/c-a/unfreeze", "op-dist-a", map[string]any{"reason": "space again", "unfreeze_type": "ACCOUNT"})
	t.Logf("tmpfs full after %d associations", len(acks))
}

// corruptAt rewrites, in dataDir's closed store, the stored value of the record at position pos with
// f (for example flipping a byte), below bbolt's page checks, as a disk or an attacker would.
func corruptAt(t *testing.T, dataDir string, pos uint64, f func(v []byte)) {
	t.Helper()
	path := filepath.Join(StoreDir(dataDir), embedded.FileName)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var value []byte
	if err := db.View(func(tx *bolt.Tx) error {
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], pos)
		v := tx.Bucket([]byte("events")).Get(k[:])
		if v == nil {
			return fmt.Errorf("no record at position %d", pos)
		}
		value = append([]byte(nil), v...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(raw, value)
	if i < 0 || bytes.Contains(raw[i+1:], value) {
		t.Fatalf("the record at position %d is not exactly once in the file", pos)
	}
	changed := append([]byte(nil), value...)
	f(changed)
	copy(raw[i:], changed)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// corruptionDir makes a data directory with some history and returns it with its head position.
func corruptionDir(t *testing.T) (string, map[string]string, uint64) {
	t.Helper()
	dir := t.TempDir()
	ts := startServerIn(t, dir, standardPrincipals, nil)
	ts.setupHierarchy()
	for i := 0; i < 10; i++ {
		ts.must(201, "POST", "/v1/customers", "op-dist-a", map[string]any{"customer_id": fmt.Sprintf("cc-%d", i), "name": "C", "partner_id": "dist-a"})
	}
	head := ts.head().Commit
	tokens := ts.tokens
	ts.shutdown()
	return dir, tokens, head
}

// serveFails runs serve on dir and returns its error; it must not start.
func serveFails(t *testing.T, dir string) error {
	t.Helper()
	var out, errs bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errs}
	if err := m.ParseFlags([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--log-level", "error"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	<-m.Ready()
	if m.Err() == nil {
		cancel()
		<-done
		m.Close()
		t.Fatal("serve started on a corrupted store")
	}
	err := <-done
	m.Close()
	return err
}

// verifyFails runs `freezeledger verify --data-dir` on dir; it must fail. It returns its output.
func verifyFails(t *testing.T, dir string) string {
	t.Helper()
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"verify", "--data-dir", dir}, &out, &errs); code == 0 {
		t.Fatalf("verify --data-dir passed a corrupted directory:\n%s", out.String())
	}
	return out.String() + errs.String()
}

// TestCorruptedStoreRefusesToStart: a byte flipped in the middle of the events, and a torn tail: the
// server refuses to start and names the file and position; verify --data-dir reports the same.
func TestCorruptedStoreRefusesToStart(t *testing.T) {
	t.Run("flipped byte in the middle", func(t *testing.T) {
		dir, _, head := corruptionDir(t)
		mid := head / 2
		corruptAt(t, dir, mid, func(v []byte) { v[len(v)/2] ^= 0x20 })
		file := filepath.Join(StoreDir(dir), embedded.FileName)
		where := fmt.Sprintf("position %d", mid)
		// Open's cheap checks see the tail only; the full check is verify. The server must refuse to
		// start or, if it starts, verify must catch it: here we require both to name the position.
		err := serveFails(t, dir)
		if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), where) {
			t.Errorf("serve's refusal does not say where: %v", err)
		}
		if out := verifyFails(t, dir); !strings.Contains(out, where) || !strings.Contains(out, file) {
			t.Errorf("verify does not say where:\n%s", out)
		}
	})
	t.Run("torn tail", func(t *testing.T) {
		dir, _, head := corruptionDir(t)
		corruptAt(t, dir, head, func(v []byte) {
			// The last record's bytes end early: its tail is zeros, as after a torn write.
			for i := len(v) * 2 / 3; i < len(v); i++ {
				v[i] = 0
			}
		})
		file := filepath.Join(StoreDir(dir), embedded.FileName)
		where := fmt.Sprintf("position %d", head)
		err := serveFails(t, dir)
		if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), where) {
			t.Errorf("serve's refusal does not say where: %v", err)
		}
		if out := verifyFails(t, dir); !strings.Contains(out, where) || !strings.Contains(out, file) {
			t.Errorf("verify does not say where:\n%s", out)
		}
	})
	t.Run("truncated file", func(t *testing.T) {
		dir, _, _ := corruptionDir(t)
		path := filepath.Join(StoreDir(dir), embedded.FileName)
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, st.Size()/3); err != nil {
			t.Fatal(err)
		}
		err = serveFails(t, dir)
		if !strings.Contains(err.Error(), path) {
			t.Errorf("serve's refusal does not name the file: %v", err)
		}
		if out := verifyFails(t, dir); !strings.Contains(out, path) {
			t.Errorf("verify does not name the file:\n%s", out)
		}
	})
}

// TestCorruptedWALRefusesToStart: the write-ahead log holds the acknowledged appends not yet
// checkpointed into bbolt. After a SIGKILL of the real binary, a byte flipped in the first of several
// frames of the last segment (not a torn tail: complete, synced frames follow it) makes serve refuse
// to start, naming the segment; verify --data-dir reports the same.
func TestCorruptedWALRefusesToStart(t *testing.T) {
	bin := buildBinary(t)
	for attempt := 0; attempt < 5; attempt++ {
		dir := t.TempDir()
		tokens := createPrincipals(t, dir, []testPrincipal{{"plat", "platform", ""}, {"op-dist-a", "partner", "dist-a"}, {"op-res-a1", "partner", "res-a1"}})
		p := startProc(t, bin, dir)
		c := newAPIClient("http://"+p.addr, tokens)
		setupChannel(t, c)
		for i := 0; i < 20; i++ {
			c.must(t, 201, "POST", "/v1/customers", "op-dist-a", map[string]any{"customer_id": fmt.Sprintf("w-%d", i), "name": "W", "partner_id": "dist-a"})
		}
		p.kill()
		c.close()
		seg, frames := lastSegment(t, StoreDir(dir))
		if len(frames) < 3 {
			continue // a checkpoint emptied the WAL just before the kill: try again
		}
		raw, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		at := frames[0] + 4 + 4 + 20 // inside the first frame's first record, past the lengths
		raw[at] ^= 0x01
		if err := os.WriteFile(seg, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(seg)
		err = serveFails(t, dir)
		if !strings.Contains(err.Error(), name) {
			t.Errorf("serve's refusal does not name the WAL segment %s: %v", name, err)
		}
		if out := verifyFails(t, dir); !strings.Contains(out, name) {
			t.Errorf("verify does not name the WAL segment %s:\n%s", name, out)
		}
		return
	}
	t.Fatal("the WAL never held 3 frames at the kill in 5 attempts")
}

// lastSegment returns dir's last WAL segment and the offsets of its frames.
func lastSegment(t *testing.T, dir string) (string, []int) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "wal-*"))
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for _, s := range segs {
		if !strings.HasSuffix(s, ".broken") && s > last {
			last = s
		}
	}
	if last == "" {
		return "", nil
	}
	raw, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	var frames []int
	for off := 0; off+4 <= len(raw); {
		n := int(binary.BigEndian.Uint32(raw[off:]))
		if n == 0 || off+4+n > len(raw) {
			break
		}
		frames = append(frames, off)
		off += 4 + n
	}
	return last, frames
}
