package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/freezeledger/freezeledger/httpapi"
)

// session is a signed-in browser. The token is the principal's bearer token, held in memory only
// so that the console can call the API as that principal; it never leaves the process.
type session struct {
	id        string
	token     string
	principal httpapi.Principal
	csrf      string
	created   time.Time
	seen      time.Time
	flash     *flash
}

// flash is the message of the last action, shown once on the next page (role="status").
type flash struct {
	OK      bool
	Text    string
	Results []batchRow // per-customer results of a batch action
}

// batchRow is one customer's result in a batch action.
type batchRow struct {
	CustomerID string
	OK         bool
	Detail     string
}

// sessionStore holds the sessions of this process. It is safe for concurrent use. A session expires
// after idle without a request and after max in all, whichever comes first; expired sessions are
// dropped when looked up and swept when sessions are created.
type sessionStore struct {
	mu    sync.Mutex
	m     map[string]*session
	idle  time.Duration
	max   time.Duration
	now   func() time.Time
	limit int
}

func newSessionStore(idle, max time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{m: map[string]*session{}, idle: idle, max: max, now: now, limit: 100000}
}

// randomToken is 32 bytes from crypto/rand, base64url.
func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("console: crypto/rand failed: " + err.Error()) // never on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for principal p signed in with token.
func (s *sessionStore) create(token string, p httpapi.Principal) session {
	now := s.now()
	ss := &session{id: randomToken(), token: token, principal: p, csrf: randomToken(), created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, o := range s.m {
		if s.expired(o, now) {
			delete(s.m, id)
		}
	}
	if len(s.m) >= s.limit {
		// Full of live sessions: drop the least recently used one rather than refuse to sign in.
		var oldest *session
		for _, o := range s.m {
			if oldest == nil || o.seen.Before(oldest.seen) {
				oldest = o
			}
		}
		delete(s.m, oldest.id)
	}
	s.m[ss.id] = ss
	return *ss
}

func (s *sessionStore) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.seen) >= s.idle || now.Sub(ss.created) >= s.max
}

// get returns the live session id names and marks it used; an expired one is ended.
func (s *sessionStore) get(id string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[id]
	if !ok {
		return session{}, false
	}
	now := s.now()
	if s.expired(ss, now) {
		delete(s.m, id)
		return session{}, false
	}
	ss.seen = now
	return *ss, true
}

// alive reports whether session id is live, without marking it used (a live stream does not keep its
// session from expiring).
func (s *sessionStore) alive(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[id]
	return ok && !s.expired(ss, s.now())
}

// setPrincipal records what the session's token identifies now (the principals file may have changed).
func (s *sessionStore) setPrincipal(id string, p httpapi.Principal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.m[id]; ok {
		ss.principal = p
	}
}

// end ends a session (sign-out, or its principal is gone).
func (s *sessionStore) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// setFlash keeps a message for the session's next page.
func (s *sessionStore) setFlash(id string, f *flash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.m[id]; ok {
		ss.flash = f
	}
}

// takeFlash returns and forgets the session's message.
func (s *sessionStore) takeFlash(id string) *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[id]
	if !ok {
		return nil
	}
	f := ss.flash
	ss.flash = nil
	return f
}

// len is the number of sessions held (live or not yet swept).
func (s *sessionStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// sameToken compares two secrets in constant time.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
