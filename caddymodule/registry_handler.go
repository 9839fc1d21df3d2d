// Package caddymodule holds the HTTP handler modules of the MCP gateway
// and their Caddyfile directives. Importing it (xcaddy --with
// github.com/caddymcp/gateway/caddymodule) registers every module of the
// gateway: mcp_gateway, mcp_registry (handler and app) and the admin API.
package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddymcp/gateway/registryapp"
)

func init() {
	caddy.RegisterModule(RegistryHandler{})
}

// RegistryHandler mounts the mcp_registry app's web UI, REST API,
// WebSocket feed and mcpgw MCP server on a site. Requests for paths the
// registry does not own go to the next handler.
type RegistryHandler struct {
	app *registryapp.App
}

// CaddyModule returns the Caddy module information.
func (RegistryHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mcp_registry",
		New: func() caddy.Module { return new(RegistryHandler) },
	}
}

// Provision finds the mcp_registry app (configured with its defaults if
// the global option is absent).
func (h *RegistryHandler) Provision(ctx caddy.Context) error {
	app, err := registryApp(ctx)
	if err != nil {
		return err
	}
	h.app = app
	return nil
}

// registryApp returns the mcp_registry app of the config being provisioned.
func registryApp(ctx caddy.Context) (*registryapp.App, error) {
	v, err := ctx.App("mcp_registry")
	if err != nil {
		return nil, fmt.Errorf("loading mcp_registry app: %w", err)
	}
	app, ok := v.(*registryapp.App)
	if !ok {
		return nil, fmt.Errorf("mcp_registry app is %T, not *registryapp.App", v)
	}
	return app, nil
}

// ServeHTTP serves the registry's own paths and passes the rest on.
func (h *RegistryHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// The same cleaning as the gateway's routing, so that the two handlers
	// agree on who owns a path such as /weather/../api/stats.
	if prefix, _, ok := splitRoute(r.URL.EscapedPath()); !ok || !h.app.Owns(prefix) {
		return nextOrNotFound(w, r, next)
	}
	h.app.ServeHTTP(w, r)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*RegistryHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*RegistryHandler)(nil)
)
