package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddymcp/gateway/registryapp"
)

// Causes with which the gateway ends a server's in-flight requests.
var (
	errServerDisabled = errors.New("server disabled")
	errServerRemoved  = errors.New("server removed")
	errServerMoved    = errors.New("server's backend changed")
)

// route is the proxy state of one registered server, built once per
// record version.
type route struct {
	srv    *registryapp.Server
	target *url.URL // parsed proxy_pass_url; nil if it does not parse
}

// routeTable maps server paths to routes for one registry snapshot.
type routeTable struct {
	snap   *registryapp.Snapshot
	byPath map[string]*route
}

// routes returns the routing table of the registry's current snapshot,
// rebuilding it when the snapshot changed. Routes of records that did not
// change are reused.
func (g *Gateway) routes() *routeTable {
	snap := g.app.Registry().Snapshot()
	old := g.table.Load()
	if old != nil && old.snap == snap {
		return old
	}
	t := &routeTable{snap: snap, byPath: make(map[string]*route, len(snap.Servers()))}
	for _, srv := range snap.Servers() {
		if old != nil {
			if rt := old.byPath[srv.Path]; rt != nil && rt.srv == srv {
				t.byPath[srv.Path] = rt
				continue
			}
		}
		rt := &route{srv: srv}
		if u, err := url.Parse(srv.ProxyPassURL); err == nil && u.Host != "" {
			rt.target = u
		}
		t.byPath[srv.Path] = rt
	}
	// A concurrent rebuild for the same snapshot is equivalent; the last
	// store wins and the next snapshot replaces it anyway.
	g.table.Store(t)
	return t
}

// splitRoute cleans an escaped request path segment by segment and
// splits it into the server path (its decoded first segment) and the rest
// of the path, still escaped as the client sent it, with a trailing slash
// kept: "/w/a/../b/" gives "/w" and "/b/". Empty, "." and ".." segments
// are resolved on their decoded values (so "%2E%2E" is a ".."), while an
// encoded slash stays inside its segment: "/w%2Fx/y" has the first
// segment "w/x", which no server path matches. ok is false for an
// invalid escape.
func splitRoute(escaped string) (prefix, rest string, ok bool) {
	var segs []string
	for _, seg := range strings.Split(escaped, "/") {
		decoded, err := url.PathUnescape(seg)
		if err != nil {
			return "", "", false
		}
		switch decoded {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	if len(segs) == 0 {
		return "/", "", true
	}
	first, _ := url.PathUnescape(segs[0])
	if len(segs) > 1 {
		rest = "/" + strings.Join(segs[1:], "/")
	}
	if strings.HasSuffix(escaped, "/") {
		rest += "/"
	}
	return "/" + first, rest, true
}

// joinPath appends the rest of a gateway path to a backend base path.
func joinPath(base, rest string) string {
	if rest == "" {
		if base == "" {
			return "/"
		}
		return base
	}
	return strings.TrimSuffix(base, "/") + rest
}

// proxyCall is the state of one proxied request, carried in its context.
type proxyCall struct {
	route  *route
	rest   string
	cancel context.CancelCauseFunc
}

type proxyCallKey struct{}

func callOf(ctx context.Context) *proxyCall {
	c, _ := ctx.Value(proxyCallKey{}).(*proxyCall)
	return c
}

// serveRoute proxies one request of a registered server.
func (g *Gateway) serveRoute(w http.ResponseWriter, r *http.Request, rt *route, rest string) {
	srv := rt.srv
	g.app.Registry().RequestCounter(srv.Path).Add(1)
	pw := &proxyWriter{ResponseWriter: w, server: srv.Path, start: time.Now()}
	defer pw.done()
	switch {
	case !srv.Enabled:
		g.refuse(pw, r, http.StatusServiceUnavailable, "server "+srv.Path+" is disabled", nil)
		return
	case rt.target == nil:
		g.refuse(pw, r, http.StatusBadGateway, "server "+srv.Path+" has an invalid proxy_pass_url", nil)
		return
	case r.ContentLength > g.MaxRequestBody:
		g.refuse(pw, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", g.MaxRequestBody), nil)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, g.MaxRequestBody)
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	call := &proxyCall{route: rt, rest: rest, cancel: cancel}
	g.calls.add(srv.Path, call)
	defer func() {
		g.calls.remove(srv.Path, call)
		cancel(nil)
	}()
	// A change committed since the snapshot was read may have missed this
	// call; it must not open a stream that nothing ends.
	switch cur := g.app.Registry().Snapshot().Route(srv.Path); {
	case cur == nil:
		cancel(errServerRemoved)
	case !cur.Enabled:
		cancel(errServerDisabled)
	case cur.ProxyPassURL != srv.ProxyPassURL:
		cancel(errServerMoved)
	}
	g.proxy.ServeHTTP(pw, r.WithContext(context.WithValue(ctx, proxyCallKey{}, call)))
}

// rewriteRequest points the outbound request at the server's backend: the
// gateway prefix is replaced by the base path of proxy_pass_url, Host is
// the backend's own and X-Forwarded-* describe the client.
func rewriteRequest(pr *httputil.ProxyRequest) {
	call := callOf(pr.In.Context())
	target := call.route.target
	out := pr.Out.URL
	out.Scheme = target.Scheme
	out.Host = target.Host
	// The rest keeps the client's escaping (an encoded slash stays one).
	out.RawPath = joinPath(target.EscapedPath(), call.rest)
	out.Path, _ = url.PathUnescape(out.RawPath)
	if target.RawQuery != "" {
		if out.RawQuery == "" {
			out.RawQuery = target.RawQuery
		} else {
			out.RawQuery = target.RawQuery + "&" + out.RawQuery
		}
	}
	pr.Out.Host = ""
	// A trusted proxy in front of Caddy (Caddy's trusted_proxies) keeps its
	// forwarding headers; anyone else's are replaced.
	trusted, _ := caddyhttp.GetVar(pr.In.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	if trusted {
		if v := pr.In.Header["X-Forwarded-For"]; v != nil {
			pr.Out.Header["X-Forwarded-For"] = v
		}
	}
	pr.SetXForwarded()
	if trusted {
		for _, h := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := pr.In.Header.Get(h); v != "" {
				pr.Out.Header.Set(h, v)
			}
		}
	}
}

// modifyResponse makes streams end cleanly when the gateway ends them and
// rewrites the endpoint event of legacy SSE streams.
func (g *Gateway) modifyResponse(res *http.Response) error {
	if !isEventStream(res.Header) {
		return nil
	}
	ctx := res.Request.Context()
	call := callOf(ctx)
	body := io.ReadCloser(&endingBody{ReadCloser: res.Body, ctx: ctx})
	if res.Request.Method == http.MethodGet && res.Header.Get("Content-Encoding") == "" {
		body = newEndpointRewriter(body, endpointMapper{
			prefix:   call.route.srv.Path,
			basePath: call.route.target.EscapedPath(),
			upstream: res.Request.URL,
		})
		// The rewritten stream may differ in length.
		res.ContentLength = -1
		res.Header.Del("Content-Length")
	}
	res.Body = body
	return nil
}

func isEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "text/event-stream")
}

// endingBody turns the read error of a stream that the gateway ended
// (server disabled or removed) into a clean end of the response, so that
// the client sees the stream close rather than an aborted connection.
type endingBody struct {
	io.ReadCloser
	ctx context.Context
}

func (b *endingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); cause == errServerDisabled || cause == errServerRemoved || cause == errServerMoved {
			return n, io.EOF
		}
	}
	return n, err
}

