package caddymodule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	_ "github.com/caddymcp/gateway/caddymodule"
	"github.com/caddymcp/gateway/internal/testenv"
	"github.com/caddymcp/gateway/registryapp"
)

// fastHealth makes the loops quick enough for tests.
const fastHealth = "health_interval 300ms\n\t\thealth_timeout 1s"

// waitFor polls cond until it holds or timeout passes; what describes the
// last state seen for the failure message.
func waitFor(t *testing.T, timeout time.Duration, cond func() (ok bool, what string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, what := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// record fetches a server record through the API.
func record(t *testing.T, c *testenv.Caddy, id string) registryapp.Server {
	t.Helper()
	resp := c.Do("GET", "/api/servers/"+id, nil)
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /api/servers/%s: %d %s", id, resp.Status, resp.Body)
	}
	var srv registryapp.Server
	resp.JSON(t, &srv)
	return srv
}

// register adds a server through the API.
func register(t *testing.T, c *testenv.Caddy, path, url, transport string) {
	t.Helper()
	resp := c.Do("POST", "/api/servers", map[string]any{
		"path": path, "name": "Server " + path, "proxy_pass_url": url, "transport": transport,
		"tags": []string{"test"},
	})
	if resp.Status != http.StatusCreated {
		t.Fatalf("registering %s: %d %s", path, resp.Status, resp.Body)
	}
}

// waitHealth waits until the server id has status and, if tools >= 0,
// that many tools.
func waitHealth(t *testing.T, c *testenv.Caddy, id, status string, tools int, timeout time.Duration) registryapp.Server {
	t.Helper()
	var srv registryapp.Server
	waitFor(t, timeout, func() (bool, string) {
		srv = record(t, c, id)
		ok := srv.Health.Status == status && (tools < 0 || srv.NumTools == tools)
		return ok, fmt.Sprintf("%s: status %q (error %q), %d tools; want %q, %d tools", id, srv.Health.Status, srv.Health.Error, srv.NumTools, status, tools)
	})
	return srv
}

// toolNames returns the names of a record's tools.
func toolNames(srv registryapp.Server) []string {
	var names []string
	for _, t := range srv.Tools {
		names = append(names, t.Name)
	}
	return names
}

// extraTool is an mcp-go tool named name that answers "ok".
func extraTool(name string) server.ServerTool {
	return server.ServerTool{
		Tool: mcp.NewTool(name, mcp.WithDescription("Extra tool "+name+"."), mcp.WithString("city", mcp.Description("City name."))),
		Handler: func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("ok"), nil
		},
	}
}

// serveOn serves h on addr ("127.0.0.1:0" for a new port) until stopped.
func serveOn(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	var l net.Listener
	var err error
	deadline := time.Now().Add(3 * time.Second)
	for {
		// The port of a stopped server may take a moment to be free.
		if l, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// mcpGoHandler serves s over transport the way testenv.StartBackend does.
func mcpGoHandler(transport string, s *server.MCPServer) http.Handler {
	if transport == testenv.SSE {
		return server.NewSSEServer(s)
	}
	return server.NewStreamableHTTPServer(s, server.WithStateLess(transport == testenv.Stateless))
}

func TestHealthAndDiscoveryOfMCPGoBackends(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: fastHealth})
	streamable := testenv.StartBackend(t, testenv.Streamable, testenv.NewMCPServer("s", extraTool("forecast")))
	stateless := testenv.StartBackend(t, testenv.Stateless, testenv.NewMCPServer("st"))
	sse := testenv.StartBackend(t, testenv.SSE, testenv.NewMCPServer("sse", extraTool("a"), extraTool("b")))

	register(t, c, "/streamable", streamable.URL, "streamable-http")
	register(t, c, "/stateless", stateless.URL, "streamable-http")
	register(t, c, "/legacy", sse.URL, "sse")
	register(t, c, "/autosse", sse.URL, "auto")

	srv := waitHealth(t, c, "streamable", "healthy", 2, 5*time.Second)
	if srv.Health.CheckedAt == nil || srv.Health.Error != "" {
		t.Errorf("healthy record lacks checked_at or has an error: %+v", srv.Health)
	}
	if got := strings.Join(toolNames(srv), ","); got != "echo,forecast" {
		t.Errorf("tools = %s, want echo,forecast", got)
	}
	waitHealth(t, c, "stateless", "healthy", 1, 5*time.Second)
	waitHealth(t, c, "legacy", "healthy", 3, 5*time.Second)
	auto := waitHealth(t, c, "autosse", "healthy", 3, 5*time.Second)
	if auto.Transport != "sse" {
		t.Errorf("auto transport resolved to %q, want sse", auto.Transport)
	}
}

