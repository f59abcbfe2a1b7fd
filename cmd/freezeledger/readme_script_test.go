package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the repository's top directory, seen from this package's directory (where go test
// runs its tests).
const repoRoot = "../.."

// readmeBlock returns the fenced code block of README.md between <!-- name:begin --> and
// <!-- name:end -->, without its fences.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	readme := readFile(t, filepath.Join(repoRoot, "README.md"))
	_, rest, ok := strings.Cut(readme, "<!-- "+name+":begin -->")
	if !ok {
		t.Fatalf("README.md has no <!-- %s:begin --> marker", name)
	}
	block, _, ok := strings.Cut(rest, "<!-- "+name+":end -->")
	if !ok {
		t.Fatalf("README.md has no <!-- %s:end --> marker", name)
	}
	block = strings.TrimSpace(block)
	first, body, _ := strings.Cut(block, "\n")
	if !strings.HasPrefix(first, "```") || !strings.HasSuffix(body, "```") {
		t.Fatalf("README.md's %s block is not one fenced code block:\n%s", name, block)
	}
	return strings.TrimSuffix(body, "```")
}

// copyRepo copies the repository's files as a clone would have them (tracked ones, and new ones
// that .gitignore does not exclude, as they are in the working tree) into a fresh git repository
// in a temporary directory, with everything staged: afterwards `git status` lists exactly what the
// test created that .gitignore does not cover.
func copyRepo(t *testing.T) string {
	t.Helper()
	list, err := exec.Command("git", "-C", repoRoot, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	dst := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(repoRoot, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(filepath.Join(repoRoot, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dst
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v in the copy: %v\n%s", args, err, out)
		}
	}
	return dst
}

// freePort returns a port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestQuickstart runs the README's quickstart block, exactly as written, with bash in a copy of the
// repository, after the README's first command (serve --data-dir ./data) has run there, so in the
// order a newcomer takes. The block runs under set -e: any command that fails fails the test.
// Afterwards every file the quickstart left must be covered by .gitignore.
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the quickstart builds the binary and runs the demo (about half a minute)")
	}
	for _, tool := range []string{"bash", "curl", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the quickstart needs %s, which is not installed (.ci/run installs curl)", tool)
		}
	}
	script := readmeBlock(t, "quickstart")
	repo := copyRepo(t)

	// The README's first command: go run ./cmd/freezeledger serve --data-dir ./data
	first := startServerIn(t, filepath.Join(repo, "data"), nil, nil)
	if !strings.Contains(first.stdout.String(), "platform-admin token") {
		t.Errorf("serve on a fresh ./data printed no token: %q", first.stdout.String())
	}
	first.shutdown()

	scriptFile := filepath.Join(t.TempDir(), "quickstart.sh")
	if err := os.WriteFile(scriptFile, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", scriptFile)
	cmd.Dir = repo
	// -trimpath lets the script's go build reuse the build cache although the copy is in another
	// directory each time; the script itself is run as written.
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(freePort(t)), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -trimpath"))
	// Its own process group, so that whatever it started is stopped too if the test gives up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // nothing should be left; if something is, stop it
	}
	if err != nil {
		t.Fatalf("the README's quickstart failed (%v); its output:\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{"demo data in ./demo-data", `"customer_id":"cust-rn2-001"`, `"allowed":false`,
		"bundle ./bundle", "verified: ", "ok: read models (equal to a rebuild)",
		`"mobile":"+447700900002"`, `"personal_data_erased":true`} {
		if !strings.Contains(text, want) {
			t.Errorf("the quickstart's output lacks %q:\n%s", want, text)
		}
	}
	if exp, err := os.ReadFile(filepath.Join(repo, "export.jsonl")); err != nil || bytes.Count(exp, []byte("\n")) < 1000 {
		t.Errorf("export.jsonl: %d lines, %v", bytes.Count(exp, []byte("\n")), err)
	}
	if key, err := os.ReadFile(filepath.Join(repo, "public-key.txt")); err != nil || !bytes.HasPrefix(key, []byte("freezeledger")) {
		t.Errorf("public-key.txt: %q, %v", key, err)
	}

	status := exec.Command("git", "status", "--porcelain", "--untracked-files=all")
	status.Dir = repo
	left, err := status.Output()
	if err != nil {
		t.Fatalf("git status: %v", err)
	}
	var untracked []string
	for _, line := range strings.Split(string(left), "\n") {
		if strings.HasPrefix(line, "?? ") {
			untracked = append(untracked, strings.TrimPrefix(line, "?? "))
		}
	}
	if len(untracked) > 0 {
		t.Errorf("the quickstart left files that .gitignore does not cover: %s", strings.Join(untracked, ", "))
	}
}
