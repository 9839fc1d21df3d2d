package caddymodule_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	gosdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/caddymcp/gateway/internal/testenv"
)

// mcpResult is what a client saw of a server: its tool names and the
// result of calling echo.
type mcpResult struct {
	Tools []string
	Echo  string
}

// mcpGoSession runs initialize, tools/list and tools/call echo with the
// mcp-go client over transport ("sse" or Streamable HTTP otherwise).
func mcpGoSession(ctx context.Context, transport, url string) (mcpResult, error) {
	var (
		cl  *client.Client
		err error
	)
	if transport == testenv.SSE {
		cl, err = client.NewSSEMCPClient(url)
	} else {
		cl, err = client.NewStreamableHttpClient(url)
	}
	if err != nil {
		return mcpResult{}, err
	}
	defer cl.Close()
	if err := cl.Start(ctx); err != nil {
		return mcpResult{}, fmt.Errorf("start: %w", err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "gateway-test", Version: "1.0.0"}
	if _, err := cl.Initialize(ctx, init); err != nil {
		return mcpResult{}, fmt.Errorf("initialize: %w", err)
	}
	tools, err := cl.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		return mcpResult{}, fmt.Errorf("tools/list: %w", err)
	}
	var res mcpResult
	for _, tool := range tools.Tools {
		res.Tools = append(res.Tools, tool.Name)
	}
	call := mcp.CallToolRequest{}
	call.Params.Name = "echo"
	call.Params.Arguments = map[string]any{"message": "hello through the gateway"}
	out, err := cl.CallTool(ctx, call)
	if err != nil {
		return mcpResult{}, fmt.Errorf("tools/call: %w", err)
	}
	if len(out.Content) > 0 {
		if text, ok := out.Content[0].(mcp.TextContent); ok {
			res.Echo = text.Text
		}
	}
	slices.Sort(res.Tools)
	return res, nil
}

