package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/coder/websocket"

	"github.com/caddymcp/gateway/internal/testenv"
	"github.com/caddymcp/gateway/registryapp"
)

// feedMsg is a message of the WebSocket feed.
type feedMsg struct {
	Type       string                  `json:"type"`
	Servers    []registryapp.Server    `json:"servers"`
	Server     *registryapp.Server     `json:"server"`
	Path       string                  `json:"path"`
	Stats      map[string]any          `json:"stats"`
	ToolChange *registryapp.ToolChange `json:"tool_change"`
}

// feedConn is a WebSocket client of the feed whose messages arrive on a
// channel.
type feedConn struct {
	conn *websocket.Conn
	msgs chan feedMsg
}

// dialFeed opens /ws with the admin's credentials and origin (none if
// empty), and reads messages in the background until the test ends.
func dialFeed(t *testing.T, c *testenv.Caddy, origin string) *feedConn {
	t.Helper()
	conn, resp, err := dialWS(c, origin)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dialing /ws: %v (status %d)", err, status)
	}
	conn.SetReadLimit(16 << 20)
	f := &feedConn{conn: conn, msgs: make(chan feedMsg, 1024)}
	go func() {
		defer close(f.msgs)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var m feedMsg
			if json.Unmarshal(data, &m) == nil {
				f.msgs <- m
			}
		}
	}()
	t.Cleanup(func() { conn.CloseNow() })
	return f
}

func dialWS(c *testenv.Caddy, origin string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	h.Set("Authorization", "Basic YWRtaW46dGVzdC1wYXNzd29yZA==") // admin:test-password
	if origin != "" {
		h.Set("Origin", origin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.BaseURL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: h})
}

// readUntil returns the first message that match accepts.
func readUntil(t *testing.T, f *feedConn, timeout time.Duration, match func(feedMsg) bool) feedMsg {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-f.msgs:
			if !ok {
				t.Fatal("feed closed")
			}
			if match(m) {
				return m
			}
		case <-timer.C:
			t.Fatalf("no matching feed message within %s", timeout)
		}
	}
}

func TestFeedSnapshotAndToggle(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: "health_interval 1h"})
	register(t, c, "/alpha", "http://127.0.0.1:9", "streamable-http")

	f := dialFeed(t, c, c.BaseURL) // a browser on the site itself
	snap := readUntil(t, f, 2*time.Second, func(m feedMsg) bool { return m.Type == "snapshot" })
	if len(snap.Servers) != 1 || snap.Servers[0].Path != "/alpha" {
		t.Fatalf("snapshot = %+v", snap.Servers)
	}

	start := time.Now()
	if r := c.Do("POST", "/api/servers/alpha/disable", nil); r.Status != http.StatusOK {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	m := readUntil(t, f, time.Second, func(m feedMsg) bool {
		return m.Type == "server_updated" && m.Server != nil && !m.Server.Enabled
	})
	if m.Server.Path != "/alpha" || m.Server.Health.Status != "disabled" {
		t.Errorf("server_updated = %+v", m.Server)
	}
	t.Logf("toggle reached the feed after %s", time.Since(start))

	readUntil(t, f, 2*time.Second, func(m feedMsg) bool {
		return m.Type == "stats" && m.Stats["disabled"] == float64(1)
	})
	c.Do("DELETE", "/api/servers/alpha", nil)
	readUntil(t, f, time.Second, func(m feedMsg) bool { return m.Type == "server_removed" && m.Path == "/alpha" })
}

func TestFeedRefusesForeignOriginAndAnonymous(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: "health_interval 1h\n\t\tallowed_origins https://ui.example.com"})
	_, resp, err := dialWS(c, "https://evil.example.com")
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: err %v, response %v; want 403", err, resp)
	}
	conn, _, err := dialWS(c, "https://ui.example.com")
	if err != nil {
		t.Fatalf("allowed origin: %v", err)
	}
	defer conn.CloseNow()
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer rcancel()
	_, first, err := conn.Read(rctx)
	if err != nil || string(first) != `{"type":"snapshot","servers":[]}` {
		t.Errorf("first message of an empty registry = %s, %v", first, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err = websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.BaseURL, "http")+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous: err %v, response %v; want 401", err, resp)
	}
}

