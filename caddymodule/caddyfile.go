package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	// Both come before reverse_proxy, so that a site can send what they do
	// not own to a reverse_proxy or file_server; their paths never overlap.
	httpcaddyfile.RegisterHandlerDirective("mcp_registry", parseRegistryDirective)
	httpcaddyfile.RegisterDirectiveOrder("mcp_registry", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterHandlerDirective("mcp_gateway", parseGatewayDirective)
	httpcaddyfile.RegisterDirectiveOrder("mcp_gateway", httpcaddyfile.Before, "reverse_proxy")
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	mcp_registry
//
// The registry's settings are the global option mcp_registry { ... }.
func (h *RegistryHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		return d.Errf("unrecognized mcp_registry subdirective '%s'", d.Val())
	}
	return nil
}

func parseRegistryDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(RegistryHandler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	mcp_gateway
func (g *Gateway) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		return d.Errf("unrecognized mcp_gateway subdirective '%s'", d.Val())
	}
	return nil
}

func parseGatewayDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(Gateway)
	err := g.UnmarshalCaddyfile(h.Dispenser)
	return g, err
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*RegistryHandler)(nil)
	_ caddyfile.Unmarshaler = (*Gateway)(nil)
)
