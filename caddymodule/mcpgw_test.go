package caddymodule_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	_ "github.com/caddymcp/gateway/caddymodule"
	"github.com/caddymcp/gateway/internal/testenv"
)

// mcpgwClient is how a test connects to mcpgw.
type mcpgwClient struct {
	name    string
	connect func(t *testing.T, c *testenv.Caddy, headers map[string]string) *client.Client
}

var mcpgwClients = []mcpgwClient{
	{"streamable-2025-11-25", func(t *testing.T, c *testenv.Caddy, h map[string]string) *client.Client {
		return startMCPClient(t, c.BaseURL+"/mcpgw/mcp", "2025-11-25", h, false)
	}},
	{"streamable-stateless-2026-07-28", func(t *testing.T, c *testenv.Caddy, h map[string]string) *client.Client {
		return startMCPClient(t, c.BaseURL+"/mcpgw/mcp", "2026-07-28", h, false)
	}},
	{"sse", func(t *testing.T, c *testenv.Caddy, h map[string]string) *client.Client {
		return startMCPClient(t, c.BaseURL+"/mcpgw/sse", "2024-11-05", h, true)
	}},
}

func startMCPClient(t *testing.T, url, version string, headers map[string]string, sse bool) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var tr transport.Interface
	var err error
	if sse {
		tr, err = transport.NewSSE(url, transport.WithHeaders(headers))
	} else {
		tr, err = transport.NewStreamableHTTP(url, transport.WithHTTPHeaders(headers))
	}
	if err != nil {
		t.Fatalf("transport: %v", err)
	}
	c := client.NewClient(tr, client.WithProtocolVersion(version))
	// The SSE stream lives as long as the context of Start.
	streamCtx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	if err := c.Start(streamCtx); err != nil {
		t.Fatalf("starting client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = version
	init.Params.ClientInfo = mcp.Implementation{Name: "mcpgw-test", Version: "1.0.0"}
	res, err := c.Initialize(ctx, init)
	if err != nil {
		t.Fatalf("initialize (%s): %v", version, err)
	}
	if res.ProtocolVersion != version {
		t.Fatalf("negotiated protocol %q, want %q", res.ProtocolVersion, version)
	}
	return c
}

func basicHeader() map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(testenv.User+":"+testenv.Password))}
}

// callTool calls a tool and returns its text and whether it is a tool error.
func callTool(t *testing.T, c *client.Client, name string, args map[string]any) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s: protocol error (want a result): %v", name, err)
	}
	if len(res.Content) != 1 {
		t.Fatalf("%s: %d content items, want 1", name, len(res.Content))
	}
	text, ok := res.Content[0].(mcp.TextContent)
	if !ok {
		t.Fatalf("%s: content is %T, want text", name, res.Content[0])
	}
	return text.Text, res.IsError
}

// mustCall calls a tool that must succeed and decodes its JSON result.
func mustCall(t *testing.T, c *client.Client, name string, args map[string]any, out any) {
	t.Helper()
	text, isErr := callTool(t, c, name, args)
	if isErr {
		t.Fatalf("%s(%v) failed: %s", name, args, text)
	}
	if err := json.Unmarshal([]byte(text), out); err != nil {
		t.Fatalf("%s: result is not JSON: %v\n%s", name, err, text)
	}
}

// mustFail calls a tool that must answer a tool error containing want.
func mustFail(t *testing.T, c *client.Client, name string, args map[string]any, want string) {
	t.Helper()
	text, isErr := callTool(t, c, name, args)
	if !isErr {
		t.Fatalf("%s(%v) succeeded, want a tool error: %s", name, args, text)
	}
	if !strings.Contains(text, want) {
		t.Fatalf("%s error %q does not say %q", name, text, want)
	}
}

func weatherServer() *server.MCPServer {
	return testenv.NewMCPServer("weather", server.ServerTool{
		Tool: mcp.NewTool("get_forecast",
			mcp.WithDescription("Weather forecast for a city for the next days."),
			mcp.WithString("city", mcp.Required())),
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("sunny"), nil
		},
	})
}

