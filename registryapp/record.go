package registryapp

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Server is one registered MCP server. Its JSON field names are part of the
// external contract (SPEC §4).
type Server struct {
	// Path is the gateway path of the server, one segment such as "/weather".
	Path string `json:"path"`
	// Name is the human-readable name of the server.
	Name string `json:"name"`
	// ProxyPassURL is the backend base URL that requests under Path go to.
	ProxyPassURL string `json:"proxy_pass_url"`
	// Transport is "sse", "streamable-http" or "auto".
	Transport string `json:"transport"`
	// Description says what the server is for.
	Description string `json:"description"`
	// Tags are free-form labels used for filtering and search.
	Tags []string `json:"tags"`
	// Enabled says whether the gateway routes requests to the server.
	Enabled bool `json:"enabled"`
	// Health is the result of the latest health check.
	Health Health `json:"health"`
	// NumTools is the number of tools the server offers.
	NumTools int `json:"num_tools"`
	// Tools are the tools found by the latest discovery.
	Tools []Tool `json:"tools"`
	// CreatedAt is when the server was registered.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when the record last changed.
	UpdatedAt time.Time `json:"updated_at"`
	// Extra keeps the original registry's descriptive fields (num_stars,
	// is_python, license) so that its clients see them unchanged.
	Extra *LegacyFields `json:"legacy,omitempty"`
}

// LegacyFields are descriptive fields of the original registry's server
// files, kept so that its endpoints answer in its own shapes.
type LegacyFields struct {
	// NumStars is the original registry's star count.
	NumStars int `json:"num_stars"`
	// IsPython says whether the server is written in Python.
	IsPython bool `json:"is_python"`
	// License is the server's license name.
	License string `json:"license"`
	// ResourceList is the original registry's resource_list, kept as is.
	ResourceList json.RawMessage `json:"resource_list,omitempty"`
}

// Health is the outcome of the latest health check of a server.
type Health struct {
	// Status is "healthy", "unhealthy", "unknown" or "disabled".
	Status string `json:"status"`
	// CheckedAt is when the check ran; zero if never.
	CheckedAt *time.Time `json:"checked_at"`
	// LatencyMS is how long the check took, in milliseconds.
	LatencyMS int64 `json:"latency_ms"`
	// Error is the reason of an unhealthy status.
	Error string `json:"error"`
}

// Tool is one tool offered by an MCP server.
type Tool struct {
	// Name is the tool's name.
	Name string `json:"name"`
	// Description says what the tool does.
	Description string `json:"description"`
	// InputSchema is the JSON schema of the tool's arguments.
	InputSchema json.RawMessage `json:"inputSchema"`
	// ParsedDescription keeps the original registry's parsed description
	// (main, args, returns, raises) of an imported tool, so that its
	// endpoints answer it unchanged; discovered tools have none.
	ParsedDescription map[string]any `json:"parsed_description,omitempty"`
}

// Health statuses.
const (
	StatusHealthy   = "healthy"
	StatusUnhealthy = "unhealthy"
	StatusUnknown   = "unknown"
	StatusDisabled  = "disabled"
)

// Transports a server may speak.
const (
	TransportSSE            = "sse"
	TransportStreamableHTTP = "streamable-http"
	TransportAuto           = "auto"
)

// Limits on record fields.
const (
	maxNameLen        = 200
	maxDescriptionLen = 4000
	maxURLLen         = 2048
	maxTags           = 32
	maxTagLen         = 64
)

