package registryapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"

	"go.uber.org/zap"
)

// maxBodyBytes bounds request bodies of the API.
const maxBodyBytes = 4 << 20

// apiError is the JSON body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, field, format string, args ...any) {
	writeJSON(w, status, apiError{Error: fmt.Sprintf(format, args...), Field: field})
}

// statusOf maps a registry error to an HTTP status and JSON body.
func (a *App) writeRegistryError(w http.ResponseWriter, err error) {
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, apiError{Error: fe.Error(), Field: fe.Field})
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
	case errors.Is(err, ErrConflict):
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error(), Field: "path"})
	case errors.Is(err, syscall.ENOSPC):
		a.logger.Error("registry write failed: disk full; nothing was changed", zap.Error(err))
		writeJSON(w, http.StatusInsufficientStorage, apiError{Error: "the registry's disk is full; nothing was changed: " + err.Error()})
	default:
		a.logger.Error("registry operation failed", zap.Error(err))
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
	}
}

// decodeBody reads a JSON body into v; a malformed body or a field of the
// wrong type is a 400 that names the field.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "", "request body is larger than %d bytes", maxBodyBytes)
			return false
		}
		writeError(w, http.StatusBadRequest, "", "reading request body: %v", err)
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := strings.TrimPrefix(te.Field, "ServerInput.")
			writeError(w, http.StatusBadRequest, field, "%s must be of type %s", field, te.Type)
			return false
		}
		writeError(w, http.StatusBadRequest, "body", "request body is not valid JSON: %v", err)
		return false
	}
	return true
}

// apiServerInput is the JSON body of register and update requests: the
// record's editable fields, plus the original registry's descriptive ones.
type apiServerInput struct {
	ServerInput
	NumStars *int    `json:"num_stars"`
	IsPython *bool   `json:"is_python"`
	License  *string `json:"license"`
}

func (in apiServerInput) input() ServerInput {
	out := in.ServerInput
	if in.NumStars != nil || in.IsPython != nil || in.License != nil {
		l := LegacyFields{}
		if out.Legacy != nil {
			l = *out.Legacy
		}
		if in.NumStars != nil {
			l.NumStars = *in.NumStars
		}
		if in.IsPython != nil {
			l.IsPython = *in.IsPython
		}
		if in.License != nil {
			l.License = *in.License
		}
		out.Legacy = &l
	}
	return out
}

// requireAuth answers 401 to requests without valid credentials.
func (a *App) requireAuth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.auth.authenticated(r) {
			// Browsers answer a Basic challenge on their own fetches with a
			// password prompt (or, headless, a hang); the UI has its own login.
			if mode := r.Header.Get("Sec-Fetch-Mode"); mode == "" || mode == "navigate" {
				w.Header().Set("WWW-Authenticate", `Basic realm="mcp-registry"`)
			}
			writeError(w, http.StatusUnauthorized, "", "authentication required: HTTP Basic, a session cookie from POST /api/login, or a bearer token")
			return
		}
		next(w, r)
	}
}

// methodRoutes registers "METHOD /path" patterns on a ServeMux and
// answers every other method on those paths with a JSON 405 whose Allow
// header names the methods served.
type methodRoutes struct {
	mux     *http.ServeMux
	allowed map[string][]string // path -> methods
	paths   []string
}

func newMethodRoutes(mux *http.ServeMux) *methodRoutes {
	return &methodRoutes{mux: mux, allowed: map[string][]string{}}
}

func (m *methodRoutes) handle(method, path string, h http.HandlerFunc) {
	m.mux.HandleFunc(method+" "+path, h)
	if _, seen := m.allowed[path]; !seen {
		m.paths = append(m.paths, path)
	}
	m.allowed[path] = append(m.allowed[path], method)
}

// finish registers the 405 answers; call it once all routes are in.
func (m *methodRoutes) finish() {
	for _, path := range m.paths {
		allow := strings.Join(m.allowed[path], ", ")
		m.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "", "method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow)
		})
	}
}

// apiRoutes registers the REST API on mux.
func (a *App) apiRoutes(mux *http.ServeMux) {
	routes := newMethodRoutes(mux)
	authed := func(method, path string, h http.HandlerFunc) { routes.handle(method, path, a.requireAuth(h)) }
	routes.handle("POST", "/api/login", a.handleAPILogin)
	routes.handle("POST", "/api/logout", a.handleAPILogout)
	authed("GET", "/api/session", a.handleSession)
	authed("GET", "/api/servers", a.handleListServers)
	authed("POST", "/api/servers", a.handleRegister)
	authed("GET", "/api/servers/{id}", a.handleGetServer)
	authed("PUT", "/api/servers/{id}", a.handleUpdate)
	authed("DELETE", "/api/servers/{id}", a.handleDelete)
	authed("POST", "/api/servers/{id}/enable", a.handleSetEnabled(true))
	authed("POST", "/api/servers/{id}/disable", a.handleSetEnabled(false))
	authed("GET", "/api/servers/{id}/tools", a.handleServerTools)
	authed("POST", "/api/servers/{id}/refresh", a.handleRefresh)
	authed("GET", "/api/servers/{id}/tool-history", a.handleToolHistory)
	authed("GET", "/api/tools", a.handleSearchTools)
	authed("GET", "/api/stats", a.handleStats)
	authed("GET", "/api/export", a.handleExport)
	authed("POST", "/api/import", a.handleImport)
	routes.finish()
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", "no API endpoint %s %s", r.Method, r.URL.Path)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (a *App) handleAPILogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Username == "" {
		writeError(w, http.StatusBadRequest, "username", "username is required")
		return
	}
	if !a.auth.checkPassword(req.Username, req.Password) {
		writeError(w, http.StatusUnauthorized, "", "invalid username or password")
		return
	}
	a.auth.login(w, r)
	writeJSON(w, http.StatusOK, map[string]string{"user": a.auth.user})
}