func TestReloadAndShutdownLeaveNoGoroutine(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: fastHealth})
	for i := range 3 {
		b := testenv.StartBackend(t, []string{testenv.Streamable, testenv.SSE, testenv.Stateless}[i], testenv.NewMCPServer("b"))
		register(t, c, fmt.Sprintf("/b%d", i), b.URL, []string{"streamable-http", "sse", "streamable-http"}[i])
	}
	register(t, c, "/down", "http://127.0.0.1:9", "auto")
	for i := range 3 {
		waitHealth(t, c, fmt.Sprintf("b%d", i), "healthy", 1, 5*time.Second)
	}

	reload := func(interval string) {
		t.Helper()
		if err := c.Load(testenv.Options{Registry: "health_interval " + interval + "\n\t\thealth_timeout 1s"}); err != nil {
			t.Fatalf("reload: %v", err)
		}
	}
	// checkedSince waits for a check of /down by the new generation.
	checkedSince := func(at time.Time) {
		t.Helper()
		waitFor(t, 5*time.Second, func() (bool, string) {
			h := record(t, c, "down").Health
			return h.CheckedAt != nil && h.CheckedAt.After(at), "no check of /down since the reload"
		})
	}
	at := time.Now()
	reload("1h")
	checkedSince(at)
	http.DefaultClient.CloseIdleConnections()
	baseline := runtime.NumGoroutine()

	for i := range 4 {
		f := dialFeed(t, c, "")
		readUntil(t, f, 2*time.Second, func(m feedMsg) bool { return m.Type == "snapshot" })
		at := time.Now()
		reload([]string{"2h", "1h"}[i%2])
		// The reload closes the feed's connection with "going away".
		select {
		case _, ok := <-f.msgs:
			for ok {
				_, ok = <-f.msgs
			}
		case <-time.After(3 * time.Second):
			t.Fatal("the feed connection outlived the reload")
		}
		checkedSince(at)
	}
	waitFor(t, 5*time.Second, func() (bool, string) {
		http.DefaultClient.CloseIdleConnections()
		n := runtime.NumGoroutine()
		return n <= baseline+2, fmt.Sprintf("%d goroutines after 4 reloads, %d before", n, baseline)
	})
	if n := goroutinesIn("registryapp.(*checker).loop"); n != 1 {
		t.Errorf("%d health loops run after 4 reloads, want 1", n)
	}
	if n := goroutinesIn("registryapp.(*feedHub).run"); n != 1 {
		t.Errorf("%d feed hubs run after 4 reloads, want 1", n)
	}
	// The loops of the last generation work: a new server is checked.
	b := testenv.StartBackend(t, testenv.Streamable, testenv.NewMCPServer("late"))
	register(t, c, "/late", b.URL, "streamable-http")
	waitHealth(t, c, "late", "healthy", 1, 5*time.Second)

	// Shutdown stops everything of the app, connections of the feed too.
	dialFeed(t, c, "")
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() (bool, string) {
		n := goroutinesIn("github.com/caddymcp/gateway/registryapp.") + goroutinesIn("github.com/caddymcp/gateway/internal/mcpprobe.")
		return n == 0, fmt.Sprintf("%d goroutines of the registry app outlive shutdown:\n%s", n, allStacks())
	})
}

func allStacks() string {
	buf := make([]byte, 1<<22)
	return string(buf[:runtime.Stack(buf, true)])
}

// goroutinesIn counts the goroutines with a frame of fn in their stack.
func goroutinesIn(fn string) int {
	n := 0
	for _, g := range strings.Split(allStacks(), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}
