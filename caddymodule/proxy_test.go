package caddymodule_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	_ "github.com/caddymcp/gateway/caddymodule"
	"github.com/caddymcp/gateway/internal/testenv"
)

// registerServer registers a server through the REST API.
func registerServer(t *testing.T, c *testenv.Caddy, path, url string) {
	t.Helper()
	res := c.Do("POST", "/api/servers", map[string]any{
		"path": path, "name": strings.TrimPrefix(path, "/"), "proxy_pass_url": url, "transport": "streamable-http",
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("registering %s: %d %s", path, res.Status, res.Body)
	}
}

// echoRequest is what the echo backend saw of a request.
type echoRequest struct {
	Method, Path, Query, Host, Body string
	Header                          http.Header
}

// startEchoBackend serves a backend that answers every request with a
// JSON description of it, and echoes Mcp-Session-Id back.
func startEchoBackend(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Mcp-Session-Id", r.Header.Get("Mcp-Session-Id"))
		_ = json.NewEncoder(w).Encode(echoRequest{
			Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Host: r.Host, Body: string(body), Header: r.Header,
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestProxyRouting(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Site: "mcp_registry\n\tmcp_gateway\n\trespond /other \"other route\" 200"})
	backend := startEchoBackend(t)
	registerServer(t, c, "/w", backend.URL+"/base")

	get := func(path string, header http.Header) (*http.Response, echoRequest) {
		t.Helper()
		req, err := http.NewRequest("POST", c.BaseURL+path, strings.NewReader(`{"jsonrpc":"2.0"}`))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer res.Body.Close()
		var seen echoRequest
		if res.StatusCode == http.StatusOK {
			if err := json.NewDecoder(res.Body).Decode(&seen); err != nil {
				t.Fatalf("decoding backend echo: %v", err)
			}
		}
		return res, seen
	}

	cases := []struct{ in, wantPath, wantQuery string }{
		{"/w", "/base", ""},
		{"/w/", "/base/", ""},
		{"/w/mcp?x=1&y=a%20b", "/base/mcp", "x=1&y=a%20b"},
		{"/w/a/../mcp", "/base/mcp", ""},
		{"//w//mcp", "/base/mcp", ""},
		{"/w/a%2Fb/c", "/base/a%2Fb/c", ""},
		{"/w/a/%2E%2E/mcp", "/base/mcp", ""},
	}
	for _, tc := range cases {
		res, seen := get(tc.in, http.Header{"Mcp-Session-Id": {"s-1"}, "Mcp-Protocol-Version": {"2025-06-18"}, "Mcp-Method": {"tools/call"}, "Mcp-Name": {"echo"}, "Last-Event-Id": {"7"}})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", tc.in, res.StatusCode)
		}
		if seen.Path != tc.wantPath || seen.Query != tc.wantQuery {
			t.Errorf("%s reached %s?%s, want %s?%s", tc.in, seen.Path, seen.Query, tc.wantPath, tc.wantQuery)
		}
		if seen.Method != "POST" || seen.Body != `{"jsonrpc":"2.0"}` {
			t.Errorf("%s: backend saw %s with body %q", tc.in, seen.Method, seen.Body)
		}
		if want := strings.TrimPrefix(backend.URL, "http://"); seen.Host != want {
			t.Errorf("%s: backend saw Host %q, want its own %q", tc.in, seen.Host, want)
		}
		if got := seen.Header.Get("X-Forwarded-Host"); got != fmt.Sprintf("127.0.0.1:%d", c.HTTPPort) {
			t.Errorf("X-Forwarded-Host = %q", got)
		}
		if seen.Header.Get("X-Forwarded-For") != "127.0.0.1" || seen.Header.Get("X-Forwarded-Proto") != "http" {
			t.Errorf("X-Forwarded-For/Proto = %q/%q", seen.Header.Get("X-Forwarded-For"), seen.Header.Get("X-Forwarded-Proto"))
		}
		if seen.Header.Get("Mcp-Protocol-Version") != "2025-06-18" || seen.Header.Get("Mcp-Method") != "tools/call" ||
			seen.Header.Get("Mcp-Name") != "echo" || seen.Header.Get("Last-Event-Id") != "7" || res.Header.Get("Mcp-Session-Id") != "s-1" {
			t.Errorf("MCP headers not passed both ways: %v / %v", seen.Header, res.Header)
		}
	}

	// Whole segments only: /w never captures /wx; unmatched paths reach
	// the rest of the site, and its end answers 404.
	for _, p := range []string{"/wx", "/wx/mcp", "/nothing", "/w%2Fmcp", "/w/%2E%2E/mcp"} {
		res, _ := get(p, nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, res.StatusCode)
		}
	}
	if res := c.DoAnon("GET", "/other", nil); res.Status != http.StatusOK || string(res.Body) != "other route" {
		t.Errorf("other route of the site: %d %q", res.Status, res.Body)
	}

	// An update is live on the next request, with no reload.
	other := startEchoBackend(t)
	res := c.Do("PUT", "/api/servers/w", map[string]any{"path": "/w", "name": "w", "proxy_pass_url": other.URL, "transport": "streamable-http"})
	if res.Status != http.StatusOK {
		t.Fatalf("updating /w: %d %s", res.Status, res.Body)
	}
	if _, seen := get("/w/mcp", nil); seen.Host != strings.TrimPrefix(other.URL, "http://") || seen.Path != "/mcp" {
		t.Errorf("after update, reached %s%s", seen.Host, seen.Path)
	}

	// Requests are counted per server.
	var stats struct {
		Requests map[string]uint64 `json:"requests"`
	}
	c.Do("GET", "/api/stats", nil).JSON(t, &stats)
	if stats.Requests["/w"] != uint64(len(cases)+1) {
		t.Errorf("request count of /w = %d, want %d", stats.Requests["/w"], len(cases)+1)
	}
}

