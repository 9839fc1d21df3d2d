package mcpprobe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestEndpoint(t *testing.T) {
	for _, tc := range []struct{ base, transport, want string }{
		{"http://h:1", StreamableHTTP, "http://h:1/mcp"},
		{"http://h:1/", SSE, "http://h:1/sse"},
		{"http://h:1/base", StreamableHTTP, "http://h:1/base/mcp"},
		{"http://h:1/base/mcp", StreamableHTTP, "http://h:1/base/mcp"},
		{"http://h:1/sse/", SSE, "http://h:1/sse"},
		{"http://h:1/x?k=v", SSE, "http://h:1/x/sse?k=v"},
	} {
		got, err := Endpoint(tc.base, tc.transport)
		if err != nil || got != tc.want {
			t.Errorf("Endpoint(%q, %s) = %q, %v; want %q", tc.base, tc.transport, got, err, tc.want)
		}
	}
}

// rpcServer is a Streamable HTTP MCP server of protocol 2025-06-18 written
// out by hand, so that tests can shape its answers. It counts the
// requests of each method.
type rpcServer struct {
	calls      map[string]*atomic.Int64
	ignoreDisc bool         // never answer server/discover
	toolsList  func() any   // result of tools/list
	handle     http.Handler // if set, serves instead
	hits       atomic.Int64 // all requests
}

func newRPCServer(t *testing.T, configure func(*rpcServer)) (*rpcServer, *httptest.Server) {
	s := &rpcServer{calls: map[string]*atomic.Int64{}}
	for _, m := range []string{"server/discover", "initialize", "ping", "tools/list"} {
		s.calls[m] = new(atomic.Int64)
	}
	s.toolsList = func() any {
		return map[string]any{"tools": []any{map[string]any{"name": "echo", "inputSchema": map[string]any{"type": "object"}}}}
	}
	if configure != nil {
		configure(s)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func (s *rpcServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	if s.handle != nil {
		s.handle.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if c, ok := s.calls[req.Method]; ok {
		c.Add(1)
	}
	if req.ID == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	var result any
	switch req.Method {
	case "server/discover":
		if s.ignoreDisc {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"method not found"}}`, req.ID)
		return
	case "initialize":
		result = map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{"tools": map[string]any{}},
			"serverInfo": map[string]any{"name": "hand", "version": "1"}}
	case "ping":
		result = map[string]any{}
	case "tools/list":
		result = s.toolsList()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
}

func probe(t *testing.T, p *Prober, url string, list bool) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.Probe(ctx, Request{BaseURL: url, Transport: Auto, ListTools: list})
}

// A server that ignores server/discover costs the discover timeout once;
// later checks go straight to initialize.
func TestRevisionIsRemembered(t *testing.T) {
	s, srv := newRPCServer(t, func(s *rpcServer) { s.ignoreDisc = true })
	p := New(2 * time.Second)
	defer p.Close()
	res, err := probe(t, p, srv.URL, true)
	if err != nil {
		t.Fatalf("first probe: %v", err)
	}
	if res.ProtocolVersion != "2025-06-18" || res.Transport != StreamableHTTP || len(res.Tools) != 1 {
		t.Errorf("first probe = %+v", res)
	}
	if n := s.calls["server/discover"].Load(); n != 1 {
		t.Errorf("server/discover sent %d times, want 1", n)
	}
	for range 3 {
		if _, err := probe(t, p, srv.URL, false); err != nil {
			t.Fatalf("later probe: %v", err)
		}
	}
	if n := s.calls["server/discover"].Load(); n != 1 {
		t.Errorf("server/discover sent %d times after later probes, want still 1", n)
	}
	if n := s.calls["ping"].Load(); n != 4 {
		t.Errorf("ping sent %d times, want 4", n)
	}
}

// The official Go SDK answers server/discover but rejects 2026-07-28 on
// tools/list: the probe must settle on the initialize handshake.
func TestGoSDKServerSettlesOnInitialize(t *testing.T) {
	s := gosdk.NewServer(&gosdk.Implementation{Name: "x", Version: "1"}, nil)
	type args struct {
		City string `json:"city"`
	}
	gosdk.AddTool(s, &gosdk.Tool{Name: "weather"}, func(context.Context, *gosdk.CallToolRequest, args) (*gosdk.CallToolResult, any, error) {
		return &gosdk.CallToolResult{}, nil, nil
	})
	srv := httptest.NewServer(gosdk.NewStreamableHTTPHandler(func(*http.Request) *gosdk.Server { return s }, nil))
	defer srv.Close()
	p := New(2 * time.Second)
	defer p.Close()
	for i := range 2 {
		res, err := probe(t, p, srv.URL, true)
		if err != nil {
			t.Fatalf("probe %d: %v", i, err)
		}
		if len(res.Tools) != 1 || res.Tools[0].Name != "weather" || !strings.Contains(string(res.Tools[0].InputSchema), "city") {
			t.Errorf("probe %d tools = %+v", i, res.Tools)
		}
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	_, target := newRPCServer(t, nil)
	s, srv := newRPCServer(t, func(s *rpcServer) {
		s.handle = http.RedirectHandler(target.URL+"/mcp", http.StatusTemporaryRedirect)
	})
	p := New(2 * time.Second)
	defer p.Close()
	_, err := probe(t, p, srv.URL, false)
	if err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("probe of a redirecting server: %v, want a redirect error", err)
	}
	if s.hits.Load() == 0 {
		t.Error("the redirecting server was not asked")
	}
}

func TestResponseSizeIsCapped(t *testing.T) {
	_, srv := newRPCServer(t, func(s *rpcServer) {
		s.toolsList = func() any {
			return map[string]any{"tools": []any{map[string]any{"name": "big", "description": strings.Repeat("x", 1<<20), "inputSchema": map[string]any{}}}}
		}
	})
	p := New(2 * time.Second)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := p.Probe(ctx, Request{BaseURL: srv.URL, Transport: StreamableHTTP, ListTools: true, MaxBytes: 64 << 10})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("probe = %v, want ErrTooLarge", err)
	}
}
