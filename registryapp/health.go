package registryapp

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddymcp/gateway/internal/mcpprobe"
)

// ErrDisabled means the operation needs an enabled server.
var ErrDisabled = errors.New("server is disabled")

// checker runs the health checks and tool discovery of one app instance.
// A tick checks every enabled server, at most HealthConcurrency at once;
// a server whose previous check still runs is skipped. Registrations and
// re-enabled servers are checked at once. Everything stops in stop().
type checker struct {
	app       *App
	logger    *zap.Logger
	discovery *zap.Logger
	prober    *mcpprobe.Prober
	metrics   *healthMetrics

	timeout           time.Duration
	interval          time.Duration
	discoveryInterval time.Duration
	discoveryTimeout  time.Duration
	maxPages          int
	maxBytes          int64

	sem    chan struct{}
	wake   chan string   // paths to check now (registered, re-enabled, changed)
	rerun  chan struct{} // a round now, when wake overflowed (a large import)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	unsub  func()

	mu         sync.Mutex
	running    map[string]bool      // path -> a check is in flight
	lastStatus map[string]string    // path -> status of the last result or reset
	discovered map[string]time.Time // path -> time of the last discovery attempt
}

func newChecker(a *App) *checker {
	ctx, cancel := context.WithCancel(context.Background())
	return &checker{
		ctx:               ctx,
		cancel:            cancel,
		app:               a,
		logger:            a.logger.Named("health"),
		discovery:         a.logger.Named("discovery"),
		prober:            mcpprobe.New(time.Duration(a.HealthTimeout)),
		metrics:           a.metrics,
		timeout:           time.Duration(a.HealthTimeout),
		interval:          time.Duration(a.HealthInterval),
		discoveryInterval: time.Duration(a.DiscoveryInterval),
		discoveryTimeout:  time.Duration(a.DiscoveryTimeout),
		maxPages:          a.DiscoveryMaxPages,
		maxBytes:          a.DiscoveryMaxBytes,
		sem:               make(chan struct{}, a.HealthConcurrency),
		wake:              make(chan string, 1024),
		rerun:             make(chan struct{}, 1),
		running:           map[string]bool{},
		lastStatus:        map[string]string{},
		discovered:        map[string]time.Time{},
	}
}

// start begins the loop: a first round at once, then one per interval.
func (c *checker) start() {
	c.mu.Lock()
	for _, srv := range c.app.registry.Snapshot().Servers() {
		c.lastStatus[srv.Path] = srv.Health.Status
		c.metrics.observeStatus(srv)
	}
	c.mu.Unlock()
	c.unsub = c.app.registry.Subscribe(c.onEvent)
	c.wg.Add(1)
	go c.loop()
}

// stop ends the loop and waits for the checks in flight, whose contexts
// are cancelled.
func (c *checker) stop() {
	if c.unsub != nil {
		c.unsub()
	}
	c.cancel()
	c.wg.Wait()
	c.prober.Close()
}

// onEvent runs under the registry's writer lock: it only queues work.
// A server that needs a check is one whose health was reset to unknown:
// newly registered, re-enabled, or pointed at another endpoint.
func (c *checker) onEvent(ev Event) {
	switch {
	case ev.Type == EventServerRemoved:
		c.metrics.forget(ev.Path)
		c.mu.Lock()
		delete(c.lastStatus, ev.Path)
		delete(c.discovered, ev.Path)
		c.mu.Unlock()
	case ev.Server != nil:
		c.metrics.observeStatus(ev.Server)
		if st := ev.Server.Health.Status; st == StatusUnknown || st == StatusDisabled {
			// Reset by a registration, toggle or new endpoint: the next
			// result is a transition.
			c.mu.Lock()
			c.lastStatus[ev.Server.Path] = st
			c.mu.Unlock()
		}
		if ev.Server.Enabled && ev.Server.Health.Status == StatusUnknown {
			select {
			case c.wake <- ev.Server.Path:
			default:
				select {
				case c.rerun <- struct{}{}:
				default:
				}
			}
		}
	}
}

func (c *checker) loop() {
	defer c.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			c.logger.Error("health loop panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		}
	}()
	ticker := time.NewTicker(c.interval)
	defer ticker.Stop()
	c.round()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-ticker.C:
			c.round()
		case <-c.rerun:
			c.round()
		case path := <-c.wake:
			if srv, ok := c.app.registry.Snapshot().Lookup(path); ok {
				c.spawn(srv)
			}
		}
	}
}

// round starts a check of every enabled server. It waits for a free slot
// before each start, so that at most HealthConcurrency run at once.
func (c *checker) round() {
	for _, srv := range c.app.registry.Snapshot().Servers() {
		if !srv.Enabled {
			continue
		}
		if !c.spawn(srv) {
			return
		}
	}
}