func TestProxyErrors(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{
		Registry: "health_timeout 2s",
		Site:     "mcp_registry\n\tmcp_gateway {\n\t\tresponse_header_timeout 300ms\n\t\tmax_request_body 1KiB\n\t}",
	})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer slow.Close()
	defer close(release)
	backend := startEchoBackend(t)
	registerServer(t, c, "/slow", slow.URL)
	registerServer(t, c, "/ok", backend.URL)
	registerServer(t, c, "/down", fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)))
	// TEST-NET-1 (RFC 5737): nothing answers there; the dial gives up
	// within health_timeout.
	registerServer(t, c, "/void", "http://192.0.2.1:9")
	if res := c.Do("POST", "/api/servers/ok/disable", nil); res.Status != http.StatusOK {
		t.Fatalf("disabling: %d %s", res.Status, res.Body)
	}

	check := func(name string, req *http.Request, want int) {
		t.Helper()
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer res.Body.Close()
		var body map[string]string
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Errorf("%s: body is not JSON: %v", name, err)
		}
		if res.StatusCode != want || body["error"] == "" {
			t.Errorf("%s: %d %v, want %d with an error message", name, res.StatusCode, body, want)
		}
		t.Logf("%s: %d %v in %v", name, res.StatusCode, body, time.Since(start).Round(time.Millisecond))
	}
	newReq := func(method, path string, body io.Reader) *http.Request {
		req, err := http.NewRequest(method, c.BaseURL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	check("disabled", newReq("POST", "/ok/mcp", strings.NewReader("{}")), http.StatusServiceUnavailable)
	check("refused", newReq("POST", "/down/mcp", strings.NewReader("{}")), http.StatusBadGateway)
	check("silent", newReq("POST", "/slow/mcp", strings.NewReader("{}")), http.StatusGatewayTimeout)
	start := time.Now()
	check("unreachable", newReq("POST", "/void/mcp", strings.NewReader("{}")), http.StatusBadGateway)
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("unreachable backend answered after %v, health_timeout is 2s", d)
	}

	if res := c.Do("POST", "/api/servers/ok/enable", nil); res.Status != http.StatusOK {
		t.Fatalf("enabling: %d %s", res.Status, res.Body)
	}
	big := strings.Repeat("x", 2048)
	check("too large", newReq("POST", "/ok/mcp", strings.NewReader(big)), http.StatusRequestEntityTooLarge)
	// A chunked body has no length up front; the limit applies as it streams.
	check("too large, chunked", newReq("POST", "/ok/mcp", io.MultiReader(strings.NewReader(big))), http.StatusRequestEntityTooLarge)
	if res := c.DoAnon("POST", "/ok/mcp", strings.Repeat("y", 1000)); res.Status != http.StatusOK {
		t.Errorf("body under the limit: %d %s", res.Status, res.Body)
	}
}

// sseStream is an open event stream read event by event.
type sseStream struct {
	res    *http.Response
	events chan sseEvent
}

type sseEvent struct{ id, name, data string }

// openSSE opens a GET event stream and reads its events in the background
// until the stream ends; the channel is closed then.
func openSSE(t *testing.T, url string, header http.Header) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	s := &sseStream{res: res, events: make(chan sseEvent, 64)}
	go func() {
		defer close(s.events)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id:"):
				ev.id = strings.TrimSpace(line[3:])
			case strings.HasPrefix(line, "event:"):
				ev.name = strings.TrimSpace(line[6:])
			case strings.HasPrefix(line, "data:"):
				ev.data += strings.TrimPrefix(line[5:], " ")
			}
		}
	}()
	return s
}

