package verification

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/freezeledger/freezeledger/internal/atomicfile"
)

// The lockout of rule 19: MaxFailures wrong codes within FailureWindow lock a principal's critical
// operations for Lockout.
const (
	MaxFailures   = 5
	FailureWindow = 5 * time.Minute
	Lockout       = 15 * time.Minute
)

// Errors of Verify, Confirm and Enrol. A *LockedError is returned while a principal is locked out.
var (
	ErrWrongCode   = errors.New("the verification code is wrong")
	ErrReplayed    = errors.New("the verification code was already used (each code is accepted once)")
	ErrNotEnrolled = errors.New("no confirmed TOTP enrolment: enrol (POST /v1/principals/self/totp) and confirm it first")
	ErrNoPending   = errors.New("no TOTP enrolment awaits confirmation: enrol first (POST /v1/principals/self/totp)")
	ErrCodeNeeded  = errors.New("replacing an active TOTP enrolment needs a valid code of it (X-Verification-Code)")
)

// LockedError: the principal gave MaxFailures wrong codes within FailureWindow and is locked out
// until Until.
type LockedError struct{ Until time.Time }

func (e *LockedError) Error() string {
	return "too many wrong verification codes: critical operations are locked until " + e.Until.UTC().Format(time.RFC3339)
}

// Options configure a Store.
type Options struct {
	Now    func() time.Time // default time.Now
	Issuer string           // the otpauth URI's issuer; default "freezeledger"
}

// Store holds the enrolments of one directory. It is safe for concurrent use, and several Stores
// (in one process or several) may share a directory: every operation is ordered by the directory's
// flock, and reads the state from disk under it.
type Store struct {
	dir    string
	seal   *sealer
	now    func() time.Time
	issuer string
	mu     sync.Mutex // orders this Store's own operations (flock does not exclude within one open file)
	lock   *os.File
	view   atomic.Pointer[lockoutView] // the lockouts of the state file as last read (lockouts.go)
}

const stateFile = "state.json"

// state is state.json.
type state struct {
	Principals map[string]*principalState `json:"principals"`
}

type principalState struct {
	Active      string  `json:"active,omitempty"`  // sealed secret of the confirmed enrolment
	Pending     string  `json:"pending,omitempty"` // sealed secret awaiting confirmation
	LastStep    int64   `json:"last_step,omitempty"`
	Failures    []int64 `json:"failures,omitempty"` // Unix ns of recent wrong codes
	LockedUntil int64   `json:"locked_until,omitempty"`
}

// Open opens (creating it, mode 0700, with its key) the store in dir.
func Open(dir string, o Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("verification directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("verification directory: %w", err)
	}
	s := &Store{dir: dir, now: o.Now, issuer: o.Issuer, lock: lock}
	if s.now == nil {
		s.now = time.Now
	}
	if s.issuer == "" {
		s.issuer = "freezeledger"
	}
	if err := s.locked(false, func() error {
		var err error
		s.seal, err = loadSealer(dir)
		return err
	}); err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// Close releases the store's lock file.
func (s *Store) Close() error { return s.lock.Close() }

// locked runs f under the process mutex and the directory's flock (shared for reads).
func (s *Store) locked(shared bool, f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := flock(s.lock, shared); err != nil {
		return fmt.Errorf("verification lock: %w", err)
	}
	defer funlock(s.lock)
	return f()
}

func (s *Store) read() (*state, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, stateFile))
	st := &state{Principals: map[string]*principalState{}}
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("verification state: %w", err)
	}
	return parseState(b, filepath.Join(s.dir, stateFile))
}

// parseState decodes the state file's bytes b, read from path.
func parseState(b []byte, path string) (*state, error) {
	st := &state{}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("verification state %s: %w", path, err)
	}
	if st.Principals == nil {
		st.Principals = map[string]*principalState{}
	}
	return st, nil
}

func (s *Store) write(st *state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, stateFile), b, 0o600); err != nil {
		return fmt.Errorf("verification state: %w", err)
	}
	return nil
}

// update runs f on principal's state under the exclusive lock and writes the state back when f
// says so (changed), also when f returns an error (a wrong code is recorded).
func (s *Store) update(principal string, f func(p *principalState, now time.Time) (changed bool, err error)) error {
	return s.locked(false, func() error {
		st, err := s.read()
		if err != nil {
			return err
		}
		p := st.Principals[principal]
		if p == nil {
			p = &principalState{}
			st.Principals[principal] = p
		}
		now := s.now()
		changed, ferr := f(p, now)
		if changed {
			if p.Active == "" && p.Pending == "" && p.LockedUntil == 0 && len(p.Failures) == 0 && p.LastStep == 0 {
				delete(st.Principals, principal)
			}
			err := s.write(st)
			s.view.Store(nil) // the lockouts' view, if any, is of the file before this write
			if err != nil {
				return err
			}
		}
		return ferr
	})
}