// goSDKSession does the same with the official Go SDK's client.
func goSDKSession(ctx context.Context, transport, url string) (mcpResult, error) {
	cl := gosdk.NewClient(&gosdk.Implementation{Name: "gateway-test", Version: "1.0.0"}, nil)
	var t gosdk.Transport = &gosdk.StreamableClientTransport{Endpoint: url}
	if transport == testenv.SSE {
		t = &gosdk.SSEClientTransport{Endpoint: url}
	}
	session, err := cl.Connect(ctx, t, nil)
	if err != nil {
		return mcpResult{}, fmt.Errorf("connect: %w", err)
	}
	defer session.Close()
	tools, err := session.ListTools(ctx, nil)
	if err != nil {
		return mcpResult{}, fmt.Errorf("tools/list: %w", err)
	}
	var res mcpResult
	for _, tool := range tools.Tools {
		res.Tools = append(res.Tools, tool.Name)
	}
	out, err := session.CallTool(ctx, &gosdk.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hello through the gateway"}})
	if err != nil {
		return mcpResult{}, fmt.Errorf("tools/call: %w", err)
	}
	if len(out.Content) > 0 {
		if text, ok := out.Content[0].(*gosdk.TextContent); ok {
			res.Echo = text.Text
		}
	}
	slices.Sort(res.Tools)
	return res, nil
}

// startGoSDKBackend serves an official Go SDK server with an echo tool
// over transport on loopback; it returns the URL a client connects to.
func startGoSDKBackend(t *testing.T, transport string) string {
	t.Helper()
	s := gosdk.NewServer(&gosdk.Implementation{Name: "go-sdk-backend", Version: "1.0.0"}, nil)
	type echoArgs struct {
		Message string `json:"message" jsonschema:"text to echo"`
	}
	gosdk.AddTool(s, &gosdk.Tool{Name: "echo", Description: "Echoes the message back."},
		func(ctx context.Context, req *gosdk.CallToolRequest, in echoArgs) (*gosdk.CallToolResult, any, error) {
			return &gosdk.CallToolResult{Content: []gosdk.Content{&gosdk.TextContent{Text: in.Message}}}, nil, nil
		})
	getServer := func(*http.Request) *gosdk.Server { return s }
	var h http.Handler
	suffix := "/mcp"
	switch transport {
	case testenv.SSE:
		h, suffix = gosdk.NewSSEHandler(getServer, nil), "/sse"
	case testenv.Streamable:
		h = gosdk.NewStreamableHTTPHandler(getServer, nil)
	case testenv.Stateless:
		h = gosdk.NewStreamableHTTPHandler(getServer, &gosdk.StreamableHTTPOptions{Stateless: true})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + suffix
}

// TestProxyMCPSDKs connects mcp-go's and the official Go SDK's clients to
// mcp-go and official Go SDK servers over every transport, directly and
// through the gateway, and expects the same tools and results.
func TestProxyMCPSDKs(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})
	type backend struct {
		name, transport, url string
	}
	var backends []backend
	for _, tr := range []string{testenv.SSE, testenv.Streamable, testenv.Stateless} {
		b := testenv.StartBackend(t, tr, testenv.NewMCPServer("mcp-go-"+tr))
		backends = append(backends, backend{"mcpgo-" + tr, tr, b.MCPURL})
		backends = append(backends, backend{"gosdk-" + tr, tr, startGoSDKBackend(t, tr)})
	}
	clients := map[string]func(context.Context, string, string) (mcpResult, error){
		"mcpgo-client": mcpGoSession,
		"gosdk-client": goSDKSession,
	}
	for _, b := range backends {
		// Register the backend's base URL; the client adds the endpoint
		// path (/mcp or /sse) after the gateway prefix.
		i := strings.LastIndex(b.url, "/")
		registerServer(t, c, "/"+b.name, b.url[:i])
		gatewayURL := c.BaseURL + "/" + b.name + b.url[i:]
		for clientName, session := range clients {
			t.Run(clientName+"/"+b.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				direct, err := session(ctx, b.transport, b.url)
				if err != nil {
					t.Skipf("this client and server do not work together even directly: %v", err)
				}
				via, err := session(ctx, b.transport, gatewayURL)
				if err != nil {
					t.Fatalf("through the gateway: %v", err)
				}
				if !slices.Equal(direct.Tools, via.Tools) || direct.Echo != via.Echo || via.Echo == "" {
					t.Errorf("through the gateway %+v, directly %+v", via, direct)
				}
			})
		}
	}
}

// TestProxyLegacySSEEndpoint checks the endpoint event of a legacy SSE
// stream: it is rewritten to the gateway path, and an endpoint already
// under the gateway path is kept.
func TestProxyLegacySSEEndpoint(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})
	b := testenv.StartBackend(t, testenv.SSE, testenv.NewMCPServer("legacy"))
	registerServer(t, c, "/weather", b.URL)
	ev := openSSE(t, c.BaseURL+"/weather/sse", nil).next(t, 5*time.Second)
	if ev.name != "endpoint" || !strings.HasPrefix(ev.data, "/weather/message?sessionId=") {
		t.Errorf("endpoint event = %+v, want data /weather/message?sessionId=...", ev)
	}

	// A server written for the original nginx gateway knows its prefix.
	prefixed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": comment\n\nevent: endpoint\ndata: /fin/messages?sessionId=abc\n\nevent: message\ndata: {\"endpoint\":\"/x\"}\n\n")
	}))
	defer prefixed.Close()
	based := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: http://%s/base/messages?sessionId=abc\r\nevent: endpoint\r\n\r\nevent: endpoint\ndata: /base/other\n\n", r.Host)
	}))
	defer based.Close()
	registerServer(t, c, "/fin", prefixed.URL)
	registerServer(t, c, "/based", based.URL+"/base")
	for path, want := range map[string]string{
		"/fin/sse":   ": comment\n\nevent: endpoint\ndata: /fin/messages?sessionId=abc\n\nevent: message\ndata: {\"endpoint\":\"/x\"}\n\n",
		"/based/sse": "data: /based/messages?sessionId=abc\r\nevent: endpoint\r\n\r\nevent: endpoint\ndata: /base/other\n\n",
	} {
		res := c.DoAnon("GET", path, nil)
		if string(res.Body) != want {
			t.Errorf("%s streamed %q, want %q", path, res.Body, want)
		}
	}
}

