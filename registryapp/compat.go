package registryapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// LegacyServer is a server in the original registry's shape: its
// registry/servers/*.json files and its API answers.
type LegacyServer struct {
	ServerName   string          `json:"server_name"`
	Description  string          `json:"description"`
	Path         string          `json:"path"`
	ProxyPassURL string          `json:"proxy_pass_url"`
	Tags         []string        `json:"tags"`
	NumTools     int             `json:"num_tools"`
	NumStars     int             `json:"num_stars"`
	IsPython     bool            `json:"is_python"`
	License      string          `json:"license"`
	ToolList     []LegacyTool    `json:"tool_list"`
	ResourceList json.RawMessage `json:"resource_list,omitempty"`
}

// LegacyTool is a tool in the original registry's shape.
type LegacyTool struct {
	Name              string          `json:"name"`
	ParsedDescription map[string]any  `json:"parsed_description"`
	Schema            json.RawMessage `json:"schema"`
}

// ToLegacy converts a record to the original registry's shape.
func ToLegacy(srv *Server) LegacyServer {
	out := LegacyServer{
		ServerName:   srv.Name,
		Description:  srv.Description,
		Path:         srv.Path,
		ProxyPassURL: srv.ProxyPassURL,
		Tags:         srv.Tags,
		NumTools:     srv.NumTools,
		License:      "N/A",
		ToolList:     make([]LegacyTool, 0, len(srv.Tools)),
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if srv.Extra != nil {
		out.NumStars = srv.Extra.NumStars
		out.IsPython = srv.Extra.IsPython
		if srv.Extra.License != "" {
			out.License = srv.Extra.License
		}
		out.ResourceList = srv.Extra.ResourceList
	}
	for _, t := range srv.Tools {
		schema := t.InputSchema
		if len(schema) == 0 {
			schema = json.RawMessage("{}")
		}
		parsed := maps.Clone(t.ParsedDescription)
		if parsed == nil {
			parsed = map[string]any{}
		}
		parsed["main"] = t.Description
		out.ToolList = append(out.ToolList, LegacyTool{Name: t.Name, ParsedDescription: parsed, Schema: schema})
	}
	return out
}

func (l LegacyServer) record() ImportRecord {
	in := ServerInput{
		Path:         l.Path,
		Name:         l.ServerName,
		ProxyPassURL: l.ProxyPassURL,
		Description:  l.Description,
		Tags:         l.Tags,
		Legacy:       &LegacyFields{NumStars: l.NumStars, IsPython: l.IsPython, License: l.License, ResourceList: l.ResourceList},
	}
	var tools []Tool
	if l.ToolList != nil {
		tools = make([]Tool, 0, len(l.ToolList))
		for _, t := range l.ToolList {
			main, _ := t.ParsedDescription["main"].(string)
			tools = append(tools, Tool{Name: t.Name, Description: main, InputSchema: t.Schema, ParsedDescription: t.ParsedDescription})
		}
	}
	return ImportRecord{Input: in, Tools: tools}
}

// ParseImport reads the documents that an import accepts: a JSON array of
// this registry's records (its export), {"servers": [...]}, one or more of
// the original registry's server files (an object or an array), or the
// original's server_state.json (a map of path to enabled).
func ParseImport(body []byte) ([]ImportRecord, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("import body is empty: send a JSON array of servers")
	}
	var items []json.RawMessage
	switch body[0] {
	case '[':
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, fmt.Errorf("import body is not a valid JSON array: %w", err)
		}
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, fmt.Errorf("import body is not a valid JSON object: %w", err)
		}
		if list, ok := obj["servers"]; ok && bytes.HasPrefix(bytes.TrimSpace(list), []byte("[")) {
			if err := json.Unmarshal(list, &items); err != nil {
				return nil, fmt.Errorf("servers: %w", err)
			}
		} else if states, ok := parseStateMap(obj); ok {
			return states, nil
		} else {
			items = []json.RawMessage{body}
		}
	default:
		return nil, errors.New("import body must be a JSON array or object")
	}
	out := make([]ImportRecord, 0, len(items))
	for i, raw := range items {
		rec, err := parseImportItem(raw)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

func parseImportItem(raw json.RawMessage) (ImportRecord, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return ImportRecord{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if _, legacy := probe["server_name"]; legacy {
		var l LegacyServer
		if err := json.Unmarshal(raw, &l); err != nil {
			return ImportRecord{}, err
		}
		return l.record(), nil
	}
	var srv Server
	if err := json.Unmarshal(raw, &srv); err != nil {
		return ImportRecord{}, err
	}
	in := ServerInput{
		Path: srv.Path, Name: srv.Name, ProxyPassURL: srv.ProxyPassURL, Transport: srv.Transport,
		Description: srv.Description, Tags: srv.Tags, Legacy: srv.Extra,
	}
	if _, ok := probe["enabled"]; ok {
		in.Enabled = &srv.Enabled
	}
	return ImportRecord{Input: in, Tools: srv.Tools}, nil
}

// parseStateMap reads the original's server_state.json: every value a bool.
func parseStateMap(obj map[string]json.RawMessage) ([]ImportRecord, bool) {
	if len(obj) == 0 {
		return nil, false
	}
	out := make([]ImportRecord, 0, len(obj))
	for path, raw := range obj {
		var enabled bool
		if err := json.Unmarshal(raw, &enabled); err != nil {
			return nil, false
		}
		out = append(out, ImportRecord{StateOnly: true, Input: ServerInput{Path: path, Enabled: &enabled}})
	}
	return out, true
}

// compatRoutes registers the original registry's endpoints on mux.
func (a *App) compatRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /login", a.handleFormLogin)
	mux.HandleFunc("POST /logout", a.handleFormLogout)
	mux.HandleFunc("POST /register", a.requireAuth(a.handleFormRegister))
	mux.HandleFunc("POST /toggle/{id...}", a.requireAuth(a.handleFormToggle))
	mux.HandleFunc("POST /edit/{id...}", a.requireAuth(a.handleFormEdit))
	mux.HandleFunc("GET /api/server_details/{id...}", a.requireAuth(a.handleLegacyDetails))
	mux.HandleFunc("GET /api/tools/{id...}", a.requireAuth(a.handleLegacyTools))
	mux.HandleFunc("POST /api/refresh/{id...}", a.requireAuth(a.handleLegacyRefresh))
}

func (a *App) handleFormLogin(w http.ResponseWriter, r *http.Request) {
	if !a.auth.checkPassword(r.PostFormValue("username"), r.PostFormValue("password")) {
		http.Redirect(w, r, "/login?error=Invalid+username+or+password", http.StatusSeeOther)
		return
	}
	a.auth.login(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *App) handleFormLogout(w http.ResponseWriter, r *http.Request) {
	a.auth.logout(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// formInput reads the original registry's register/edit form.
func formInput(r *http.Request) (ServerInput, error) {
	if err := r.ParseForm(); err != nil {
		return ServerInput{}, &FieldError{Field: "form", Msg: "is not a valid form: " + err.Error()}
	}
	in := ServerInput{
		Name:         r.PostFormValue("name"),
		Description:  r.PostFormValue("description"),
		Path:         r.PostFormValue("path"),
		ProxyPassURL: r.PostFormValue("proxy_pass_url"),
		Transport:    r.PostFormValue("transport"),
		Tags:         strings.Split(r.PostFormValue("tags"), ","),
		Legacy:       &LegacyFields{License: r.PostFormValue("license")},
	}
	if in.Path != "" && !strings.HasPrefix(in.Path, "/") {
		in.Path = "/" + in.Path
	}
	if v := r.PostFormValue("num_stars"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return in, &FieldError{Field: "num_stars", Msg: "must be a whole number"}
		}
		in.Legacy.NumStars = n
	}
	if v := r.PostFormValue("is_python"); v != "" {
		in.Legacy.IsPython = v == "on" || v == "true" || v == "1"
	}
	if in.Legacy.License == "" {
		in.Legacy.License = "N/A"
	}
	return in, nil
}

func (a *App) handleFormRegister(w http.ResponseWriter, r *http.Request) {
	in, err := formInput(r)
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	srv, err := a.registry.Register(in)
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	a.logger.Info("server registered", zap.String("path", srv.Path), zap.String("via", "form"))
	writeJSON(w, http.StatusCreated, map[string]any{
		"message": "Service registered successfully",
		"service": ToLegacy(srv),
	})
}

func (a *App) handleFormToggle(w http.ResponseWriter, r *http.Request) {
	enabled := r.PostFormValue("enabled") == "on"
	srv, err := a.registry.SetEnabled(r.PathValue("id"), enabled)
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	a.logger.Info("server toggled", zap.String("path", srv.Path), zap.Bool("enabled", srv.Enabled), zap.String("via", "form"))
	writeJSON(w, http.StatusOK, legacyStatus(srv, fmt.Sprintf("Toggle request for %s processed.", srv.Path)))
}

// legacyStatus is the original's answer to toggle and refresh.
func legacyStatus(srv *Server, message string) map[string]any {
	var checked any
	if srv.Health.CheckedAt != nil {
		checked = srv.Health.CheckedAt.Format(time.RFC3339)
	}
	return map[string]any{
		"message":           message,
		"service_path":      srv.Path,
		"new_enabled_state": srv.Enabled,
		"status":            srv.Health.Status,
		"last_checked_iso":  checked,
		"num_tools":         srv.NumTools,
	}
}

func (a *App) handleFormEdit(w http.ResponseWriter, r *http.Request) {
	current, err := a.registry.Get(r.PathValue("id"))
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	in, err := formInput(r)
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	if in.Path == "" {
		in.Path = current.Path
	}
	if _, err := a.registry.Update(current.Path, in); err != nil {
		a.writeRegistryError(w, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func isAll(id string) bool { return strings.Trim(id, "/") == "all" }

func (a *App) handleLegacyDetails(w http.ResponseWriter, r *http.Request) {
	v, err := a.legacyDetails(r.PathValue("id"))
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// legacyDetails answers the original's server details of one server, or
// of all servers (keyed by path) for "all" or "/all".
func (a *App) legacyDetails(id string) (any, error) {
	if isAll(id) {
		all := map[string]LegacyServer{}
		for _, srv := range a.registry.Snapshot().Servers() {
			all[srv.Path] = ToLegacy(srv)
		}
		return all, nil
	}
	srv, err := a.registry.Get(id)
	if err != nil {
		return nil, err
	}
	return ToLegacy(srv), nil
}

// legacyToolEntry is a tool in the original's tools answer for "all".
type legacyToolEntry struct {
	LegacyTool
	ServicePath string `json:"service_path"`
}

func (a *App) handleLegacyTools(w http.ResponseWriter, r *http.Request) {
	v, err := a.legacyTools(r.PathValue("id"))
	if err != nil {
		a.writeRegistryError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// legacyTools answers the original's tool list of one server, or of all
// servers (each tool with its service_path) for "all" or "/all".
func (a *App) legacyTools(id string) (any, error) {
	if isAll(id) {
		tools := []legacyToolEntry{}
		for _, srv := range a.registry.Snapshot().Servers() {
			for _, t := range ToLegacy(srv).ToolList {
				tools = append(tools, legacyToolEntry{LegacyTool: t, ServicePath: srv.Path})
			}
		}
		return map[string]any{"service_path": "all", "tools": tools}, nil
	}
	srv, err := a.registry.Get(id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"service_path": srv.Path, "tools": ToLegacy(srv).ToolList}, nil
}
