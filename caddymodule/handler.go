package caddymodule

import (
	"net"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

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
	// ResponseHeaderTimeout is how long the gateway waits for a backend's
	// response headers before it answers 504 (default 30s). Once headers
	// arrive, a response (such as an SSE stream) may last indefinitely.
	ResponseHeaderTimeout caddy.Duration `json:"response_header_timeout,omitempty"`

	// DialTimeout bounds connecting to a backend; a backend that does not
	// accept the connection in time is answered with 502 (default: the
	// mcp_registry app's health_timeout).
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	// MaxRequestBody is the largest request body, in bytes, that the
	// gateway forwards; larger bodies are answered with 413 (default 4 MiB).
	MaxRequestBody int64 `json:"max_request_body,omitempty"`

	// MaxIdleConnsPerHost is how many idle keep-alive connections are kept
	// per backend (default 256).
	MaxIdleConnsPerHost int `json:"max_idle_conns_per_host,omitempty"`

	app         *registryapp.App
	logger      *zap.Logger
	transport   *http.Transport
	proxy       *httputil.ReverseProxy
	table       *atomic.Pointer[routeTable]
	calls       *callSet
	unsubscribe func()
}

// Defaults of the Gateway's settings.
const (
	defaultResponseHeaderTimeout = 30 * time.Second
	defaultMaxRequestBody        = 4 << 20
	defaultMaxIdleConnsPerHost   = 256
)

// CaddyModule returns the Caddy module information.
func (Gateway) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.mcp_gateway",
		New: func() caddy.Module { return new(Gateway) },
	}
}

// Provision finds the mcp_registry app, sets defaults, builds the proxy
// and subscribes to registry changes so that disabling or removing a
// server ends its open streams.
func (g *Gateway) Provision(ctx caddy.Context) error {
	app, err := registryApp(ctx)
	if err != nil {
		return err
	}
	g.app = app
	g.logger = ctx.Logger()
	if g.ResponseHeaderTimeout <= 0 {
		g.ResponseHeaderTimeout = caddy.Duration(defaultResponseHeaderTimeout)
	}
	if g.DialTimeout <= 0 {
		g.DialTimeout = caddy.Duration(app.HealthTimeoutDuration())
	}
	if g.MaxRequestBody <= 0 {
		g.MaxRequestBody = defaultMaxRequestBody
	}
	if g.MaxIdleConnsPerHost <= 0 {
		g.MaxIdleConnsPerHost = defaultMaxIdleConnsPerHost
	}
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}

	dialer := &net.Dialer{Timeout: time.Duration(g.DialTimeout), KeepAlive: 30 * time.Second}
	g.transport = &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   time.Duration(g.DialTimeout),
		ResponseHeaderTimeout: time.Duration(g.ResponseHeaderTimeout),
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   g.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
		// Accept-Encoding passes through as the client sent it.
		DisableCompression: true,
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        rewriteRequest,
		Transport:      g.transport,
		ModifyResponse: g.modifyResponse,
		BufferPool:     sharedCopyBuffers,
		ErrorHandler:   g.proxyError,
		ErrorLog:       zap.NewStdLog(g.logger.Named("reverse_proxy")),
	}
	g.table = new(atomic.Pointer[routeTable])
	g.calls = newCallSet()
	g.unsubscribe = app.Registry().Subscribe(g.onRegistryEvent)
	return nil
}

// Cleanup stops following registry changes once the last in-flight
// request of this config generation ends (its streams survive a reload,
// and disabling their server must still end them), and closes idle
// backend connections.
func (g *Gateway) Cleanup() error {
	if g.unsubscribe != nil {
		g.calls.retire(g.unsubscribe)
	}
	if g.transport != nil {
		g.transport.CloseIdleConnections()
	}
	return nil
}

// ServeHTTP proxies requests of registered servers and passes all other
// requests to the next handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	prefix, rest, ok := splitRoute(r.URL.EscapedPath())
	rt := g.routes().byPath[prefix]
	if !ok || rt == nil {
		return nextOrNotFound(w, r, next)
	}
	g.serveRoute(w, r, rt, rest)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Gateway)(nil)
	_ caddy.CleanerUpper          = (*Gateway)(nil)
	_ caddyhttp.MiddlewareHandler = (*Gateway)(nil)
)
