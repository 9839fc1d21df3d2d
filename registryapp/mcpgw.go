package registryapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.uber.org/zap"
)

// Paths of mcpgw, the gateway's own MCP server (SPEC §9).
const (
	mcpgwBase        = "/mcpgw"
	mcpgwStreamable  = mcpgwBase + "/mcp"
	mcpgwSSE         = mcpgwBase + "/sse"
	mcpgwSSEMessages = mcpgwBase + "/message"
)

// Defaults of intelligent_tool_finder, as in the original registry.
const (
	defaultTopKServices = 3
	defaultTopNTools    = 1
	maxFinderResults    = 100
)

// mcpgwAccess is what a tool needs from its caller. Tools are registered
// with their access so that a narrower credential (a read-only token
// scope) can later be allowed only the read tools.
type mcpgwAccess int

const (
	// accessRead tools only look at the registry.
	accessRead mcpgwAccess = iota
	// accessWrite tools change the registry or trigger checks.
	accessWrite
)

// mcpgwAuthKey is the context key of the request's header credentials.
type mcpgwAuthKey struct{}

// headerAuth is what the Authorization header (or session cookie) of an
// mcpgw request proved.
type headerAuth int

const (
	headerAbsent headerAuth = iota
	headerValid
	headerInvalid
)

// mcpgw is the gateway's own MCP server, served over Streamable HTTP and
// over the legacy HTTP+SSE transport.
type mcpgw struct {
	streamable *server.StreamableHTTPServer
	sse        *server.SSEServer
}

// mcpgwTool is one tool of mcpgw with the access it needs.
type mcpgwTool struct {
	access  mcpgwAccess
	tool    mcp.Tool
	handler func(ctx context.Context, args toolArgs) (any, error)
}

// newMCPGW builds the MCP server with the tools over a's registry.
func (a *App) newMCPGW() *mcpgw {
	s := server.NewMCPServer("mcpgw", "1.0.0",
		server.WithToolCapabilities(false),
		server.WithRecovery(),
		server.WithInstructions("Manages the MCP gateway's registry of MCP servers: list servers and their tools, "+
			"search tools by what they do, register, enable, disable and refresh servers. Authenticate with the "+
			"Authorization header of the connection, or pass username and password with every tool call."),
	)
	for _, t := range a.mcpgwTools() {
		s.AddTool(t.tool, a.mcpgwHandler(t))
	}
	// The gateway's site decides which host names reach it (any, for a
	// site like http://:8080), so mcp-go's DNS-rebinding guard, which
	// answers 403 to a loopback connection with a non-loopback Host, would
	// reject legitimate clients that reach the gateway by its name through
	// a local proxy. withHeaderAuth checks the Origin instead, which is what
	// stops a browser page of another site, rebound or not.
	return &mcpgw{
		streamable: server.NewStreamableHTTPServer(s,
			server.WithEndpointPath(mcpgwStreamable),
			server.WithDisableLocalhostProtection(true),
		),
		sse: server.NewSSEServer(s,
			server.WithStaticBasePath(mcpgwBase),
			server.WithSSEEndpoint("/sse"),
			server.WithMessageEndpoint("/message"),
			// A relative endpoint, so that it works behind any host name.
			server.WithUseFullURLForMessageEndpoint(false),
			server.WithSSEDisableLocalhostProtection(true),
		),
	}
}

// mcpgwRoutes mounts mcpgw on mux; every request carries what its
// Authorization header proved, for the tool handlers to check.
func (a *App) mcpgwRoutes(mux *http.ServeMux) {
	a.mcpgw = a.newMCPGW()
	mux.Handle(mcpgwStreamable, a.withHeaderAuth(flushable(a.mcpgw.streamable)))
	sse := a.withHeaderAuth(flushable(a.mcpgw.sse))
	mux.Handle(mcpgwSSE, sse)
	mux.Handle(mcpgwSSEMessages, sse)
	mux.HandleFunc(mcpgwBase+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", "mcpgw is served at %s (Streamable HTTP) and %s (SSE)", mcpgwStreamable, mcpgwSSE)
	})
}

// close ends the open streams of mcpgw's clients; they reconnect to the
// next config's server.
func (g *mcpgw) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = g.streamable.Shutdown(ctx)
	g.sse.CloseSessions()
}

// flushable lets h stream through Caddy's response writer wrappers: mcp-go's
// servers type-assert http.Flusher (without it Streamable HTTP refuses the
// GET listening stream and buffers POST streams, and SSE fails), which the
// wrappers reach only through Unwrap.
func flushable(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(flushWriter{w}, r)
	})
}

