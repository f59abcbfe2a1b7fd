package verification

import (
	"encoding/base32"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRule19_RFC6238Vectors: the codes are RFC 6238's SHA-1 test vectors (Appendix B; the 6-digit
// code is the last six digits of the 8-digit one: both are the truncated value modulo 10^digits).
func TestRule19_RFC6238Vectors(t *testing.T) {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
	} {
		got, err := Code(secret, Step(time.Unix(v.unix, 0)))
		if err != nil {
			t.Fatal(err)
		}
		if want := v.code[2:]; got != want {
			t.Errorf("T=%d: code %s, want %s (RFC 6238 %s)", v.unix, got, want, v.code)
		}
	}
}

// clock is a settable clock for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newStore(t *testing.T, dir string, c *clock) *Store {
	t.Helper()
	s, err := Open(dir, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := Code(secret, Step(at))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolled enrols and confirms principal, returning its secret.
func enrolled(t *testing.T, s *Store, c *clock, principal string) string {
	t.Helper()
	e, err := s.Enrol(principal, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URI, "otpauth://totp/") || !strings.Contains(e.URI, "secret="+e.Secret) {
		t.Fatalf("otpauth URI %q does not carry the secret", e.URI)
	}
	if err := s.Confirm(principal, codeAt(t, e.Secret, c.now())); err != nil {
		t.Fatal(err)
	}
	c.add(Period) // the confirming code is used: the next one is a step later
	return e.Secret
}

func TestRule19_EnrolConfirmVerify(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	s := newStore(t, t.TempDir(), c)
	if err := s.Verify("ops", "123456"); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("before enrolment: %v, want ErrNotEnrolled", err)
	}
	e, err := s.Enrol("ops", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify("ops", codeAt(t, e.Secret, c.now())); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("a pending enrolment verifies nothing: %v", err)
	}
	if err := s.Confirm("ops", codeAt(t, e.Secret, c.now())); err != nil {
		t.Fatal(err)
	}
	c.add(Period)
	code := codeAt(t, e.Secret, c.now())
	if err := s.Verify("ops", code); err != nil {
		t.Fatalf("a fresh code: %v", err)
	}
	if err := s.Verify("ops", code); !errors.Is(err, ErrReplayed) {
		t.Fatalf("the same code again: %v, want ErrReplayed", err)
	}
	// One step of drift either way; two are refused.
	c.add(10 * Period)
	if err := s.Verify("ops", codeAt(t, e.Secret, c.now().Add(-Period))); err != nil {
		t.Fatalf("a code one step behind: %v", err)
	}
	c.add(10 * Period)
	if err := s.Verify("ops", codeAt(t, e.Secret, c.now().Add(Period))); err != nil {
		t.Fatalf("a code one step ahead: %v", err)
	}
	c.add(10 * Period)
	if err := s.Verify("ops", codeAt(t, e.Secret, c.now().Add(-2*Period))); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("a code two steps behind: %v, want ErrWrongCode", err)
	}
	// Replacing the active enrolment needs its code.
	if _, err := s.Enrol("ops", ""); !errors.Is(err, ErrCodeNeeded) {
		t.Fatalf("re-enrolment without a code: %v", err)
	}
	c.add(Period)
	e2, err := s.Enrol("ops", codeAt(t, e.Secret, c.now()))
	if err != nil {
		t.Fatal(err)
	}
	c.add(Period)
	if err := s.Verify("ops", codeAt(t, e.Secret, c.now())); err != nil {
		t.Fatalf("the old enrolment stays active until the new one is confirmed: %v", err)
	}
	c.add(Period)
	if err := s.Confirm("ops", codeAt(t, e2.Secret, c.now())); err != nil {
		t.Fatal(err)
	}
	c.add(Period)
	if err := s.Verify("ops", codeAt(t, e.Secret, c.now())); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("the replaced secret: %v, want ErrWrongCode", err)
	}
}

// TestRule19_OneCodeOnceUnderConcurrency: 50 concurrent uses of one code, through two Stores on
// one directory (two instances): exactly one succeeds, the others are replays.
func TestRule19_OneCodeOnceUnderConcurrency(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	a, b := newStore(t, dir, c), newStore(t, dir, c)
	secret := enrolled(t, a, c, "ops")
	code := codeAt(t, secret, c.now())
	var ok, replayed atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			switch err := s.Verify("ops", code); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrReplayed):
				replayed.Add(1)
			default:
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || replayed.Load() != 49 {
		t.Fatalf("%d accepted, %d replays; want 1 and 49", ok.Load(), replayed.Load())
	}
}