// progressTool sends steps progress notifications about 400 ms apart and
// waits, after each, until the test saw it arrive at the client: the call
// can only succeed if every notification passed the gateway before the
// result was even produced.
func progressTool(arrived <-chan struct{}) server.ServerTool {
	tool := mcp.NewTool("slow_progress", mcp.WithDescription("Reports progress while it works."), mcp.WithNumber("steps", mcp.Required()))
	return server.ServerTool{Tool: tool, Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		steps := req.GetInt("steps", 5)
		if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
			return mcp.NewToolResultError("no progress token"), nil
		}
		srv := server.ServerFromContext(ctx)
		for i := 1; i <= steps; i++ {
			if err := srv.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
				"progressToken": req.Params.Meta.ProgressToken, "progress": i, "total": steps,
			}); err != nil {
				return mcp.NewToolResultError(err.Error()), nil
			}
			select {
			case <-arrived:
			case <-time.After(5 * time.Second):
				return mcp.NewToolResultError(fmt.Sprintf("progress %d did not reach the client", i)), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			time.Sleep(400 * time.Millisecond)
		}
		return mcp.NewToolResultText("done"), nil
	}}
}

func TestProxyStreamsProgress(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})
	for _, tr := range []string{testenv.SSE, testenv.Streamable} {
		t.Run(tr, func(t *testing.T) {
			arrived := make(chan struct{}, 16)
			b := testenv.StartBackend(t, tr, testenv.NewMCPServer("progress", progressTool(arrived)))
			name := "/progress-" + tr
			registerServer(t, c, name, b.URL)
			url := c.BaseURL + name + b.MCPURL[len(b.URL):]

			var cl *client.Client
			var err error
			if tr == testenv.SSE {
				cl, err = client.NewSSEMCPClient(url)
			} else {
				cl, err = client.NewStreamableHttpClient(url)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := cl.Start(ctx); err != nil {
				t.Fatal(err)
			}
			var progress []float64
			cl.OnNotification(func(n mcp.JSONRPCNotification) {
				if n.Method == "notifications/progress" {
					if p, ok := n.Params.AdditionalFields["progress"].(float64); ok {
						progress = append(progress, p)
					}
					arrived <- struct{}{}
				}
			})
			init := mcp.InitializeRequest{}
			init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
			init.Params.ClientInfo = mcp.Implementation{Name: "gateway-test", Version: "1.0.0"}
			if _, err := cl.Initialize(ctx, init); err != nil {
				t.Fatal(err)
			}
			call := mcp.CallToolRequest{}
			call.Params.Name = "slow_progress"
			call.Params.Arguments = map[string]any{"steps": 5}
			call.Params.Meta = &mcp.Meta{ProgressToken: "p-1"}
			res, err := cl.CallTool(ctx, call)
			if err != nil {
				t.Fatal(err)
			}
			if res.IsError || len(res.Content) == 0 {
				t.Fatalf("tool failed: %+v", res.Content)
			}
			if text, _ := res.Content[0].(mcp.TextContent); text.Text != "done" {
				t.Errorf("result %+v", res.Content)
			}
			if !slices.Equal(progress, []float64{1, 2, 3, 4, 5}) {
				t.Errorf("progress seen: %v", progress)
			}
		})
	}
}

