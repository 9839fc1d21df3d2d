package caddymodule

import (
	"math"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
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
//	mcp_gateway {
//		response_header_timeout <duration>
//		dial_timeout            <duration>
//		max_request_body        <size>
//		max_idle_conns_per_host <n>
//	}
//
// Every subdirective is optional; defaults are 30s, the registry's
// health_timeout, 4MiB and 256.
func (g *Gateway) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		name := d.Val()
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		switch name {
		case "response_header_timeout", "dial_timeout":
			dur, err := caddy.ParseDuration(val)
			if err != nil {
				return d.Errf("bad %s %q: %v", name, val, err)
			}
			if name == "dial_timeout" {
				g.DialTimeout = caddy.Duration(dur)
			} else {
				g.ResponseHeaderTimeout = caddy.Duration(dur)
			}
		case "max_request_body":
			size, err := humanize.ParseBytes(val)
			if err != nil || size == 0 || size > math.MaxInt64 {
				return d.Errf("bad max_request_body %q: want a positive size such as 4MiB", val)
			}
			g.MaxRequestBody = int64(size)
		case "max_idle_conns_per_host":
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return d.Errf("bad max_idle_conns_per_host %q: want a positive integer", val)
			}
			g.MaxIdleConnsPerHost = n
		default:
			return d.Errf("unrecognized mcp_gateway subdirective '%s'", name)
		}
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