// TestRule19_LockoutAndRestart: five wrong codes within 5 minutes lock for 15 minutes, also a
// correct code; the lockout and the used codes survive reopening the directory.
func TestRule19_LockoutAndRestart(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	s := newStore(t, dir, c)
	secret := enrolled(t, s, c, "ops")
	used := codeAt(t, secret, c.now())
	if err := s.Verify("ops", used); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = newStore(t, dir, c)
	if err := s.Verify("ops", used); !errors.Is(err, ErrReplayed) {
		t.Fatalf("a used code after a restart: %v, want ErrReplayed", err)
	}
	// Four wrong codes, then one older than 5 minutes falls out of the window.
	for range 4 {
		if err := s.Verify("ops", "000000"); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("wrong code: %v", err)
		}
	}
	c.add(FailureWindow + time.Second)
	for range 4 {
		if err := s.Verify("ops", "000000"); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("wrong code in a fresh window: %v", err)
		}
	}
	var le *LockedError
	if err := s.Verify("ops", "000000"); !errors.As(err, &le) || !le.Until.Equal(c.now().Add(Lockout)) {
		t.Fatalf("the fifth wrong code within 5 minutes: %v, want a lockout until %s", err, c.now().Add(Lockout))
	}
	s.Close()
	s = newStore(t, dir, c)
	c.add(Lockout - time.Second)
	if err := s.Locked("ops"); !errors.As(err, &le) {
		t.Fatalf("after a restart, within 15 minutes: %v, want locked", err)
	}
	if err := s.Verify("ops", codeAt(t, secret, c.now())); !errors.As(err, &le) {
		t.Fatalf("a correct code while locked: %v, want locked", err)
	}
	c.add(time.Second)
	if err := s.Locked("ops"); err != nil {
		t.Fatalf("after 15 minutes: %v", err)
	}
	if err := s.Verify("ops", codeAt(t, secret, c.now())); err != nil {
		t.Fatalf("a correct code after the lockout: %v", err)
	}
}

// TestRule19_SecretsSealedAtRest: no file of the directory holds the secret in clear text, the
// files are 0600, and a store with another key cannot open it.
func TestRule19_SecretsSealedAtRest(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	s := newStore(t, dir, c)
	secret := enrolled(t, s, c, "ops")
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), secret) || strings.Contains(string(b), string(raw)) {
			t.Errorf("%s holds the secret in clear text", e.Name())
		}
		if fi, _ := e.Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
	}
	if err := os.WriteFile(filepath.Join(dir, keyFile), make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	other := newStore(t, dir, c)
	err = other.Verify("ops", codeAt(t, secret, c.now()))
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("another key: %v; want a refusal that does not show the secret", err)
	}
}

// TestLockedSeesEveryWrite: Locked answers from a cached view of the state file, which must follow
// every change of it: this Store's own wrong codes, and another Store's (another instance sharing
// the directory) lockout and its end, with Locked asked between each.
func TestLockedSeesEveryWrite(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	a := newStore(t, dir, c)
	b := newStore(t, dir, c)
	enrolled(t, a, c, "ops")
	var le *LockedError
	for i := range MaxFailures {
		if err := a.Locked("ops"); err != nil {
			t.Fatalf("after %d wrong codes: %v, want not locked", i, err)
		}
		_ = b.Verify("ops", "000000") // recorded by the other instance
	}
	if err := a.Locked("ops"); !errors.As(err, &le) {
		t.Fatalf("after the other instance's %d wrong codes: %v, want locked", MaxFailures, err)
	}
	if err := a.Locked("other"); err != nil {
		t.Fatalf("another principal: %v", err)
	}
	c.add(Lockout)
	if err := a.Locked("ops"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	for range MaxFailures {
		_ = a.Verify("ops", "000000")
	}
	if err := b.Locked("ops"); !errors.As(err, &le) {
		t.Fatalf("the other instance after this one's wrong codes: %v, want locked", err)
	}
	if err := a.Locked("ops"); !errors.As(err, &le) {
		t.Fatalf("this instance after its own wrong codes: %v, want locked", err)
	}
}
