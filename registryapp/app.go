// Package registryapp is the mcp_registry Caddy app: it owns the registry
// store, runs the health and discovery loops, publishes changes to the live
// feed, and serves the UI, REST API, WebSocket feed and the mcpgw MCP server
// through the mcp_registry HTTP handler.
package registryapp

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(App{})
}

// registries holds one Registry per database file, shared by the config
// generations of this process so that a reload never reopens the file.
var registries = caddy.NewUsagePool()

// active is the app of the running config; the admin API uses it.
var active atomic.Pointer[App]

// App is the mcp_registry app. Configure it with the global Caddyfile
// option `mcp_registry { ... }`; the HTTP handlers mcp_registry and
// mcp_gateway use it.
type App struct {
	// Storage is the path of the bbolt registry file (default
	// mcp-registry.db in Caddy's data directory).
	Storage string `json:"storage,omitempty"`

	// HealthInterval is how often each enabled server is checked
	// (default 30s).
	HealthInterval caddy.Duration `json:"health_interval,omitempty"`

	// HealthTimeout bounds one health check and is the time within which
	// the gateway answers 502 for a backend that does not accept
	// connections (default 5s).
	HealthTimeout caddy.Duration `json:"health_timeout,omitempty"`

	// DiscoveryInterval is how often the tools of each enabled server are
	// listed again (default 5m).
	DiscoveryInterval caddy.Duration `json:"discovery_interval,omitempty"`

	// HealthConcurrency is how many checks may run at once (default 32).
	HealthConcurrency int `json:"health_concurrency,omitempty"`

	// DiscoveryTimeout bounds one listing of a server's tools, all pages
	// together (default 30s).
	DiscoveryTimeout caddy.Duration `json:"discovery_timeout,omitempty"`

	// DiscoveryMaxPages is how many pages of tools/list are read from one
	// server; the tools of further pages are left out (default 50).
	DiscoveryMaxPages int `json:"discovery_max_pages,omitempty"`

	// DiscoveryMaxBytes bounds the bytes read from a server during one
	// check or listing (default 8 MiB).
	DiscoveryMaxBytes int64 `json:"discovery_max_bytes,omitempty"`

	// AdminUser is the user name of the administrator (default "admin").
	AdminUser string `json:"admin_user,omitempty"`

	// AdminPassword is the administrator's password. If empty, a random
	// password is generated once per process and logged.
	AdminPassword string `json:"admin_password,omitempty"`

	// APITokens are bearer tokens accepted in the Authorization header of
	// API, WebSocket and mcpgw requests.
	APITokens []string `json:"api_tokens,omitempty"`

	// AllowedOrigins are the origins (scheme://host[:port]) allowed to
	// open the WebSocket feed besides the site's own (default none).
	AllowedOrigins []string `json:"allowed_origins,omitempty"`

	// SessionTTL is how long a browser login lasts (default 12h).
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`

	ctx      caddy.Context
	logger   *zap.Logger
	registry *Registry
	auth     *authenticator
	poolKey  string
	mux      *http.ServeMux
	admin    *http.ServeMux
	metrics  *healthMetrics
	checker  *checker
	feed     *feedHub
	mcpgw    *mcpgw
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "mcp_registry",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision sets defaults and opens (or joins) the registry store.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()

	if a.Storage == "" {
		a.Storage = filepath.Join(caddy.AppDataDir(), "mcp-registry.db")
	}
	if a.HealthInterval <= 0 {
		a.HealthInterval = caddy.Duration(30 * time.Second)
	}
	if a.HealthTimeout <= 0 {
		a.HealthTimeout = caddy.Duration(5 * time.Second)
	}
	if a.DiscoveryInterval <= 0 {
		a.DiscoveryInterval = caddy.Duration(5 * time.Minute)
	}
	if a.HealthConcurrency <= 0 {
		a.HealthConcurrency = 32
	}
	if a.DiscoveryTimeout <= 0 {
		a.DiscoveryTimeout = caddy.Duration(30 * time.Second)
	}
	if a.DiscoveryMaxPages <= 0 {
		a.DiscoveryMaxPages = 50
	}
	if a.DiscoveryMaxBytes <= 0 {
		a.DiscoveryMaxBytes = 8 << 20
	}
	if a.AdminUser == "" {
		a.AdminUser = "admin"
	}
	if a.SessionTTL <= 0 {
		a.SessionTTL = caddy.Duration(12 * time.Hour)
	}

	abs, err := filepath.Abs(a.Storage)
	if err != nil {
		return fmt.Errorf("storage path %q: %w", a.Storage, err)
	}
	a.poolKey = filepath.Clean(abs)
	val, _, err := registries.LoadOrNew(a.poolKey, func() (caddy.Destructor, error) {
		return openRegistry(a.poolKey)
	})
	if err != nil {
		return err
	}
	a.registry = val.(*Registry)

	password := a.AdminPassword
	if password == "" {
		password = generatedPassword()
		logGeneratedPassword(a.logger, a.AdminUser, password)
	}
	a.auth = &authenticator{
		user:     a.AdminUser,
		password: newSecret(password),
		sessions: a.registry.sessions,
		ttl:      time.Duration(a.SessionTTL),
	}
	for _, t := range a.APITokens {
		a.auth.tokens = append(a.auth.tokens, newSecret(t))
	}
	a.AdminPassword = ""
	a.APITokens = nil
	a.mux = a.buildMux()
	a.admin = a.adminMux()
	if a.metrics, err = newHealthMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering health metrics: %w", err)
	}
	a.checker = newChecker(a)
	a.feed = newFeedHub(a)
	return nil
}

var passwordLogged sync.Once

func logGeneratedPassword(logger *zap.Logger, user, password string) {
	passwordLogged.Do(func() {
		logger.Warn("no admin_password configured; generated one for this process (set ADMIN_PASSWORD to choose it)",
			zap.String("admin_user", user), zap.String("admin_password", password))
	})
}

// Start makes this app the active one for the admin API and starts the
// health and discovery loops and the live feed.
func (a *App) Start() error {
	active.Store(a)
	a.feed.start()
	a.checker.start()
	a.logger.Info("registry open", zap.String("storage", a.poolKey), zap.Int("servers", len(a.registry.Snapshot().Servers())))
	return nil
}

// Stop ends this app's background work: it stops the loops, waits for
// the checks in flight and closes the WebSocket connections of the feed.
func (a *App) Stop() error {
	active.CompareAndSwap(a, nil)
	a.checker.stop()
	a.mcpgw.close()
	a.feed.stop()
	return nil
}

// Cleanup releases this config generation's use of the store; the last
// user closes it.
func (a *App) Cleanup() error {
	if a.poolKey == "" {
		return nil
	}
	_, err := registries.Delete(a.poolKey)
	return err
}

// Registry returns the service layer over the registered servers.
func (a *App) Registry() *Registry { return a.registry }

// HealthTimeoutDuration returns the configured health timeout.
func (a *App) HealthTimeoutDuration() time.Duration { return time.Duration(a.HealthTimeout) }

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ http.Handler       = (*App)(nil)
	_ caddy.Destructor   = (*Registry)(nil)
)
