package caddymodule_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/caddymcp/gateway/internal/testenv"
)

// dialStalledFeed opens /ws with a 4 KiB socket receive buffer and never
// reads, so that the server's writes to it stall soon.
func dialStalledFeed(t *testing.T, c *testenv.Caddy) *websocket.Conn {
	t.Helper()
	dialer := &net.Dialer{Control: func(_, _ string, raw syscall.RawConn) error {
		var serr error
		err := raw.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	h := http.Header{}
	h.Set("Authorization", "Basic YWRtaW46dGVzdC1wYXNzd29yZA==") // admin:test-password
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.BaseURL, "http")+"/ws", &websocket.DialOptions{
		HTTPHeader: h,
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}},
	})
	if err != nil {
		t.Fatalf("dialing /ws: %v", err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}

func TestFeedSlowClientDoesNotDelayOthers(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: "health_interval 1h"})
	// A server whose records make messages of about 100 KB.
	var tools []map[string]any
	for i := range 50 {
		tools = append(tools, map[string]any{"name": fmt.Sprintf("tool%d", i), "description": strings.Repeat("d", 2000), "inputSchema": map[string]any{}})
	}
	imp := c.Do("POST", "/api/import", []any{map[string]any{
		"path": "/big", "name": "Big", "proxy_pass_url": "http://127.0.0.1:9", "transport": "streamable-http", "tools": tools,
	}})
	if imp.Status != http.StatusOK {
		t.Fatalf("import: %d %s", imp.Status, imp.Body)
	}

	slow := dialStalledFeed(t, c)
	fast := dialFeed(t, c, "")
	readUntil(t, fast, 2*time.Second, func(m feedMsg) bool { return m.Type == "snapshot" })

	// More changes than the server's socket buffer and the slow client's
	// queue (256 messages) hold; the reading client gets each within a
	// second all along.
	for i := range 400 {
		desc := fmt.Sprintf("change %d", i)
		r := c.Do("PUT", "/api/servers/big", map[string]any{"name": "Big", "proxy_pass_url": "http://127.0.0.1:9", "transport": "streamable-http", "description": desc})
		if r.Status != http.StatusOK {
			t.Fatalf("update %d: %d %s", i, r.Status, r.Body)
		}
		readUntil(t, fast, time.Second, func(m feedMsg) bool {
			return m.Type == "server_updated" && m.Server != nil && m.Server.Description == desc
		})
	}
	// The slow client was dropped: after what its buffers hold, its
	// connection ends.
	slow.SetReadLimit(16 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for n := 0; ; n++ {
		if _, _, err := slow.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("the slow client was not dropped (read %d messages)", n)
			}
			break
		}
	}
}
