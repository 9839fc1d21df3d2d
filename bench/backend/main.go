// Command backend is the MCP server of the benchmark: an mcp-go server
// with an echo tool, serving stateless Streamable HTTP (JSON responses) at
// /mcp and the legacy HTTP+SSE transport at /sse and /message.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9101", "listen address")
	flag.Parse()

	s := server.NewMCPServer("bench-backend", "1.0.0", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("echo",
		mcp.WithDescription("Echoes the message back."),
		mcp.WithString("message", mcp.Required()),
	), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(req.GetString("message", "")), nil
	})
	sse := server.NewSSEServer(s)
	mux := http.NewServeMux()
	mux.Handle("/mcp", server.NewStreamableHTTPServer(s, server.WithStateLess(true)))
	mux.Handle("/sse", sse)
	mux.Handle("/message", sse)
	log.Printf("bench backend on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, mux))
}