// spawn runs a check of srv in its own goroutine once a slot is free. It
// returns false if the checker is stopping.
func (c *checker) spawn(srv *Server) bool {
	c.mu.Lock()
	busy := c.running[srv.Path]
	if !busy {
		c.running[srv.Path] = true
	}
	c.mu.Unlock()
	if busy {
		return true
	}
	select {
	case c.sem <- struct{}{}:
	case <-c.ctx.Done():
		c.mu.Lock()
		delete(c.running, srv.Path)
		c.mu.Unlock()
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			<-c.sem
			c.mu.Lock()
			delete(c.running, srv.Path)
			c.mu.Unlock()
		}()
		defer func() {
			if r := recover(); r != nil {
				c.logger.Error("health check panicked", zap.String("server", srv.Path), zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			}
		}()
		_, _ = c.check(c.ctx, srv, false)
	}()
	return true
}

// check probes srv, records its health and, when due, its tools. With
// forceDiscovery the tools are listed regardless of when they were last.
// It returns the record after the writes.
func (c *checker) check(ctx context.Context, srv *Server, forceDiscovery bool) (*Server, error) {
	hctx, cancel := context.WithTimeout(ctx, c.timeout)
	start := time.Now()
	res, err := c.prober.Probe(hctx, mcpprobe.Request{
		BaseURL: srv.ProxyPassURL, Transport: srv.Transport, MaxBytes: c.maxBytes,
	})
	cancel()
	if ctx.Err() != nil {
		// Stopping: a cancelled check says nothing about the server.
		return srv, ctx.Err()
	}
	if cur, ok := c.app.registry.Snapshot().Lookup(srv.Path); ok && !sameEndpoint(srv, cur) {
		// Re-pointed meanwhile: the result is not about the record, whose
		// change has queued a check of its own.
		return cur, nil
	}
	now := time.Now().UTC()
	h := Health{Status: StatusHealthy, CheckedAt: &now, LatencyMS: time.Since(start).Milliseconds()}
	if err != nil {
		h.Status, h.Error = StatusUnhealthy, probeError(err, c.timeout)
	}
	c.metrics.observeCheck(srv.Path, h, time.Since(start))
	c.logTransition(srv, h)
	// Healthy after being anything else in the record (registered,
	// re-enabled, re-pointed or down): list the tools again.
	recovered := h.Status == StatusHealthy && srv.Health.Status != StatusHealthy

	updated, werr := c.app.registry.SetHealth(srv.Path, h)
	if werr != nil {
		return srv, werr
	}
	if err != nil || !updated.Enabled {
		return updated, nil
	}
	if srv.Transport == TransportAuto && res.Transport != TransportAuto {
		if updated, werr = c.app.registry.SetTransport(srv.Path, res.Transport); werr != nil {
			return srv, werr
		}
		c.logger.Info("transport resolved", zap.String("server", srv.Path), zap.String("transport", res.Transport))
	}
	if forceDiscovery || recovered || c.discoveryDue(srv.Path) {
		if d, derr := c.discover(ctx, updated); derr == nil {
			updated = d
		}
	}
	return updated, nil
}

// sameEndpoint reports whether cur, a later version of the record checked
// as srv, still names the same backend.
func sameEndpoint(srv, cur *Server) bool {
	return cur.ProxyPassURL == srv.ProxyPassURL && (cur.Transport == srv.Transport || srv.Transport == TransportAuto)
}

// logTransition logs a change of a server's status once, not on every
// check.
func (c *checker) logTransition(srv *Server, h Health) {
	c.mu.Lock()
	prev, known := c.lastStatus[srv.Path]
	c.lastStatus[srv.Path] = h.Status
	c.mu.Unlock()
	if !known {
		prev = srv.Health.Status
	}
	switch {
	case prev == h.Status:
	case h.Status == StatusHealthy:
		c.logger.Info("server healthy", zap.String("server", srv.Path), zap.String("previous", prev), zap.Int64("latency_ms", h.LatencyMS))
	default:
		c.logger.Warn("server unhealthy", zap.String("server", srv.Path), zap.String("previous", prev), zap.String("error", h.Error))
	}
}

// probeError words a failed probe for the record.
func probeError(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no MCP handshake within %s: %v", timeout, err)
	}
	return err.Error()
}

// Refresh checks the server idOrPath and lists its tools now, and returns
// the updated record. A disabled server is not checked (ErrDisabled).
func (a *App) Refresh(ctx context.Context, idOrPath string) (*Server, error) {
	srv, err := a.registry.Get(idOrPath)
	if err != nil {
		return nil, err
	}
	if !srv.Enabled {
		return srv, fmt.Errorf("%w: %s", ErrDisabled, srv.Path)
	}
	// Stop with the app as well as with the caller.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(a.checker.ctx, cancel)
	defer stop()
	return a.checker.check(ctx, srv, true)
}
