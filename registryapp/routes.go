package registryapp

import (
	"net/http"
	"strings"
)

// buildMux assembles every endpoint the registry handler serves.
func (a *App) buildMux() *http.ServeMux {
	mux := http.NewServeMux()
	a.apiRoutes(mux)
	a.compatRoutes(mux)
	a.mcpgwRoutes(mux)
	mux.HandleFunc("GET /ws", a.requireAuth(a.handleFeed))
	a.uiRoutes(mux)
	return mux
}

// Owns reports whether the registry handler serves the request path: the
// UI root and every reserved first segment. Other paths belong to the
// registered servers (mcp_gateway) or to the rest of the site.
func (a *App) Owns(path string) bool {
	if path == "/" {
		return true
	}
	first := path
	if i := strings.IndexByte(path[1:], '/'); i >= 0 {
		first = path[:i+1]
	}
	return IsReservedPath(first)
}

// ServeHTTP serves the UI, REST API, WebSocket feed and mcpgw.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mux.ServeHTTP(w, r)
}