// flushWriter is a ResponseWriter that flushes through Unwrap chains.
type flushWriter struct{ http.ResponseWriter }

// Flush sends buffered data to the client.
func (f flushWriter) Flush() { _ = http.NewResponseController(f.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the wrapped writer.
func (f flushWriter) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// withHeaderAuth rejects browser requests from other origins (the site's
// own and allowed_origins pass; clients that send no Origin are not
// browsers) and records what the request's credentials prove.
func (a *App) withHeaderAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && !a.originAllowed(origin, r.Host) {
			writeError(w, http.StatusForbidden, "", "origin %s may not use mcpgw; add it to allowed_origins of the mcp_registry option", origin)
			return
		}
		state := headerAbsent
		_, cookieErr := r.Cookie(sessionCookie)
		if r.Header.Get("Authorization") != "" || cookieErr == nil {
			state = headerInvalid
			if a.auth.authenticated(r) {
				state = headerValid
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), mcpgwAuthKey{}, state)))
	})
}

// authorize checks the caller of a tool: the request's header credentials,
// or else the original registry's username and password arguments, and
// returns the access they grant. Every valid credential grants accessWrite
// today; a read-only token scope will grant accessRead.
func (a *App) authorize(ctx context.Context, args toolArgs) (mcpgwAccess, error) {
	state, _ := ctx.Value(mcpgwAuthKey{}).(headerAuth)
	if state == headerValid {
		return accessWrite, nil
	}
	user, _ := args.raw["username"].(string)
	pass, _ := args.raw["password"].(string)
	if user != "" || pass != "" {
		if a.auth.checkPassword(user, pass) {
			return accessWrite, nil
		}
		return accessRead, errors.New("authentication failed: the username or password arguments are wrong; pass the gateway's admin credentials")
	}
	if state == headerInvalid {
		return accessRead, errors.New("authentication failed: the connection's Authorization header (or session cookie) was rejected; " +
			"send valid HTTP Basic admin credentials or an API token, or pass username and password arguments")
	}
	return accessRead, errors.New("authentication required: connect with an Authorization header (HTTP Basic admin credentials or " +
		"Bearer API token), or pass the username and password arguments with this tool call")
}

// mcpgwHandler wraps a tool: authentication, then the tool, its result as
// JSON text and its failure as a tool error that says what to fix.
func (a *App) mcpgwHandler(t mcpgwTool) server.ToolHandlerFunc {
	logger := a.logger.Named("mcpgw")
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args := toolArgs{raw: req.GetArguments()}
		granted, err := a.authorize(ctx, args)
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		if granted < t.access {
			return mcp.NewToolResultError(t.tool.Name + " changes the registry, and these credentials allow only reading; use credentials with write access"), nil
		}
		out, err := t.handler(ctx, args)
		if err != nil {
			if t.access == accessWrite {
				logger.Info("tool call failed", zap.String("tool", t.tool.Name), zap.Error(err))
			}
			return mcp.NewToolResultError(toolErrorMessage(err)), nil
		}
		text, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return mcp.NewToolResultError("encoding the result: " + err.Error()), nil
		}
		return mcp.NewToolResultText(string(text)), nil
	}
}

// toolErrorMessage turns a registry error into a message for the caller
// of a tool, in the argument names of the tools.
func toolErrorMessage(err error) string {
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		field := fe.Field
		if field == "name" {
			field = "server_name"
		}
		return fmt.Sprintf("invalid %s: %s", field, fe.Msg)
	case errors.Is(err, ErrNotFound):
		return err.Error() + "; call get_server_details with service_path \"all\" to see the registered paths"
	case errors.Is(err, ErrConflict):
		return err.Error() + "; choose another path, or change the existing server"
	case errors.Is(err, ErrDisabled):
		return err.Error() + "; enable it with toggle_service first"
	}
	return err.Error()
}

