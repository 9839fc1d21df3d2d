package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddymcp/gateway/registryapp"
)

func init() {
	caddy.RegisterModule(Gateway{})
}

// Gateway routes /<server-path>/... of every enabled registered server to
// its backend. Routes come from the registry's in-memory snapshot, so
// registry changes apply to the next request with no config reload.
// Requests that match no registered server go to the next handler.
type Gateway struct {
	app *registryapp.App
}

// CaddyModule returns the Caddy module information.
func (Gateway) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mcp_gateway",
		New: func() caddy.Module { return new(Gateway) },
	}
}

// Provision finds the mcp_registry app.
func (g *Gateway) Provision(ctx caddy.Context) error {
	app, err := registryApp(ctx)
	if err != nil {
		return err
	}
	g.app = app
	return nil
}

// ServeHTTP proxies requests of registered servers.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return nextOrNotFound(w, r, next)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Gateway)(nil)
	_ caddyhttp.MiddlewareHandler = (*Gateway)(nil)
)