func TestProxyToggleEndsOnlyThatServersStreams(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})
	a := testenv.StartBackend(t, testenv.SSE, testenv.NewMCPServer("a"))
	b := testenv.StartBackend(t, testenv.SSE, testenv.NewMCPServer("b"))
	registerServer(t, c, "/a", a.URL)
	registerServer(t, c, "/b", b.URL)
	streamA := openSSE(t, c.BaseURL+"/a/sse", nil)
	streamB := openSSE(t, c.BaseURL+"/b/sse", nil)
	streamA.next(t, 5*time.Second)
	endpointB := streamB.next(t, 5*time.Second)

	metric := func(name string) string {
		t.Helper()
		res := c.Admin("GET", "/metrics", nil)
		for _, line := range strings.Split(string(res.Body), "\n") {
			if strings.HasPrefix(line, name+" ") {
				return strings.TrimPrefix(line, name+" ")
			}
		}
		return ""
	}
	if got := metric(`caddy_mcp_gateway_open_streams{server="/b"}`); got != "1" {
		t.Errorf("open streams of /b = %q, want 1", got)
	}
	// Metrics are process-wide: count the 503s this test adds.
	unavailableBefore, _ := strconv.Atoi(metric(`caddy_mcp_gateway_requests_total{code="503",server="/a"}`))

	if res := c.Do("POST", "/api/servers/a/disable", nil); res.Status != http.StatusOK {
		t.Fatalf("disabling /a: %d %s", res.Status, res.Body)
	}
	if !streamA.ended(time.Second) {
		t.Fatal("the stream of the disabled server is still open after 1s")
	}
	// /b's stream is untouched: a ping posted to its endpoint is answered
	// on it.
	res := c.DoAnon("POST", endpointB.data, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	if res.Status/100 != 2 {
		t.Fatalf("posting to /b's endpoint %s: %d %s", endpointB.data, res.Status, res.Body)
	}
	if ev := streamB.next(t, 5*time.Second); !strings.Contains(ev.data, `"id":1`) {
		t.Errorf("answer on /b's stream: %+v", ev)
	}
	if res := c.DoAnon("GET", "/a/sse", nil); res.Status != http.StatusServiceUnavailable {
		t.Errorf("new stream of disabled /a: %d", res.Status)
	}

	if res := c.Do("DELETE", "/api/servers/b", nil); res.Status/100 != 2 {
		t.Fatalf("deleting /b: %d %s", res.Status, res.Body)
	}
	if !streamB.ended(time.Second) {
		t.Fatal("the stream of the deleted server is still open after 1s")
	}
	if res := c.DoAnon("GET", "/b/sse", nil); res.Status != http.StatusNotFound {
		t.Errorf("deleted /b: %d", res.Status)
	}
	if got := metric(`caddy_mcp_gateway_open_streams{server="/b"}`); got != "0" {
		t.Errorf("open streams of /b after delete = %q, want 0", got)
	}
	if got := metric(`caddy_mcp_gateway_requests_total{code="503",server="/a"}`); got != strconv.Itoa(unavailableBefore+1) {
		t.Errorf("503 count of /a = %q, want %d", got, unavailableBefore+1)
	}
}

// tickerTool sends n progress notifications 150 ms apart, whether or not
// the client is still connected, then answers.
func tickerTool() server.ServerTool {
	tool := mcp.NewTool("ticker", mcp.WithDescription("Ticks."))
	return server.ServerTool{Tool: tool, Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		srv := server.ServerFromContext(ctx)
		for i := 1; i <= 3; i++ {
			_ = srv.SendNotificationToClient(context.WithoutCancel(ctx), "notifications/progress", map[string]any{
				"progressToken": "t", "progress": i,
			})
			time.Sleep(150 * time.Millisecond)
		}
		return mcp.NewToolResultText("ticked"), nil
	}}
}