// mcpgwTools lists the tools of mcpgw. Mutating tools are accessWrite.
func (a *App) mcpgwTools() []mcpgwTool {
	credentials := []mcp.ToolOption{
		mcp.WithString("username", mcp.Description("Admin user name. Only needed when the connection sends no Authorization header.")),
		mcp.WithString("password", mcp.Description("Admin password. Only needed when the connection sends no Authorization header.")),
	}
	tool := func(name string, opts ...mcp.ToolOption) mcp.Tool {
		return mcp.NewTool(name, append(opts, credentials...)...)
	}
	servicePath := func(desc string) mcp.ToolOption {
		return mcp.WithString("service_path", mcp.Required(), mcp.Description(desc))
	}
	return []mcpgwTool{
		{accessWrite, tool("toggle_service",
			mcp.WithDescription("Enables or disables a registered MCP server. A disabled server keeps its record but the gateway stops routing to it. "+
				"Without `enabled` the current state is flipped. Returns the new state."),
			servicePath("Path of the server, such as /weather (the leading slash is optional)."),
			mcp.WithBoolean("enabled", mcp.Description("true to enable, false to disable; omit to flip the current state.")),
			mcp.WithReadOnlyHintAnnotation(false), mcp.WithDestructiveHintAnnotation(false), mcp.WithOpenWorldHintAnnotation(false),
		), a.toolToggle},
		{accessWrite, tool("register_service",
			mcp.WithDescription("Registers a new MCP server with the gateway, which then routes /<path>/... to proxy_pass_url, checks its health and lists its tools. "+
				"Fails if the path is taken or an argument is invalid."),
			mcp.WithString("server_name", mcp.Required(), mcp.Description("Human-readable name, such as \"Weather Service\".")),
			mcp.WithString("path", mcp.Required(), mcp.Description("Gateway path: one segment such as /weather (a letter or digit, then letters, digits, '.', '_' or '-'). Must be unused.")),
			mcp.WithString("proxy_pass_url", mcp.Required(), mcp.Description("Absolute http or https URL of the MCP server, such as http://127.0.0.1:8001 (may include a base path).")),
			mcp.WithString("description", mcp.Description("What the server is for.")),
			mcp.WithAny("tags", mcp.Description("Labels: an array of strings, or one comma-separated string."), anyOfSchema(
				map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
				map[string]any{"type": "string"},
			)),
			mcp.WithString("transport", mcp.Enum(TransportAuto, TransportStreamableHTTP, TransportSSE),
				mcp.Description("Transport of the server: streamable-http, sse, or auto (default: probe Streamable HTTP, then SSE).")),
			mcp.WithInteger("num_tools", mcp.Min(0), mcp.Description("Ignored: the gateway counts the tools itself. Accepted for compatibility.")),
			mcp.WithInteger("num_stars", mcp.Min(0), mcp.Description("Star rating, kept for the original registry's clients.")),
			mcp.WithBoolean("is_python", mcp.Description("Whether the server is written in Python.")),
			mcp.WithString("license", mcp.Description("License of the server (default N/A).")),
			mcp.WithReadOnlyHintAnnotation(false), mcp.WithDestructiveHintAnnotation(false),
			mcp.WithIdempotentHintAnnotation(false), mcp.WithOpenWorldHintAnnotation(false),
		), a.toolRegister},
		{accessRead, tool("get_server_details",
			mcp.WithDescription("Returns the registry record of one server (name, description, path, proxy_pass_url, tags, tool list), "+
				"or of every server with service_path \"all\"."),
			servicePath("Path of the server, such as /weather, or \"all\" (or \"/all\") for every server."),
			mcp.WithReadOnlyHintAnnotation(true), mcp.WithDestructiveHintAnnotation(false), mcp.WithOpenWorldHintAnnotation(false),
		), a.toolServerDetails},
		{accessRead, tool("get_service_tools",
			mcp.WithDescription("Lists the tools of one server with their descriptions and input schemas, or of every server with service_path \"all\"."),
			servicePath("Path of the server, such as /weather, or \"all\" (or \"/all\") for every server."),
			mcp.WithReadOnlyHintAnnotation(true), mcp.WithDestructiveHintAnnotation(false), mcp.WithOpenWorldHintAnnotation(false),
		), a.toolServiceTools},
		{accessWrite, tool("refresh_service",
			mcp.WithDescription("Checks the health of one server now and lists its tools again; returns its status and tool count."),
			servicePath("Path of the server, such as /weather."),
			mcp.WithReadOnlyHintAnnotation(false), mcp.WithDestructiveHintAnnotation(false),
			mcp.WithIdempotentHintAnnotation(true), mcp.WithOpenWorldHintAnnotation(true),
		), a.toolRefresh},
		{accessRead, tool("healthcheck",
			mcp.WithDescription("Returns the health of every registered server: status (healthy, unhealthy, unknown or disabled), "+
				"when it was last checked, latency, error and tool count."),
			mcp.WithReadOnlyHintAnnotation(true), mcp.WithDestructiveHintAnnotation(false), mcp.WithOpenWorldHintAnnotation(false),
		), a.toolHealthcheck},
		{accessRead, tool("intelligent_tool_finder",
			mcp.WithDescription("Finds the tools that fit a task described in plain words, across the enabled servers of the gateway "+
				"(the same search as GET /api/tools?q=). Returns the best tools with their server path, description and input schema; "+
				"call them through the gateway at <service_path>."),
			mcp.WithString("natural_language_query", mcp.Required(), mcp.Description("What you want to do, such as \"weather forecast for a city\".")),
			mcp.WithInteger("top_k_services", mcp.Min(1), mcp.DefaultNumber(defaultTopKServices),
				mcp.Description("How many of the best-matching servers to consider (default 3).")),
			mcp.WithInteger("top_n_tools", mcp.Min(1), mcp.DefaultNumber(defaultTopNTools),
				mcp.Description("How many tools to return in all (default 1).")),
			mcp.WithReadOnlyHintAnnotation(true), mcp.WithDestructiveHintAnnotation(false), mcp.WithOpenWorldHintAnnotation(false),
		), a.toolFinder},
	}
}

