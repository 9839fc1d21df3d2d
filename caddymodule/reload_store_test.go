package caddymodule_test

import (
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/caddymcp/gateway/internal/testenv"
)

// TestConfigReloadKeepsStore reloads the same and a changed config while
// the store is in use: data stays, writes keep working, sessions survive,
// and goroutines do not pile up.
func TestConfigReloadKeepsStore(t *testing.T) {
	opts := testenv.Options{}
	c := testenv.StartCaddy(t, opts)
	wantStatus(t, "register", c.Do("POST", "/api/servers", weather()), http.StatusCreated)
	login := c.DoAnon("POST", "/api/login", map[string]string{"username": testenv.User, "password": testenv.Password})
	cookie := (&http.Response{Header: login.Header}).Cookies()[0]

	changed := testenv.Options{Registry: "health_interval 45s\nsession_ttl 1h"}
	baseline := -1
	for i := range 8 {
		next := opts
		if i%2 == 1 {
			next = changed
		}
		if err := c.Load(next); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		r := c.Do("GET", "/api/servers/weather", nil)
		wantStatus(t, "read after reload", r, http.StatusOK)
		if i == 1 {
			baseline = settledGoroutines()
		}
	}
	second := weather()
	second["path"] = "/after-reload"
	wantStatus(t, "write after reloads", c.Do("POST", "/api/servers", second), http.StatusCreated)

	req, _ := http.NewRequest("GET", c.BaseURL+"/api/servers", nil)
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("session cookie after reloads: %d", resp.StatusCode)
	}

	if n := settledGoroutines(); n > baseline+5 {
		t.Fatalf("goroutines grew from %d to %d over 6 reloads", baseline, n)
	}
}

// settledGoroutines counts goroutines after giving finished ones a moment
// to exit.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			break
		}
		n = m
	}
	return n
}