// TestProxyStreamableSessionResumeAndDelete speaks Streamable HTTP by hand
// through the gateway: a session id, a broken POST stream resumed with
// Last-Event-ID, and DELETE ending the session.
func TestProxyStreamableSessionResumeAndDelete(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})
	s := testenv.NewMCPServer("resumable", tickerTool())
	h := server.NewStreamableHTTPServer(s, server.WithEventStore(server.NewInMemoryEventStore()))
	backend := httptest.NewServer(h)
	defer backend.Close()
	registerServer(t, c, "/res", backend.URL)
	url := c.BaseURL + "/res/mcp"

	post := func(ctx context.Context, session, body string) *http.Response {
		t.Helper()
		return postMCP(t, ctx, url, session, body)
	}
	res := post(context.Background(), "", initializeBody)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	session := res.Header.Get("Mcp-Session-Id")
	if res.StatusCode != http.StatusOK || session == "" {
		t.Fatalf("initialize: %d, session %q", res.StatusCode, session)
	}
	res = post(context.Background(), session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	res.Body.Close()

	// Read the first event of the tool call's stream, then break it.
	ctx, cancel := context.WithCancel(context.Background())
	res = post(ctx, session, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ticker","arguments":{},"_meta":{"progressToken":"t"}}}`)
	if !isSSE(res) {
		t.Fatalf("tools/call answered %d %s, want an event stream", res.StatusCode, res.Header.Get("Content-Type"))
	}
	first := readEvent(t, res.Body)
	cancel()
	res.Body.Close()
	if first.id == "" {
		t.Fatalf("first event has no id: %+v", first)
	}

	// Resume: the rest arrives, up to the result.
	stream := openSSE(t, url, http.Header{"Mcp-Session-Id": {session}, "Last-Event-Id": {first.id}, "Mcp-Protocol-Version": {"2025-06-18"}})
	var seen []string
	for {
		ev := stream.next(t, 5*time.Second)
		seen = append(seen, ev.data)
		if strings.Contains(ev.data, `"id":2`) {
			if !strings.Contains(ev.data, "ticked") {
				t.Errorf("result: %s", ev.data)
			}
			break
		}
	}
	if len(seen) < 2 {
		t.Errorf("resumed stream delivered %v, want the remaining progress and the result", seen)
	}

	// DELETE ends a session of the official Go SDK's server, which then
	// refuses it.
	goURL := startGoSDKBackend(t, testenv.Streamable)
	registerServer(t, c, "/gosdk", strings.TrimSuffix(goURL, "/mcp"))
	url = c.BaseURL + "/gosdk/mcp"
	res = post(context.Background(), "", initializeBody)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	session = res.Header.Get("Mcp-Session-Id")
	if session == "" {
		t.Fatalf("go-sdk initialize: %d without a session", res.StatusCode)
	}
	req, _ := http.NewRequest("DELETE", url, nil)
	req.Header.Set("Mcp-Session-Id", session)
	del, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	del.Body.Close()
	if del.StatusCode/100 != 2 {
		t.Errorf("DELETE: %d", del.StatusCode)
	}
	res = post(context.Background(), session, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("request in the deleted session: %d, want 404", res.StatusCode)
	}
}

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

// postMCP posts a JSON-RPC message as a Streamable HTTP client does.
func postMCP(t *testing.T, ctx context.Context, url, session, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func isSSE(res *http.Response) bool {
	return res.StatusCode == http.StatusOK && strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream")
}

// readEvent reads one SSE event from r.
func readEvent(t *testing.T, r io.Reader) sseEvent {
	t.Helper()
	var ev sseEvent
	buf := make([]byte, 1)
	var line []byte
	for {
		if _, err := r.Read(buf); err != nil {
			t.Fatalf("reading event: %v", err)
		}
		if buf[0] != '\n' {
			line = append(line, buf[0])
			continue
		}
		l := strings.TrimSuffix(string(line), "\r")
		line = line[:0]
		switch {
		case l == "":
			if ev != (sseEvent{}) {
				return ev
			}
		case strings.HasPrefix(l, "id:"):
			ev.id = strings.TrimSpace(l[3:])
		case strings.HasPrefix(l, "data:"):
			ev.data += strings.TrimSpace(l[5:])
		}
	}
}