// proxyError answers a failed proxy attempt with a JSON error and logs it.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	cause := context.Cause(ctx)
	var (
		status  int
		message string
		maxErr  *http.MaxBytesError
		opErr   *net.OpError
		netErr  net.Error
	)
	switch {
	case cause == errServerDisabled:
		status, message = http.StatusServiceUnavailable, "server is disabled"
	case cause == errServerRemoved:
		status, message = http.StatusNotFound, "server was removed"
	case cause == errServerMoved:
		status, message = http.StatusServiceUnavailable, "server's backend changed; retry"
	case ctx.Err() != nil:
		// The client went away; nobody is left to answer.
		if pw, ok := w.(*proxyWriter); ok {
			pw.status = statusClientClosed
		}
		g.logger.Debug("client canceled the request", zap.String("server", callOf(ctx).route.srv.Path), zap.Error(err))
		return
	case errors.As(err, &maxErr):
		status, message = http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", maxErr.Limit)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		status, message = http.StatusBadGateway, "backend unreachable"
	case errors.As(err, &netErr) && netErr.Timeout():
		status, message = http.StatusGatewayTimeout, "backend did not answer in time"
	default:
		status, message = http.StatusBadGateway, "backend failed"
	}
	g.refuse(w, r, status, message, err)
}

// statusClientClosed is recorded in metrics for requests whose client
// disconnected before a response (nginx's convention).
const statusClientClosed = 499

// refuse answers a request of a registered server with a JSON error and
// logs it with the server's path.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, status int, message string, err error) {
	srvPath := ""
	if call := callOf(r.Context()); call != nil {
		srvPath = call.route.srv.Path
	} else if pw, ok := w.(*proxyWriter); ok {
		srvPath = pw.server
	}
	fields := []zap.Field{
		zap.String("server", srvPath),
		zap.Int("status", status),
		zap.String("method", r.Method),
		zap.String("uri", r.RequestURI),
	}
	if err != nil {
		fields = append(fields, zap.Error(err))
	}
	level := g.logger.Error
	if status < http.StatusInternalServerError {
		level = g.logger.Warn
	}
	level(message, fields...)

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": message, "server": srvPath})
}