// anyOfSchema makes a property accept any of the given schemas.
func anyOfSchema(schemas ...map[string]any) mcp.PropertyOption {
	return func(prop map[string]any) { prop["anyOf"] = schemas }
}

func (a *App) toolToggle(ctx context.Context, args toolArgs) (any, error) {
	path, err := args.requiredString("service_path")
	if err != nil {
		return nil, err
	}
	enabled, given, err := args.optionalBool("enabled")
	if err != nil {
		return nil, err
	}
	var srv *Server
	if given {
		srv, err = a.registry.SetEnabled(path, enabled)
	} else {
		srv, err = a.registry.Toggle(path)
	}
	if err != nil {
		return nil, err
	}
	a.logger.Info("server toggled", zap.String("path", srv.Path), zap.Bool("enabled", srv.Enabled), zap.String("via", "mcpgw"))
	return legacyStatus(srv, fmt.Sprintf("Toggle request for %s processed.", srv.Path)), nil
}

func (a *App) toolRegister(ctx context.Context, args toolArgs) (any, error) {
	in := ServerInput{Legacy: &LegacyFields{License: "N/A"}}
	var err error
	if in.Name, err = args.requiredString("server_name"); err != nil {
		return nil, err
	}
	if in.Path, err = args.requiredString("path"); err != nil {
		return nil, err
	}
	if in.ProxyPassURL, err = args.requiredString("proxy_pass_url"); err != nil {
		return nil, err
	}
	if in.Description, err = args.optionalString("description"); err != nil {
		return nil, err
	}
	if in.Transport, err = args.optionalString("transport"); err != nil {
		return nil, err
	}
	if in.Tags, err = args.tags("tags"); err != nil {
		return nil, err
	}
	if _, err = args.optionalInt("num_tools"); err != nil {
		return nil, err
	}
	if in.Legacy.NumStars, err = args.optionalInt("num_stars"); err != nil {
		return nil, err
	}
	if in.Legacy.IsPython, _, err = args.optionalBool("is_python"); err != nil {
		return nil, err
	}
	if license, err := args.optionalString("license"); err != nil {
		return nil, err
	} else if license != "" {
		in.Legacy.License = license
	}
	if in.Path != "" && !strings.HasPrefix(in.Path, "/") {
		in.Path = "/" + in.Path
	}
	srv, err := a.registry.Register(in)
	if err != nil {
		return nil, err
	}
	a.logger.Info("server registered", zap.String("path", srv.Path), zap.String("proxy_pass_url", srv.ProxyPassURL), zap.String("via", "mcpgw"))
	return map[string]any{"message": "Service registered successfully", "service": ToLegacy(srv)}, nil
}

func (a *App) toolServerDetails(ctx context.Context, args toolArgs) (any, error) {
	path, err := args.requiredString("service_path")
	if err != nil {
		return nil, err
	}
	return a.legacyDetails(path)
}

func (a *App) toolServiceTools(ctx context.Context, args toolArgs) (any, error) {
	path, err := args.requiredString("service_path")
	if err != nil {
		return nil, err
	}
	return a.legacyTools(path)
}

func (a *App) toolRefresh(ctx context.Context, args toolArgs) (any, error) {
	path, err := args.requiredString("service_path")
	if err != nil {
		return nil, err
	}
	srv, err := a.Refresh(ctx, path)
	if err != nil {
		return nil, err
	}
	out := legacyStatus(srv, fmt.Sprintf("Refresh of %s done.", srv.Path))
	out["error"] = srv.Health.Error
	return out, nil
}

// serviceHealth is one server's entry in the healthcheck answer.
type serviceHealth struct {
	Status         string  `json:"status"`
	Enabled        bool    `json:"enabled"`
	LastCheckedISO *string `json:"last_checked_iso"`
	LatencyMS      int64   `json:"latency_ms"`
	Error          string  `json:"error,omitempty"`
	NumTools       int     `json:"num_tools"`
}

