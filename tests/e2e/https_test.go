package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/caddymcp/gateway/internal/testenv"
)

// TestHTTPSSite runs a site with a host name, so that Caddy's automatic
// HTTPS applies (its internal CA stands in for a public one on loopback):
// the API answers over TLS and HTTP/2, the session cookie is Secure, the
// WebSocket feed opens, and an MCP client works through the gateway.
func TestHTTPSSite(t *testing.T) {
	dir := t.TempDir()
	port, admin := testenv.FreePort(t), testenv.FreePort(t)
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	skip_install_trust
	mcp_registry {
		storage %s
		admin_password secret
	}
}
https://localhost:%d {
	bind 127.0.0.1
	tls internal
	mcp_registry
	mcp_gateway
}
`, admin, filepath.Join(dir, "registry.db"), port)
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("https://localhost:%d", port)
	in := launch(t, cfgPath, base, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)

	// Caddy's local CA is not in the system pool; trust it for this client.
	tlsConfig := &tls.Config{InsecureSkipVerify: true}
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := httpClient.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Errorf("healthz over %s, want HTTP/2", resp.Proto)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the HTTPS site did not answer: %v\n%s", err, in.output)
		}
		time.Sleep(100 * time.Millisecond)
	}

	login, err := httpClient.Post(base+"/api/login", "application/json", strings.NewReader(`{"username":"admin","password":"secret"}`))
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	cookies := login.Cookies()
	if login.StatusCode != http.StatusOK || len(cookies) != 1 || !cookies[0].Secure || !cookies[0].HttpOnly {
		t.Fatalf("login over HTTPS: %d, cookies %+v; want one Secure HttpOnly cookie", login.StatusCode, cookies)
	}

	backend := testenv.StartBackend(t, testenv.Streamable, testenv.NewMCPServer("tls-backend"))
	reg, err := http.NewRequest("POST", base+"/api/servers", strings.NewReader(
		`{"path":"/tls","name":"TLS","proxy_pass_url":"`+backend.URL+`","transport":"streamable-http"}`))
	if err != nil {
		t.Fatal(err)
	}
	reg.AddCookie(cookies[0])
	resp, err := httpClient.Do(reg)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register with the session cookie: %d", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	header := http.Header{"Origin": {base}, "Cookie": {cookies[0].Name + "=" + cookies[0].Value}}
	ws, _, err := websocket.Dial(ctx, "wss://localhost:"+fmt.Sprint(port)+"/ws", &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}, HTTPHeader: header,
	})
	if err != nil {
		t.Fatalf("WebSocket feed over TLS: %v", err)
	}
	defer ws.CloseNow()
	_, first, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(first), `"type":"snapshot"`) || !strings.Contains(string(first), `"/tls"`) {
		t.Fatalf("first feed message: %.200s, %v", first, err)
	}

	tr, err := transport.NewStreamableHTTP(base+"/tls/mcp", transport.WithHTTPBasicClient(httpClient))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr, client.WithProtocolVersion("2025-11-25"))
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	initReq := mcp.InitializeRequest{}
	initReq.Params.ProtocolVersion = "2025-11-25"
	initReq.Params.ClientInfo = mcp.Implementation{Name: "https-test", Version: "1"}
	if _, err := c.Initialize(ctx, initReq); err != nil {
		t.Fatalf("initialize through the HTTPS gateway: %v", err)
	}
	call := mcp.CallToolRequest{}
	call.Params.Name = "echo"
	call.Params.Arguments = map[string]any{"message": "over tls"}
	res, err := c.CallTool(ctx, call)
	if err != nil || res.IsError || len(res.Content) == 0 {
		t.Fatalf("tools/call through the HTTPS gateway: %+v, %v", res, err)
	}
	if text, ok := res.Content[0].(mcp.TextContent); !ok || text.Text != "over tls" {
		t.Fatalf("echo answered %+v", res.Content[0])
	}
}