// lockedOut reports p's lockout at now (clearing an expired one).
func lockedOut(p *principalState, now time.Time) error {
	if p.LockedUntil != 0 && now.UnixNano() < p.LockedUntil {
		return &LockedError{Until: time.Unix(0, p.LockedUntil)}
	}
	return nil
}

// fail records a wrong code at now; the MaxFailures-th within FailureWindow locks p for Lockout.
func fail(p *principalState, now time.Time) error {
	keep := p.Failures[:0]
	for _, f := range p.Failures {
		if now.UnixNano()-f < int64(FailureWindow) {
			keep = append(keep, f)
		}
	}
	p.Failures = append(keep, now.UnixNano())
	if len(p.Failures) >= MaxFailures {
		p.Failures, p.LockedUntil = nil, now.Add(Lockout).UnixNano()
		return &LockedError{Until: now.Add(Lockout)}
	}
	return ErrWrongCode
}

// check verifies code against the sealed secret of p for principal: accepted once (its step must
// be after the last accepted one), a wrong code recorded.
func (s *Store) check(principal string, p *principalState, sealed, code string, now time.Time) error {
	secret, err := s.seal.open(principal, sealed)
	if err != nil {
		return err
	}
	step, ok, err := matchStep(secret, code, now)
	if err != nil {
		return err
	}
	if !ok {
		return fail(p, now)
	}
	if step <= p.LastStep {
		return ErrReplayed
	}
	p.LastStep = step
	return nil
}

// Verify checks a code of principal's confirmed enrolment for a critical operation: nil once (the
// code, and every earlier step's, is then used up), ErrReplayed for a code already used,
// ErrWrongCode (recorded), ErrNotEnrolled, or a *LockedError.
func (s *Store) Verify(principal, code string) error {
	return s.update(principal, func(p *principalState, now time.Time) (bool, error) {
		if err := lockedOut(p, now); err != nil {
			return false, err
		}
		if p.Active == "" {
			return false, ErrNotEnrolled
		}
		err := s.check(principal, p, p.Active, code, now)
		return !errors.Is(err, ErrReplayed), err
	})
}

// Enrollment is a new TOTP secret (base32) and its otpauth:// URI: shown once.
type Enrollment struct {
	Secret string
	URI    string
}

// Enrol makes a new secret for principal, pending until Confirm. Replacing an active enrolment
// needs a valid code of it (code; ErrCodeNeeded without one); a pending one is simply replaced.
func (s *Store) Enrol(principal, code string) (Enrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer, AccountName: principal, Period: uint(Period / time.Second),
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, SecretSize: 20})
	if err != nil {
		return Enrollment{}, fmt.Errorf("new TOTP secret: %w", err)
	}
	sealed, err := s.seal.seal(principal, key.Secret())
	if err != nil {
		return Enrollment{}, fmt.Errorf("sealing a TOTP secret: %w", err)
	}
	err = s.update(principal, func(p *principalState, now time.Time) (bool, error) {
		if err := lockedOut(p, now); err != nil {
			return false, err
		}
		if p.Active != "" {
			if code == "" {
				return false, ErrCodeNeeded
			}
			if err := s.check(principal, p, p.Active, code, now); err != nil {
				return !errors.Is(err, ErrReplayed), err
			}
		}
		p.Pending = sealed
		return true, nil
	})
	if err != nil {
		return Enrollment{}, err
	}
	return Enrollment{Secret: key.Secret(), URI: key.URL()}, nil
}

// Confirm activates principal's pending enrolment with a first code of it.
func (s *Store) Confirm(principal, code string) error {
	return s.update(principal, func(p *principalState, now time.Time) (bool, error) {
		if err := lockedOut(p, now); err != nil {
			return false, err
		}
		if p.Pending == "" {
			return false, ErrNoPending
		}
		if err := s.check(principal, p, p.Pending, code, now); err != nil {
			return !errors.Is(err, ErrReplayed), err
		}
		p.Active, p.Pending = p.Pending, ""
		return true, nil
	})
}

// Locked returns principal's lockout (a *LockedError) or nil. It is asked on every critical
// write without a code, so it reads the state file only when the file changed since the last read
// (lockouts.go): a stat, no lock, in the common case.
func (s *Store) Locked(principal string) error {
	lo, err := s.lockouts()
	if err != nil {
		return err
	}
	if until, ok := lo.until[principal]; ok && s.now().UnixNano() < until {
		return &LockedError{Until: time.Unix(0, until)}
	}
	return nil
}

// Active reports whether principal has a confirmed enrolment.
func (s *Store) Active(principal string) (bool, error) {
	var on bool
	err := s.locked(true, func() error {
		st, err := s.read()
		if err != nil {
			return err
		}
		p := st.Principals[principal]
		on = p != nil && p.Active != ""
		return nil
	})
	return on, err
}
