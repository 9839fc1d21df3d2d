package registryapp

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddymcp/gateway/internal/mcpprobe"
)

// maxToolHistory is how many tool-set changes are kept per server.
const maxToolHistory = 20

// discoveryDue reports whether this app instance never tried to list the
// tools of path, or not within the discovery interval.
func (c *checker) discoveryDue(path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	last, ok := c.discovered[path]
	return !ok || time.Since(last) >= c.discoveryInterval
}

// discover lists the tools of srv (tools/list with pagination, within the
// discovery caps on time, pages and bytes), stores them, and records a
// change of the tool set in the server's history. A failed listing keeps
// the tools known before and is tried again after the discovery interval
// or on recovery; a listing cut at the page cap is stored as far as it
// got.
func (c *checker) discover(ctx context.Context, srv *Server) (*Server, error) {
	c.mu.Lock()
	c.discovered[srv.Path] = time.Now()
	c.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, c.discoveryTimeout)
	defer cancel()
	res, err := c.prober.Probe(dctx, mcpprobe.Request{
		BaseURL: srv.ProxyPassURL, Transport: srv.Transport, ListTools: true,
		MaxPages: c.maxPages, MaxBytes: c.maxBytes,
	})
	if err != nil {
		if ctx.Err() == nil {
			c.discovery.Warn("listing tools failed; keeping the known tools", zap.String("server", srv.Path), zap.Error(err))
		}
		return nil, err
	}
	if res.Truncated {
		c.discovery.Warn("tools/list has more pages than discovery_max_pages; keeping the tools of the pages read",
			zap.String("server", srv.Path), zap.Int("max_pages", c.maxPages), zap.Int("tools", len(res.Tools)))
	}
	tools := make([]Tool, 0, len(res.Tools))
	seen := make(map[string]bool, len(res.Tools))
	for _, t := range res.Tools {
		if seen[t.Name] {
			continue
		}
		seen[t.Name] = true
		tools = append(tools, Tool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema})
	}
	updated, change, err := c.app.registry.SetTools(srv.Path, tools)
	if err != nil {
		return nil, err
	}
	if change != nil {
		c.discovery.Info("tool set changed", zap.String("server", srv.Path), zap.Int("tools", len(tools)),
			zap.Strings("added", change.Added), zap.Strings("removed", change.Removed), zap.Strings("changed", change.Changed))
		if err := c.app.registry.store.appendToolHistory(pathKey(srv.Path), *change, maxToolHistory); err != nil {
			c.discovery.Error("saving tool history", zap.String("server", srv.Path), zap.Error(err))
		}
	}
	return updated, nil
}

// handleRefresh answers POST /api/servers/{id}/refresh with the record
// after a health check and tool discovery.
func (a *App) handleRefresh(w http.ResponseWriter, r *http.Request) {
	srv, ok := a.refresh(w, r)
	if ok {
		writeJSON(w, http.StatusOK, srv)
	}
}

// handleLegacyRefresh answers the original registry's POST
// /api/refresh/{id} in its shape.
func (a *App) handleLegacyRefresh(w http.ResponseWriter, r *http.Request) {
	srv, ok := a.refresh(w, r)
	if ok {
		writeJSON(w, http.StatusOK, legacyStatus(srv, "Refresh request for "+srv.Path+" processed."))
	}
}

// refresh runs Refresh for the request's id and answers errors itself.
func (a *App) refresh(w http.ResponseWriter, r *http.Request) (*Server, bool) {
	srv, err := a.Refresh(r.Context(), r.PathValue("id"))
	switch {
	case err == nil:
		a.logger.Info("server refreshed", zap.String("path", srv.Path), zap.String("status", srv.Health.Status), zap.Int("num_tools", srv.NumTools))
		return srv, true
	case errors.Is(err, ErrDisabled):
		writeError(w, http.StatusConflict, "", "%s is disabled; enable it before refreshing", srv.Path)
	default:
		a.writeRegistryError(w, err)
	}
	return nil, false
}

// handleToolHistory answers GET /api/servers/{id}/tool-history with the
// latest changes of the server's tool set, newest first.
func (a *App) handleToolHistory(w http.ResponseWriter, r *http.Request) {
	srv, err := a.registry.Get(r.PathValue("id"))
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	changes, err := a.registry.store.toolHistory(pathKey(srv.Path))
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"path": srv.Path, "changes": changes})
}
