package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// session is one login. Its secret never leaves the process.
type session struct {
	id        string
	accessKey string
	secretKey string
	account   string
	admin     bool
	csrf      string
	expires   time.Time
	clients   *clients
}

// sessions is the server-side store: opaque IDs to logins, each with an absolute expiry.
type sessions struct {
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex
	byID map[string]*session
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{ttl: ttl, now: time.Now, byID: map[string]*session{}}
}

// randomToken is 32 random bytes, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on a working system
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// create stores s under a new ID and CSRF token, and forgets expired sessions.
func (st *sessions) create(s *session) *session {
	s.id, s.csrf = randomToken(), randomToken()
	now := st.now()
	s.expires = now.Add(st.ttl)
	st.mu.Lock()
	defer st.mu.Unlock()
	for id, o := range st.byID {
		if !now.Before(o.expires) {
			delete(st.byID, id)
		}
	}
	st.byID[s.id] = s
	return s
}

// get is the live session id names, or nil.
func (st *sessions) get(id string) *session {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.byID[id]
	if s == nil {
		return nil
	}
	if !st.now().Before(s.expires) {
		delete(st.byID, id)
		return nil
	}
	return s
}

func (st *sessions) remove(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.byID, id)
}

// len is how many sessions are stored, live or not yet swept.
func (st *sessions) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.byID)
}

// csrfOK tells whether token is s's CSRF token, in constant time.
func (s *session) csrfOK(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) == 1
}
