package registryapp

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI serves the registry's operations on Caddy's admin endpoint
// under /mcp-registry/, for the command line and for automation that
// already talks to the admin API.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.mcp_registry",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes of the registry.
func (AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/mcp-registry/", Handler: caddy.AdminHandlerFunc(serveAdmin)}}
}

// adminMux serves the admin routes with the same handlers as the REST API;
// access to the admin endpoint is already Caddy's to control.
func (a *App) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	routes := newMethodRoutes(mux)
	routes.handle("GET", "/mcp-registry/servers", a.handleListServers)
	routes.handle("POST", "/mcp-registry/servers", a.handleRegister)
	routes.handle("GET", "/mcp-registry/servers/{id}", a.handleGetServer)
	routes.handle("PUT", "/mcp-registry/servers/{id}", a.handleUpdate)
	routes.handle("DELETE", "/mcp-registry/servers/{id}", a.handleDelete)
	routes.handle("POST", "/mcp-registry/servers/{id}/enable", a.handleSetEnabled(true))
	routes.handle("POST", "/mcp-registry/servers/{id}/disable", a.handleSetEnabled(false))
	routes.handle("GET", "/mcp-registry/export", a.handleExport)
	routes.handle("POST", "/mcp-registry/import", a.handleImport)
	routes.handle("GET", "/mcp-registry/backup", a.handleBackup)
	routes.finish()
	mux.HandleFunc("/mcp-registry/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", "no admin endpoint %s %s", r.Method, r.URL.Path)
	})
	return mux
}

func serveAdmin(w http.ResponseWriter, r *http.Request) error {
	a := active.Load()
	if a == nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("the mcp_registry app is not running in the current config")}
	}
	a.admin.ServeHTTP(w, r)
	return nil
}

// handleBackup streams a consistent copy of the bbolt file.
func (a *App) handleBackup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="mcp-registry.db"`)
	if _, err := a.registry.Backup(w); err != nil {
		// Headers are gone; abort the response so the client sees a failure.
		panic(http.ErrAbortHandler)
	}
}

// Interface guards
var _ caddy.AdminRouter = (*AdminAPI)(nil)
