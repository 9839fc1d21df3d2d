package registryapp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"
)

// sessionCookie is the name of the browser session cookie.
const sessionCookie = "mcpgw_session"

// secret is a password or token kept only as a salted SHA-256 hash and
// compared in constant time.
type secret struct {
	salt [16]byte
	hash [32]byte
}

func newSecret(plain string) secret {
	var s secret
	_, _ = rand.Read(s.salt[:])
	s.hash = s.sum(plain)
	return s
}

func (s secret) sum(plain string) [32]byte {
	h := sha256.New()
	h.Write(s.salt[:])
	h.Write([]byte(plain))
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func (s secret) matches(plain string) bool {
	got := s.sum(plain)
	return subtle.ConstantTimeCompare(got[:], s.hash[:]) == 1
}

// authenticator checks the credentials of a request: HTTP Basic with the
// admin credentials, the session cookie, or a bearer API token.
type authenticator struct {
	user     string
	password secret
	tokens   []secret
	sessions *sessionStore
	ttl      time.Duration
}

// checkPassword reports whether user and password are the admin's.
func (a *authenticator) checkPassword(user, password string) bool {
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.user)) == 1
	return a.password.matches(password) && userOK
}

// authenticated reports whether the request carries valid credentials.
func (a *authenticator) authenticated(r *http.Request) bool {
	if user, pass, ok := r.BasicAuth(); ok {
		return a.checkPassword(user, pass)
	}
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = strings.TrimSpace(token)
		for _, t := range a.tokens {
			if t.matches(token) {
				return true
			}
		}
		return false
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return a.sessions.valid(c.Value)
	}
	return false
}

// login starts a new session (a new id at every login) and sets its cookie.
func (a *authenticator) login(w http.ResponseWriter, r *http.Request) {
	id := a.sessions.create(a.ttl)
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/",
		MaxAge:   int(a.ttl.Seconds()),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

// logout ends the request's session on the server and clears the cookie.
func (a *authenticator) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

// sessionStore holds browser sessions in memory; it lives in the pooled
// Registry so that logins survive config reloads.
type sessionStore struct {
	mu       sync.Mutex
	sessions map[string]time.Time // id -> expiry
}

func newSessionStore() *sessionStore {
	return &sessionStore{sessions: make(map[string]time.Time)}
}

func (s *sessionStore) create(ttl time.Duration) string {
	id := randomString(32)
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, exp := range s.sessions {
		if now.After(exp) {
			delete(s.sessions, k)
		}
	}
	s.sessions[id] = now.Add(ttl)
	return id
}

func (s *sessionStore) valid(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.sessions[id]
	if ok && time.Now().After(exp) {
		delete(s.sessions, id)
		return false
	}
	return ok
}

func (s *sessionStore) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, id)
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// generatedPassword is made once per process when no admin password is
// configured, so that config reloads keep it.
var generatedPassword = sync.OnceValue(func() string { return randomString(18) })
