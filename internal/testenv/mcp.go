package testenv

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Transports of test backends.
const (
	SSE        = "sse"
	Streamable = "streamable-http"
	Stateless  = "stateless"
)

// NewMCPServer returns an mcp-go server named name with an echo tool and
// the extra tools given.
func NewMCPServer(name string, extra ...server.ServerTool) *server.MCPServer {
	s := server.NewMCPServer(name, "1.0.0", server.WithToolCapabilities(true))
	s.AddTool(mcp.NewTool("echo",
		mcp.WithDescription("Echoes the message back."),
		mcp.WithString("message", mcp.Required(), mcp.Description("Text to echo.")),
	), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		msg, err := req.RequireString("message")
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		return mcp.NewToolResultText(msg), nil
	})
	s.AddTools(extra...)
	return s
}

// Backend is a running MCP server on loopback.
type Backend struct {
	*httptest.Server
	// MCPURL is what a client connects to directly: .../mcp for Streamable
	// HTTP, .../sse for SSE.
	MCPURL string
}

// StartBackend serves s over transport (SSE, Streamable or Stateless) on a
// loopback port until the test ends. Streamable HTTP is served at /mcp;
// SSE at /sse with messages at /message.
func StartBackend(t testing.TB, transport string, s *server.MCPServer) *Backend {
	t.Helper()
	b := &Backend{}
	switch transport {
	case SSE:
		sse := server.NewSSEServer(s)
		b.Server = httptest.NewServer(sse)
		b.MCPURL = b.URL + "/sse"
		t.Cleanup(func() { _ = sse.Shutdown(context.Background()) })
	case Streamable, Stateless:
		h := server.NewStreamableHTTPServer(s, server.WithStateLess(transport == Stateless))
		b.Server = httptest.NewServer(h)
		b.MCPURL = b.URL + "/mcp"
	default:
		panic(fmt.Sprintf("unknown transport %q", transport))
	}
	t.Cleanup(b.Close)
	return b
}