// onRegistryEvent ends the in-flight requests of a server that was
// disabled or removed, and those still connected to a backend that the
// server no longer uses. It runs while the registry's writer waits: it
// only cancels contexts.
func (g *Gateway) onRegistryEvent(ev registryapp.Event) {
	switch {
	case ev.Type == registryapp.EventServerRemoved:
		g.calls.cancel(ev.Path, errServerRemoved, nil)
	case ev.Type == registryapp.EventServerUpdated && ev.Server != nil && !ev.Server.Enabled:
		g.calls.cancel(ev.Path, errServerDisabled, nil)
	case ev.Type == registryapp.EventServerUpdated && ev.Server != nil:
		url := ev.Server.ProxyPassURL
		g.calls.cancel(ev.Path, errServerMoved, func(c *proxyCall) bool { return c.route.srv.ProxyPassURL != url })
	}
}

// callSet tracks the in-flight requests of each server path. Streams of
// a config generation outlive a reload, so a retired set keeps following
// registry changes until its last call ends.
type callSet struct {
	mu      sync.Mutex
	byPath  map[string]map[*proxyCall]struct{}
	count   int
	release func() // set by retire; run once no call is left
}

func newCallSet() *callSet {
	return &callSet{byPath: make(map[string]map[*proxyCall]struct{})}
}

func (s *callSet) add(p string, c *proxyCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.byPath[p]
	if m == nil {
		m = make(map[*proxyCall]struct{})
		s.byPath[p] = m
	}
	m[c] = struct{}{}
	s.count++
}

func (s *callSet) remove(p string, c *proxyCall) {
	s.mu.Lock()
	m := s.byPath[p]
	if _, ok := m[c]; ok {
		delete(m, c)
		s.count--
	}
	if len(m) == 0 {
		delete(s.byPath, p)
	}
	release := s.takeReleaseLocked()
	s.mu.Unlock()
	// Outside the lock: release unsubscribes, and the registry calls
	// cancel while it holds its subscriber lock.
	if release != nil {
		release()
	}
}

// retire runs release (stop following registry changes) now if no call
// is in flight, or when the last one ends.
func (s *callSet) retire(release func()) {
	s.mu.Lock()
	s.release = release
	release = s.takeReleaseLocked()
	s.mu.Unlock()
	if release != nil {
		release()
	}
}

func (s *callSet) takeReleaseLocked() func() {
	if s.count > 0 || s.release == nil {
		return nil
	}
	release := s.release
	s.release = nil
	return release
}

// cancel ends the calls of path p that match (all if match is nil).
func (s *callSet) cancel(p string, cause error, match func(*proxyCall) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.byPath[p] {
		if match == nil || match(c) {
			c.cancel(cause)
		}
	}
}

// copyBuffers lends the proxy its body copy buffers. An idle event
// stream holds its buffer while it waits for the next event, so buffers
// are small (the standard 32 KiB would dominate the memory of an idle
// stream); responses are written through the server's own buffered
// writer anyway.
type copyBuffers struct{ pool sync.Pool }

const copyBufferSize = 4 << 10

var sharedCopyBuffers = &copyBuffers{pool: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}

// Get returns a buffer.
func (b *copyBuffers) Get() []byte { return b.pool.Get().(*[copyBufferSize]byte)[:] }

// Put returns a buffer that Get handed out.
func (b *copyBuffers) Put(buf []byte) {
	if cap(buf) == copyBufferSize {
		b.pool.Put((*[copyBufferSize]byte)(buf[:copyBufferSize]))
	}
}

// proxyWriter records the status of a proxied response for metrics and
// counts open event streams.
type proxyWriter struct {
	http.ResponseWriter
	server string
	start  time.Time
	status int
	stream bool
}

func (w *proxyWriter) WriteHeader(status int) {
	if w.status == 0 && status >= http.StatusOK {
		w.status = status
		gatewayMetrics.duration.WithLabelValues(w.server).Observe(time.Since(w.start).Seconds())
		if status == http.StatusOK && isEventStream(w.Header()) {
			w.stream = true
			gatewayMetrics.streams.WithLabelValues(w.server).Inc()
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *proxyWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush.
func (w *proxyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// done records the finished request; it runs even when the proxy aborts
// the handler.
func (w *proxyWriter) done() {
	if w.stream {
		gatewayMetrics.streams.WithLabelValues(w.server).Dec()
	}
	status := w.status
	if status == 0 {
		status = statusClientClosed
	}
	gatewayMetrics.requests.WithLabelValues(w.server, statusLabel(status)).Inc()
}

// Interface guards
var _ httputil.BufferPool = (*copyBuffers)(nil)
