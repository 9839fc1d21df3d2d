package registryapp

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("mcp_registry", parseGlobalOption)
}

// parseGlobalOption sets up the mcp_registry app from the global option:
//
//	mcp_registry {
//		storage            <path>
//		health_interval    <duration>
//		health_timeout     <duration>
//		discovery_interval <duration>
//		health_concurrency <n>
//		discovery_timeout  <duration>
//		discovery_max_pages <n>
//		discovery_max_bytes <n>
//		admin_user         <name>
//		admin_password     <password>
//		api_token          <token>
//		allowed_origins    <origin...>
//		session_ttl        <duration>
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "mcp_registry", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from Caddyfile tokens; see
// parseGlobalOption for the syntax.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		name := d.Val()
		switch name {
		case "admin_user", "admin_password":
			// Without a value (an unset {$ENV} placeholder) the default
			// applies: user admin, a generated password.
			args := d.RemainingArgs()
			if len(args) > 1 {
				return d.ArgErr()
			}
			if len(args) == 1 && name == "admin_user" {
				a.AdminUser = args[0]
			} else if len(args) == 1 {
				a.AdminPassword = args[0]
			}
		case "storage", "api_token":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if name == "storage" {
				a.Storage = d.Val()
			} else {
				a.APITokens = append(a.APITokens, d.Val())
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "health_interval", "health_timeout", "discovery_interval", "discovery_timeout", "session_ttl":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("%s: %v", name, err)
			}
			if dur <= 0 {
				return d.Errf("%s must be positive", name)
			}
			switch name {
			case "health_interval":
				a.HealthInterval = caddy.Duration(dur)
			case "health_timeout":
				a.HealthTimeout = caddy.Duration(dur)
			case "discovery_interval":
				a.DiscoveryInterval = caddy.Duration(dur)
			case "discovery_timeout":
				a.DiscoveryTimeout = caddy.Duration(dur)
			case "session_ttl":
				a.SessionTTL = caddy.Duration(dur)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "health_concurrency":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n < 1 {
				return d.Errf("health_concurrency must be a positive whole number, got %q", d.Val())
			}
			a.HealthConcurrency = n
			if d.NextArg() {
				return d.ArgErr()
			}
		case "discovery_max_pages", "discovery_max_bytes":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.ParseInt(d.Val(), 10, 64)
			if err != nil || n < 1 {
				return d.Errf("%s must be a positive whole number, got %q", name, d.Val())
			}
			if name == "discovery_max_pages" {
				a.DiscoveryMaxPages = int(n)
			} else {
				a.DiscoveryMaxBytes = n
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "allowed_origins":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			a.AllowedOrigins = append(a.AllowedOrigins, args...)
		default:
			return d.Errf("unrecognized mcp_registry option '%s'", name)
		}
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*App)(nil)