func TestUnhealthyAndRecoveryWithNewTool(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: fastHealth})
	for _, transport := range []string{testenv.Streamable, testenv.SSE} {
		t.Run(transport, func(t *testing.T) {
			id := "rec-" + strings.ReplaceAll(transport, "-", "")
			backend := serveOn(t, "127.0.0.1:0", mcpGoHandler(transport, testenv.NewMCPServer("r")))
			addr := backend.Listener.Addr().String()
			register(t, c, "/"+id, backend.URL, transport)
			waitHealth(t, c, id, "healthy", 1, 5*time.Second)

			feed := dialFeed(t, c, "")
			readUntil(t, feed, 2*time.Second, func(m feedMsg) bool { return m.Type == "snapshot" })

			backend.Close()
			start := time.Now()
			down := waitHealth(t, c, id, "unhealthy", 1, 3*time.Second)
			// Two intervals, plus the timeout of the failing check and
			// some slack for a busy machine.
			if d := time.Since(start); d > 2*300*time.Millisecond+time.Second+500*time.Millisecond {
				t.Errorf("unhealthy after %s, want within two intervals", d)
			}
			if down.Health.Error == "" {
				t.Error("unhealthy record has no error")
			}

			serveOn(t, addr, mcpGoHandler(transport, testenv.NewMCPServer("r", extraTool("added"))))
			up := waitHealth(t, c, id, "healthy", 2, 5*time.Second)
			if got := strings.Join(toolNames(up), ","); got != "added,echo" && got != "echo,added" {
				t.Errorf("tools after recovery = %s", got)
			}
			m := readUntil(t, feed, 3*time.Second, func(m feedMsg) bool {
				return m.Type == "server_updated" && m.ToolChange != nil && m.Server != nil && m.Server.Path == "/"+id
			})
			if strings.Join(m.ToolChange.Added, ",") != "added" {
				t.Errorf("tool change = %+v, want added [added]", m.ToolChange)
			}
			var hist struct {
				Changes []registryapp.ToolChange `json:"changes"`
			}
			c.Do("GET", "/api/servers/"+id+"/tool-history", nil).JSON(t, &hist)
			if len(hist.Changes) == 0 || strings.Join(hist.Changes[0].Added, ",") != "added" {
				t.Errorf("tool history = %+v", hist.Changes)
			}
		})
	}
}

// pagingForever is a Streamable HTTP MCP server whose tools/list always
// returns one tool and a next cursor.
func pagingForever(t *testing.T) *httptest.Server {
	return serveOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Cursor string `json:"cursor"`
			} `json:"params"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if req.ID == nil {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		var result any
		switch req.Method {
		case "initialize":
			result = map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{"tools": map[string]any{}},
				"serverInfo": map[string]any{"name": "pager", "version": "1"}}
		case "ping":
			result = map[string]any{}
		case "tools/list":
			n := len(req.Params.Cursor)
			result = map[string]any{
				"tools":      []any{map[string]any{"name": fmt.Sprintf("tool%d", n), "inputSchema": map[string]any{"type": "object"}}},
				"nextCursor": req.Params.Cursor + "x",
			}
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"method not found"}}`, req.ID)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
	}))
}

func TestDiscoveryOfEndlessPagesIsCapped(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: fastHealth + "\n\t\tdiscovery_max_pages 7"})
	pager := pagingForever(t)
	register(t, c, "/pager", pager.URL, "streamable-http")
	srv := waitHealth(t, c, "pager", "healthy", 7, 5*time.Second)
	if srv.Tools[6].Name != "tool6" {
		t.Errorf("last tool = %s, want tool6", srv.Tools[6].Name)
	}
}

func TestRefreshEndpoints(t *testing.T) {
	// A long interval: only the refresh can see the new tool.
	c := testenv.StartCaddy(t, testenv.Options{Registry: "health_interval 1h\n\t\thealth_timeout 1s"})
	backend := serveOn(t, "127.0.0.1:0", mcpGoHandler(testenv.Streamable, testenv.NewMCPServer("r")))
	addr := backend.Listener.Addr().String()
	register(t, c, "/ref", backend.URL, "streamable-http")
	waitHealth(t, c, "ref", "healthy", 1, 5*time.Second)

	backend.Close()
	serveOn(t, addr, mcpGoHandler(testenv.Streamable, testenv.NewMCPServer("r", extraTool("more"))))
	resp := c.Do("POST", "/api/servers/ref/refresh", nil)
	var srv registryapp.Server
	resp.JSON(t, &srv)
	if resp.Status != http.StatusOK || srv.NumTools != 2 || srv.Health.Status != "healthy" {
		t.Fatalf("refresh: %d %s", resp.Status, resp.Body)
	}

	resp = c.Do("POST", "/api/refresh/ref", nil)
	m := resp.Map(t)
	if resp.Status != http.StatusOK || m["service_path"] != "/ref" || m["status"] != "healthy" || m["num_tools"] != float64(2) {
		t.Fatalf("compat refresh: %d %s", resp.Status, resp.Body)
	}
	if r := c.Do("POST", "/api/servers/nope/refresh", nil); r.Status != http.StatusNotFound {
		t.Errorf("refresh of unknown server: %d, want 404", r.Status)
	}
	c.Do("POST", "/api/servers/ref/disable", nil)
	if r := c.Do("POST", "/api/servers/ref/refresh", nil); r.Status != http.StatusConflict {
		t.Errorf("refresh of disabled server: %d %s, want 409", r.Status, r.Body)
	}
	if r := c.DoAnon("POST", "/api/servers/ref/refresh", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("anonymous refresh: %d, want 401", r.Status)
	}
}