// next returns the next event, failing the test after the deadline.
func (s *sseStream) next(t *testing.T, within time.Duration) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatalf("stream ended while waiting for an event")
		}
		return ev
	case <-time.After(within):
		t.Fatalf("no event within %v", within)
	}
	return sseEvent{}
}

// ended waits until the stream ends and reports whether it did in time.
func (s *sseStream) ended(within time.Duration) bool {
	deadline := time.After(within)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// TestProxyAcrossReloads reloads the config while a server is registered:
// routing keeps working with no re-registration, and the gateway of the
// new config still ends the streams of a disabled server.
func TestProxyAcrossReloads(t *testing.T) {
	opts := testenv.Options{}
	c := testenv.StartCaddy(t, opts)
	b := testenv.StartBackend(t, testenv.SSE, testenv.NewMCPServer("reloaded"))
	registerServer(t, c, "/r", b.URL)
	for i := 0; i < 2; i++ {
		if err := c.Load(opts); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	stream := openSSE(t, c.BaseURL+"/r/sse", nil)
	if ev := stream.next(t, 5*time.Second); ev.name != "endpoint" {
		t.Fatalf("first event after reloads: %+v", ev)
	}
	if res := c.Do("POST", "/api/servers/r/disable", nil); res.Status != http.StatusOK {
		t.Fatalf("disabling: %d %s", res.Status, res.Body)
	}
	if !stream.ended(time.Second) {
		t.Fatal("stream still open 1s after disabling")
	}
}

// TestProxyStreamOpenedBeforeReload: a stream opened under the old config
// keeps flowing across a reload (as nginx's old workers keep theirs), and
// disabling its server after the reload still ends it.
func TestProxyStreamOpenedBeforeReload(t *testing.T) {
	opts := testenv.Options{}
	c := testenv.StartCaddy(t, opts)
	b := testenv.StartBackend(t, testenv.SSE, testenv.NewMCPServer("long-lived"))
	registerServer(t, c, "/ll", b.URL)
	stream := openSSE(t, c.BaseURL+"/ll/sse", nil)
	if ev := stream.next(t, 5*time.Second); ev.name != "endpoint" {
		t.Fatalf("first event: %+v", ev)
	}
	if err := c.Load(testenv.Options{Registry: "health_interval 45s"}); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if stream.ended(300 * time.Millisecond) {
		t.Fatal("the reload ended a stream of an enabled server")
	}
	if res := c.Do("POST", "/api/servers/ll/disable", nil); res.Status != http.StatusOK {
		t.Fatalf("disabling: %d %s", res.Status, res.Body)
	}
	if !stream.ended(time.Second) {
		t.Fatal("a stream opened before the reload is still open 1s after disabling its server")
	}
}

// TestProxyBackendChangeEndsStreams: a new proxy_pass_url ends the streams
// still connected to the old backend; an edit that keeps the backend does
// not.
func TestProxyBackendChangeEndsStreams(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})
	a := testenv.StartBackend(t, testenv.SSE, testenv.NewMCPServer("a"))
	b := testenv.StartBackend(t, testenv.SSE, testenv.NewMCPServer("b"))
	registerServer(t, c, "/m", a.URL)
	stream := openSSE(t, c.BaseURL+"/m/sse", nil)
	endpoint := stream.next(t, 5*time.Second)

	edit := func(url, description string) {
		t.Helper()
		res := c.Do("PUT", "/api/servers/m", map[string]any{
			"path": "/m", "name": "m", "proxy_pass_url": url, "transport": "sse", "description": description,
		})
		if res.Status != http.StatusOK {
			t.Fatalf("editing /m: %d %s", res.Status, res.Body)
		}
	}
	edit(a.URL, "same backend, new words")
	res := c.DoAnon("POST", endpoint.data, `{"jsonrpc":"2.0","id":7,"method":"ping"}`)
	if res.Status/100 != 2 {
		t.Fatalf("posting after a description edit: %d %s", res.Status, res.Body)
	}
	if ev := stream.next(t, 5*time.Second); !strings.Contains(ev.data, `"id":7`) {
		t.Errorf("answer on the stream: %+v", ev)
	}

	edit(b.URL, "moved")
	if !stream.ended(time.Second) {
		t.Fatal("the stream to the old backend is still open 1s after the move")
	}
	if ev := openSSE(t, c.BaseURL+"/m/sse", nil).next(t, 5*time.Second); ev.name != "endpoint" {
		t.Errorf("new stream after the move: %+v", ev)
	}
}