// TestMCPGWTools calls every mcpgw tool over Streamable HTTP (a session
// client of 2025-11-25 and a stateless one of 2026-07-28) and SSE, with
// good and bad input, and checks the effects through the REST API.
func TestMCPGWTools(t *testing.T) {
	backend := testenv.StartBackend(t, testenv.Streamable, weatherServer())
	c := testenv.StartCaddy(t, testenv.Options{Registry: "health_interval 1s"})

	for i, cl := range mcpgwClients {
		t.Run(cl.name, func(t *testing.T) {
			mc := cl.connect(t, c, basicHeader())
			path := fmt.Sprintf("/weather%d", i)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			list, err := mc.ListTools(ctx, mcp.ListToolsRequest{})
			if err != nil {
				t.Fatalf("tools/list: %v", err)
			}
			readOnly := map[string]bool{}
			for _, tool := range list.Tools {
				if tool.Description == "" {
					t.Errorf("tool %s has no description", tool.Name)
				}
				readOnly[tool.Name] = tool.Annotations.ReadOnlyHint != nil && *tool.Annotations.ReadOnlyHint
			}
			wantRO := map[string]bool{"toggle_service": false, "register_service": false, "get_server_details": true,
				"get_service_tools": true, "refresh_service": false, "healthcheck": true, "intelligent_tool_finder": true}
			for name, ro := range wantRO {
				got, ok := readOnly[name]
				if !ok {
					t.Fatalf("tool %s missing from tools/list", name)
				}
				if got != ro {
					t.Errorf("tool %s readOnlyHint = %v, want %v", name, got, ro)
				}
			}

			// register_service: tags as a comma-separated string.
			var reg struct {
				Service struct {
					Path       string   `json:"path"`
					ServerName string   `json:"server_name"`
					Tags       []string `json:"tags"`
				} `json:"service"`
			}
			mustCall(t, mc, "register_service", map[string]any{
				"server_name": "Weather", "path": path, "proxy_pass_url": backend.URL,
				"description": "Forecasts", "tags": "weather, forecast", "transport": "streamable-http",
			}, &reg)
			if reg.Service.Path != path || reg.Service.ServerName != "Weather" || !slices.Equal(reg.Service.Tags, []string{"weather", "forecast"}) {
				t.Fatalf("register_service answered %+v", reg.Service)
			}
			var rec map[string]any
			c.Do("GET", "/api/servers"+path, nil).JSON(t, &rec)
			if rec["proxy_pass_url"] != backend.URL || rec["enabled"] != true {
				t.Fatalf("REST API does not show the registered server: %v", rec)
			}

			mustFail(t, mc, "register_service", map[string]any{"server_name": "Again", "path": path, "proxy_pass_url": backend.URL}, "already exists")
			mustFail(t, mc, "register_service", map[string]any{"server_name": "Bad", "path": path + "x", "proxy_pass_url": "ftp://example.com"}, "proxy_pass_url")
			mustFail(t, mc, "register_service", map[string]any{"server_name": "Bad", "path": "/api", "proxy_pass_url": backend.URL}, "reserved")
			mustFail(t, mc, "register_service", map[string]any{"path": path + "y", "proxy_pass_url": backend.URL}, "server_name is required")
			mustFail(t, mc, "register_service", map[string]any{"server_name": "Bad", "path": path + "z", "proxy_pass_url": backend.URL, "tags": 5}, "tags must be")

			// The new server becomes healthy and its tools show up.
			deadline := time.Now().Add(10 * time.Second)
			for {
				var tools struct {
					ServicePath string `json:"service_path"`
					Tools       []struct {
						Name   string          `json:"name"`
						Schema json.RawMessage `json:"schema"`
					} `json:"tools"`
				}
				mustCall(t, mc, "get_service_tools", map[string]any{"service_path": strings.TrimPrefix(path, "/")}, &tools)
				var health map[string]struct {
					Status string `json:"status"`
				}
				mustCall(t, mc, "healthcheck", nil, &health)
				if health[path].Status == "healthy" && len(tools.Tools) == 2 {
					if tools.ServicePath != path {
						t.Fatalf("get_service_tools service_path = %q", tools.ServicePath)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("server did not become healthy with 2 tools: health %+v, tools %+v", health[path], tools)
				}
				time.Sleep(100 * time.Millisecond)
			}

			var refreshed map[string]any
			mustCall(t, mc, "refresh_service", map[string]any{"service_path": path}, &refreshed)
			if refreshed["status"] != "healthy" || refreshed["num_tools"] != float64(2) {
				t.Fatalf("refresh_service answered %v", refreshed)
			}

			var all map[string]map[string]any
			mustCall(t, mc, "get_server_details", map[string]any{"service_path": "/all"}, &all)
			if all[path]["server_name"] != "Weather" {
				t.Fatalf("get_server_details all lacks %s: %v", path, all)
			}
			var one map[string]any
			mustCall(t, mc, "get_server_details", map[string]any{"service_path": path}, &one)
			if one["path"] != path || len(one["tool_list"].([]any)) != 2 {
				t.Fatalf("get_server_details answered %v", one)
			}
			var allTools struct {
				Tools []struct {
					Name        string `json:"name"`
					ServicePath string `json:"service_path"`
				} `json:"tools"`
			}
			mustCall(t, mc, "get_service_tools", map[string]any{"service_path": "all"}, &allTools)
			if !slices.ContainsFunc(allTools.Tools, func(x struct {
				Name        string `json:"name"`
				ServicePath string `json:"service_path"`
			}) bool {
				return x.Name == "get_forecast" && x.ServicePath == path
			}) {
				t.Fatalf("get_service_tools all lacks get_forecast of %s: %+v", path, allTools)
			}

			var found []struct {
				ToolName    string `json:"tool_name"`
				ServicePath string `json:"service_path"`
			}
			mustCall(t, mc, "intelligent_tool_finder", map[string]any{"natural_language_query": "weather forecast for a city", "top_n_tools": 1}, &found)
			if len(found) != 1 || found[0].ToolName != "get_forecast" {
				t.Fatalf("intelligent_tool_finder answered %+v", found)
			}
			mustFail(t, mc, "intelligent_tool_finder", map[string]any{"natural_language_query": "x", "top_n_tools": 0}, "top_n_tools must be")

			// toggle_service flips without enabled, sets with it.
			var st map[string]any
			mustCall(t, mc, "toggle_service", map[string]any{"service_path": path}, &st)
			if st["new_enabled_state"] != false {
				t.Fatalf("toggle without enabled did not disable: %v", st)
			}
			if c.Do("GET", "/api/servers"+path, nil).Map(t)["enabled"] != false {
				t.Fatal("REST API still shows the server enabled")
			}
			mustCall(t, mc, "toggle_service", map[string]any{"service_path": path}, &st)
			if st["new_enabled_state"] != true {
				t.Fatalf("second toggle did not enable: %v", st)
			}
			mustCall(t, mc, "toggle_service", map[string]any{"service_path": path, "enabled": false}, &st)
			mustCall(t, mc, "toggle_service", map[string]any{"service_path": path, "enabled": false}, &st)
			if st["new_enabled_state"] != false {
				t.Fatalf("toggle enabled=false answered %v", st)
			}
			mustFail(t, mc, "refresh_service", map[string]any{"service_path": path}, "enable it with toggle_service")

			for _, tool := range []string{"toggle_service", "get_server_details", "get_service_tools", "refresh_service"} {
				mustFail(t, mc, tool, map[string]any{"service_path": "/nope"}, "not found")
				mustFail(t, mc, tool, map[string]any{}, "service_path is required")
			}
		})
	}
}

// TestMCPGWAuth checks that a client without credentials can initialize
// and list tools but every tool call fails as a tool error, and that the
// original's username/password arguments and a bad header behave.
func TestMCPGWAuth(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: "api_token mcpgw-test-token"})
	login := c.DoAnon("POST", "/api/login", map[string]string{"username": testenv.User, "password": testenv.Password})
	var cookie string
	for _, ck := range (&http.Response{Header: login.Header}).Cookies() {
		if ck.Name == "mcpgw_session" {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	if login.Status != http.StatusOK || cookie == "" {
		t.Fatalf("login: %d, cookie %q", login.Status, cookie)
	}
	for _, cl := range mcpgwClients {
		t.Run(cl.name, func(t *testing.T) {
			anon := cl.connect(t, c, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			list, err := anon.ListTools(ctx, mcp.ListToolsRequest{})
			if err != nil || len(list.Tools) != 7 {
				t.Fatalf("anonymous tools/list: %v, %d tools", err, len(list.Tools))
			}
			for _, tool := range list.Tools {
				args := map[string]any{"service_path": "all", "natural_language_query": "x",
					"server_name": "X", "path": "/x", "proxy_pass_url": "http://127.0.0.1:1"}
				mustFail(t, anon, tool.Name, args, "authentication required")
			}
			if got := c.Do("GET", "/api/servers/x", nil).Status; got != http.StatusNotFound {
				t.Fatalf("an anonymous register_service changed the registry: GET /api/servers/x = %d", got)
			}
			var health map[string]any
			mustCall(t, anon, "healthcheck", map[string]any{"username": testenv.User, "password": testenv.Password}, &health)
			mustFail(t, anon, "healthcheck", map[string]any{"username": testenv.User, "password": "wrong"}, "username or password arguments are wrong")

			bad := cl.connect(t, c, map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:wrong"))})
			mustFail(t, bad, "healthcheck", nil, "Authorization header")
			badToken := cl.connect(t, c, map[string]string{"Authorization": "Bearer wrong-token"})
			mustFail(t, badToken, "healthcheck", nil, "Authorization header")

			for name, headers := range map[string]map[string]string{
				"bearer token":   {"Authorization": "Bearer mcpgw-test-token"},
				"session cookie": {"Cookie": cookie},
			} {
				mc := cl.connect(t, c, headers)
				var out map[string]any
				mustCall(t, mc, "register_service", map[string]any{"server_name": name, "path": "/" + strings.ReplaceAll(name, " ", "-") + "-" + cl.name, "proxy_pass_url": "http://127.0.0.1:9"}, &out)
			}
		})
	}
}

// TestMCPGWEventsOnFeed checks that changes made with mcpgw tools reach
// the WebSocket feed like those of the REST API.
func TestMCPGWEventsOnFeed(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: "health_interval 1h"})
	feed := dialFeed(t, c, "")
	mc := startMCPClient(t, c.BaseURL+"/mcpgw/mcp", "2026-07-28", basicHeader(), false)
	var out map[string]any
	mustCall(t, mc, "register_service", map[string]any{"server_name": "Feed", "path": "/feed", "proxy_pass_url": "http://127.0.0.1:9"}, &out)
	readUntil(t, feed, 5*time.Second, func(m feedMsg) bool {
		return m.Type == "server_updated" && m.Server != nil && m.Server.Path == "/feed" && m.Server.Enabled
	})
	mustCall(t, mc, "toggle_service", map[string]any{"service_path": "feed"}, &out)
	readUntil(t, feed, 5*time.Second, func(m feedMsg) bool {
		return m.Type == "server_updated" && m.Server != nil && m.Server.Path == "/feed" && !m.Server.Enabled
	})
}

// TestMCPGWOrigin checks that browser pages of other origins cannot use
// mcpgw (DNS rebinding, CSRF with cached credentials), while the site's
// own origin and a Host that is not loopback can.
func TestMCPGWOrigin(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	for _, tc := range []struct {
		path, origin, host string
		want               int
	}{
		{"/mcpgw/mcp", "http://evil.example", "", http.StatusForbidden},
		{"/mcpgw/sse", "http://evil.example", "", http.StatusForbidden},
		{"/mcpgw/message?sessionId=x", "http://evil.example", "", http.StatusForbidden},
		{"/mcpgw/mcp", c.BaseURL, "", http.StatusOK},
		{"/mcpgw/mcp", "", "gateway.example.com", http.StatusOK},
	} {
		method, body := http.MethodPost, io.Reader(strings.NewReader(initialize))
		if strings.HasPrefix(tc.path, "/mcpgw/sse") {
			method, body = http.MethodGet, nil
		}
		req, err := http.NewRequest(method, c.BaseURL+tc.path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s with Origin %q, Host %q: %d, want %d", method, tc.path, tc.origin, tc.host, resp.StatusCode, tc.want)
		}
	}
}

// TestMCPGWListeningStream checks that a 2025-11-25 session can open the
// GET listening stream of Streamable HTTP through Caddy's writers.
func TestMCPGWListeningStream(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, c.BaseURL+"/mcpgw/mcp", strings.NewReader(initialize))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	session := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != http.StatusOK || session == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, session)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/mcpgw/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("MCP-Protocol-Version", "2025-11-25")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET listening stream: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestMCPGWReload checks that a config reload ends the old config's SSE
// streams of mcpgw, that Streamable HTTP sessions carry on, that new SSE
// clients connect, and that no goroutines are left behind.
func TestMCPGWReload(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})
	var health map[string]any
	session := startMCPClient(t, c.BaseURL+"/mcpgw/mcp", "2025-11-25", basicHeader(), false)
	mustCall(t, session, "healthcheck", nil, &health)

	// A connection that the outgoing config's server accepted as it shut
	// down is reset; clients retry, and so does this one, on a new
	// connection each time.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	openStream := func() *http.Response {
		var lastErr error
		for range 3 {
			resp, err := client.Get(c.BaseURL + "/mcpgw/sse")
			if err == nil && resp.StatusCode == http.StatusOK {
				return resp
			}
			if err == nil {
				resp.Body.Close()
				t.Fatalf("GET /mcpgw/sse: %d", resp.StatusCode)
			}
			lastErr = err
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("GET /mcpgw/sse: %v", lastErr)
		return nil
	}
	baseline := runtime.NumGoroutine()
	for range 3 {
		stream := openStream()
		ended := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, stream.Body)
			ended <- err
		}()
		if err := c.Load(testenv.Options{}); err != nil {
			t.Fatalf("reload: %v", err)
		}
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("the old config's SSE stream is still open 5s after the reload")
		}
		stream.Body.Close()
	}
	mustCall(t, session, "healthcheck", nil, &health)
	sse := startMCPClient(t, c.BaseURL+"/mcpgw/sse", "2024-11-05", basicHeader(), true)
	mustCall(t, sse, "healthcheck", nil, &health)
	_ = sse.Close()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline+5 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after 3 reloads, %d before:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMCPGWTypeScriptClient runs tests/interop/mcpgw-client.mjs: the
// official TypeScript SDK client manages the gateway over Streamable HTTP
// and SSE.
func TestMCPGWTypeScriptClient(t *testing.T) {
	dir, err := filepath.Abs("../tests/interop")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		t.Skip("tests/interop/node_modules is missing: run scripts/install-test-deps.sh")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: run scripts/install-test-deps.sh")
	}
	backend := testenv.StartBackend(t, testenv.Streamable, weatherServer())
	c := testenv.StartCaddy(t, testenv.Options{Registry: "health_interval 1s"})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "mcpgw-client.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GATEWAY_URL="+c.BaseURL, "ADMIN_USER="+testenv.User, "ADMIN_PASSWORD="+testenv.Password,
		"BACKEND_URL="+backend.URL)
	out, err := cmd.CombinedOutput()
	t.Logf("node mcpgw-client.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("TypeScript SDK client failed: %v", err)
	}
}