var pathPattern = regexp.MustCompile(`^/[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ReservedPaths are the first path segments the registry handler serves
// itself; no server may be registered at them. Besides the paths of SPEC §4,
// the original registry's form endpoints (/register, /toggle, /edit) are
// reserved so that they can never be shadowed by a server.
var ReservedPaths = []string{
	"/api", "/ws", "/mcpgw", "/login", "/logout", "/static", "/metrics",
	"/healthz", "/.well-known", "/register", "/toggle", "/edit",
}

// FieldError is a validation failure of one input field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ServerID returns the id of a server in URLs: its path without the slash.
func ServerID(path string) string { return strings.TrimPrefix(path, "/") }

// NormalizePath turns a user-supplied id or path ("weather", "/weather",
// "/weather/") into the path form used as the record key.
func NormalizePath(idOrPath string) string {
	p := strings.TrimSpace(idOrPath)
	p = strings.TrimRight(p, "/")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}

// IsReservedPath reports whether path (any case) is one the registry handler serves.
func IsReservedPath(path string) bool {
	for _, r := range ReservedPaths {
		if strings.EqualFold(r, path) {
			return true
		}
	}
	return false
}

// pathKey is the case-folded key under which uniqueness is enforced.
func pathKey(path string) string { return strings.ToLower(path) }

// ServerInput holds the editable fields of a server record.
type ServerInput struct {
	Path         string        `json:"path"`
	Name         string        `json:"name"`
	ProxyPassURL string        `json:"proxy_pass_url"`
	Transport    string        `json:"transport"`
	Description  string        `json:"description"`
	Tags         []string      `json:"tags"`
	Enabled      *bool         `json:"enabled"`
	Legacy       *LegacyFields `json:"legacy,omitempty"`
}

// Validate checks and normalises the input in place. It returns a
// *FieldError that names the first bad field.
func (in *ServerInput) Validate() error {
	in.Path = strings.TrimSpace(in.Path)
	if in.Path == "" {
		return fieldErr("path", "is required")
	}
	if !pathPattern.MatchString(in.Path) {
		return fieldErr("path", "must be one segment like /weather: a slash, then a letter or digit, then up to 63 letters, digits, '.', '_' or '-'")
	}
	if IsReservedPath(in.Path) {
		return fieldErr("path", "%s is reserved by the gateway", in.Path)
	}

	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return fieldErr("name", "is required")
	}
	if err := checkText("name", in.Name, maxNameLen, false); err != nil {
		return err
	}
	if err := checkText("description", in.Description, maxDescriptionLen, true); err != nil {
		return err
	}

	u, err := validateProxyURL(strings.TrimSpace(in.ProxyPassURL))
	if err != nil {
		return err
	}
	in.ProxyPassURL = u

	switch in.Transport = strings.TrimSpace(in.Transport); in.Transport {
	case "":
		in.Transport = TransportAuto
	case TransportSSE, TransportStreamableHTTP, TransportAuto:
	default:
		return fieldErr("transport", "must be sse, streamable-http or auto")
	}

	tags, err := normalizeTags(in.Tags)
	if err != nil {
		return err
	}
	in.Tags = tags
	if in.Legacy != nil {
		if err := checkText("license", in.Legacy.License, maxNameLen, false); err != nil {
			return err
		}
	}
	return nil
}

func validateProxyURL(raw string) (string, error) {
	if raw == "" {
		return "", fieldErr("proxy_pass_url", "is required")
	}
	if len(raw) > maxURLLen {
		return "", fieldErr("proxy_pass_url", "is longer than %d characters", maxURLLen)
	}
	if err := checkText("proxy_pass_url", raw, maxURLLen, false); err != nil {
		return "", err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fieldErr("proxy_pass_url", "is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fieldErr("proxy_pass_url", "must be an absolute http or https URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fieldErr("proxy_pass_url", "must name a host")
	}
	if u.User != nil {
		return "", fieldErr("proxy_pass_url", "must not carry user credentials")
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return "", fieldErr("proxy_pass_url", "has an invalid port")
		}
	}
	if u.Fragment != "" {
		return "", fieldErr("proxy_pass_url", "must not have a fragment")
	}
	return u.String(), nil
}

func normalizeTags(tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if err := checkText("tags", t, maxTagLen, false); err != nil {
			return nil, err
		}
		if k := strings.ToLower(t); !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	if len(out) > maxTags {
		return nil, fieldErr("tags", "at most %d tags are allowed", maxTags)
	}
	return out, nil
}

// checkText rejects invalid UTF-8, control characters (newlines and tabs only
// where multiline is allowed), bidirectional overrides and overlong values.
func checkText(field, s string, max int, multiline bool) error {
	if !utf8.ValidString(s) {
		return fieldErr(field, "is not valid UTF-8")
	}
	if utf8.RuneCountInString(s) > max {
		return fieldErr(field, "is longer than %d characters", max)
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			return fieldErr(field, "contains a control character")
		}
		if isBidiControl(r) {
			return fieldErr(field, "contains a bidirectional control character")
		}
	}
	return nil
}

func isBidiControl(r rune) bool {
	switch {
	case r == 0x061C, r == 0x200E, r == 0x200F:
		return true
	case r >= 0x202A && r <= 0x202E:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