func (a *App) toolHealthcheck(ctx context.Context, args toolArgs) (any, error) {
	out := map[string]serviceHealth{}
	for _, srv := range a.registry.Snapshot().Servers() {
		h := serviceHealth{
			Status: srv.Health.Status, Enabled: srv.Enabled, LatencyMS: srv.Health.LatencyMS,
			Error: srv.Health.Error, NumTools: srv.NumTools,
		}
		if srv.Health.CheckedAt != nil {
			s := srv.Health.CheckedAt.Format(time.RFC3339)
			h.LastCheckedISO = &s
		}
		out[srv.Path] = h
	}
	return out, nil
}

// foundTool is one result of intelligent_tool_finder, in the original
// registry's field names.
type foundTool struct {
	ToolName    string            `json:"tool_name"`
	Description map[string]string `json:"tool_parsed_description"`
	Schema      json.RawMessage   `json:"tool_schema"`
	ServicePath string            `json:"service_path"`
	ServiceName string            `json:"service_name"`
	Score       float64           `json:"overall_similarity_score"`
}

// toolFinder ranks tools with SearchTools, keeps those of the top_k_services
// best servers (a server ranks by its best tool) and returns the
// top_n_tools best of them.
func (a *App) toolFinder(ctx context.Context, args toolArgs) (any, error) {
	query, err := args.requiredString("natural_language_query")
	if err != nil {
		return nil, err
	}
	topK, err := args.positiveInt("top_k_services", defaultTopKServices)
	if err != nil {
		return nil, err
	}
	topN, err := args.positiveInt("top_n_tools", defaultTopNTools)
	if err != nil {
		return nil, err
	}
	servers := map[string]bool{}
	found := []foundTool{}
	for _, m := range SearchTools(a.registry.Snapshot().Servers(), query, 0) {
		if !servers[m.Server] {
			if len(servers) == topK {
				continue
			}
			servers[m.Server] = true
		}
		schema := m.InputSchema
		if len(schema) == 0 {
			schema = json.RawMessage("{}")
		}
		found = append(found, foundTool{
			ToolName: m.Name, Description: map[string]string{"main": m.Description}, Schema: schema,
			ServicePath: m.Server, ServiceName: m.ServerName, Score: math.Round(m.Score*1000) / 1000,
		})
		if len(found) == min(topN, maxFinderResults) {
			break
		}
	}
	return found, nil
}

// toolArgs reads the arguments of a tool call and says precisely what is
// wrong with one.
type toolArgs struct {
	raw map[string]any
}

func (t toolArgs) optionalString(name string) (string, error) {
	v, ok := t.raw[name]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string", name)
	}
	return s, nil
}

func (t toolArgs) requiredString(name string) (string, error) {
	s, err := t.optionalString(name)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s is required", name)
	}
	return s, nil
}

// optionalBool reads a boolean; given reports whether it was passed.
func (t toolArgs) optionalBool(name string) (value, given bool, err error) {
	v, ok := t.raw[name]
	if !ok || v == nil {
		return false, false, nil
	}
	switch b := v.(type) {
	case bool:
		return b, true, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(b)) {
		case "true", "on", "1", "yes":
			return true, true, nil
		case "false", "off", "0", "no":
			return false, true, nil
		}
	}
	return false, false, fmt.Errorf("%s must be true or false", name)
}

func (t toolArgs) optionalInt(name string) (int, error) {
	v, ok := t.raw[name]
	if !ok || v == nil {
		return 0, nil
	}
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f < 0 || f > math.MaxInt32 {
		return 0, fmt.Errorf("%s must be a whole number of at least 0", name)
	}
	return int(f), nil
}

func (t toolArgs) positiveInt(name string, def int) (int, error) {
	if v, ok := t.raw[name]; !ok || v == nil {
		return def, nil
	}
	n, err := t.optionalInt(name)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s must be a whole number of at least 1", name)
	}
	return n, nil
}

// tags reads tags given as an array of strings or one comma-separated
// string, as the original registry accepted them.
func (t toolArgs) tags(name string) ([]string, error) {
	switch v := t.raw[name].(type) {
	case nil:
		return nil, nil
	case string:
		return strings.Split(v, ","), nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s must be an array of strings or a comma-separated string", name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s must be an array of strings or a comma-separated string", name)
}

// Interface guards
var (
	_ http.Flusher = flushWriter{}
	_ http.Handler = (*server.StreamableHTTPServer)(nil)
	_ http.Handler = (*server.SSEServer)(nil)
)
