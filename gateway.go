// Package gateway is the MCP gateway and registry for Caddy. Importing it
// (or its caddymodule package) registers every module of the gateway:
// the mcp_registry app, the mcp_gateway and mcp_registry HTTP handlers and
// the admin.api.mcp_registry admin routes.
package gateway

import (
	// Registers the gateway's Caddy modules.
	_ "github.com/caddymcp/gateway/caddymodule"
)