func (a *App) handleAPILogout(w http.ResponseWriter, r *http.Request) {
	a.auth.logout(w, r)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (a *App) handleSession(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"user": a.auth.user})
}

func (a *App) handleListServers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := q.Get("status")
	switch status {
	case "", "all", "enabled", "disabled", "issues":
	default:
		writeError(w, http.StatusBadRequest, "status", "status must be all, enabled, disabled or issues")
		return
	}
	servers := FilterServers(a.registry.Snapshot().Servers(), status, q.Get("q"), q.Get("tag"))
	writeJSON(w, http.StatusOK, map[string]any{"servers": servers})
}

// FilterServers returns the servers that match a status filter (all,
// enabled, disabled, issues), a free-text query over names, paths,
// descriptions, tags and tool names, and a tag.
func FilterServers(servers []*Server, status, query, tag string) []*Server {
	query = strings.ToLower(strings.TrimSpace(query))
	out := []*Server{}
	for _, srv := range servers {
		switch status {
		case "enabled":
			if !srv.Enabled {
				continue
			}
		case "disabled":
			if srv.Enabled {
				continue
			}
		case "issues":
			if !srv.Enabled || srv.Health.Status != StatusUnhealthy {
				continue
			}
		}
		if tag != "" && !hasTag(srv, tag) {
			continue
		}
		if query != "" && !serverMatches(srv, query) {
			continue
		}
		out = append(out, srv)
	}
	return out
}

func hasTag(srv *Server, tag string) bool {
	for _, t := range srv.Tags {
		if strings.EqualFold(t, tag) {
			return true
		}
	}
	return false
}

func serverMatches(srv *Server, lowerQuery string) bool {
	fields := []string{srv.Name, srv.Path, srv.Description}
	fields = append(fields, srv.Tags...)
	for _, t := range srv.Tools {
		fields = append(fields, t.Name, t.Description)
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), lowerQuery) {
			return true
		}
	}
	return false
}

func (a *App) handleRegister(w http.ResponseWriter, r *http.Request) {
	var in apiServerInput
	if !decodeBody(w, r, &in) {
		return
	}
	srv, err := a.registry.Register(in.input())
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	a.logger.Info("server registered", zap.String("path", srv.Path), zap.String("proxy_pass_url", srv.ProxyPassURL))
	writeJSON(w, http.StatusCreated, srv)
}

func (a *App) handleGetServer(w http.ResponseWriter, r *http.Request) {
	srv, err := a.registry.Get(r.PathValue("id"))
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, srv)
}

func (a *App) handleUpdate(w http.ResponseWriter, r *http.Request) {
	current, err := a.registry.Get(r.PathValue("id"))
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	var in apiServerInput
	if !decodeBody(w, r, &in) {
		return
	}
	if in.Path == "" {
		in.Path = current.Path
	}
	srv, err := a.registry.Update(current.Path, in.input())
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	a.logger.Info("server updated", zap.String("path", srv.Path))
	writeJSON(w, http.StatusOK, srv)
}

func (a *App) handleDelete(w http.ResponseWriter, r *http.Request) {
	if err := a.registry.Delete(r.PathValue("id")); err != nil {
		a.writeRegistryError(w, err)
		return
	}
	a.logger.Info("server removed", zap.String("path", NormalizePath(r.PathValue("id"))))
	writeJSON(w, http.StatusOK, map[string]any{"deleted": NormalizePath(r.PathValue("id"))})
}

func (a *App) handleSetEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		srv, err := a.registry.SetEnabled(r.PathValue("id"), enabled)
		if err != nil {
			a.writeRegistryError(w, err)
			return
		}
		a.logger.Info("server toggled", zap.String("path", srv.Path), zap.Bool("enabled", srv.Enabled))
		writeJSON(w, http.StatusOK, srv)
	}
}

func (a *App) handleServerTools(w http.ResponseWriter, r *http.Request) {
	srv, err := a.registry.Get(r.PathValue("id"))
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tools": srv.Tools})
}

func (a *App) handleStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.registry.Stats())
}

func (a *App) handleExport(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Disposition", `attachment; filename="mcp-registry-export.json"`)
	writeJSON(w, http.StatusOK, a.registry.Snapshot().Servers())
}

func (a *App) handleImport(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "", "request body is larger than %d bytes", maxBodyBytes)
		return
	}
	records, err := ParseImport(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "", "%v", err)
		return
	}
	dry := r.URL.Query().Get("dry_run")
	res, err := a.registry.Import(records, dry == "1" || dry == "true")
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	a.logger.Info("import", zap.Bool("dry_run", res.DryRun), zap.Int("added", len(res.Added)),
		zap.Int("existing", len(res.Existing)), zap.Int("failed", len(res.Failed)))
	writeJSON(w, http.StatusOK, res)
}
