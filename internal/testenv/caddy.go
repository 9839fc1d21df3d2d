// Package testenv starts real parts for tests: a Caddy instance in the
// test process, configured from a Caddyfile on free loopback ports with a
// fresh bbolt file, and MCP servers from mcp-go on loopback. Tests that use
// it blank-import the gateway's modules themselves.
package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	// The Caddyfile adapter and the standard HTTP modules.
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// Admin credentials of every test instance.
const (
	User     = "admin"
	Password = "test-password"
)

// Caddy is a running Caddy instance of the test process.
type Caddy struct {
	t *testing.T
	// BaseURL is the site's http://127.0.0.1:PORT.
	BaseURL string
	// AdminURL is Caddy's admin endpoint, http://127.0.0.1:PORT.
	AdminURL string
	// DBPath is the registry's bbolt file.
	DBPath string
	// HTTPPort and AdminPort are the listening ports.
	HTTPPort, AdminPort int
}

// Options shape the Caddyfile of a test instance.
type Options struct {
	// Registry holds extra lines of the global mcp_registry option.
	Registry string
	// Site is the site block's body (default: mcp_registry and mcp_gateway).
	Site string
	// DBPath reuses a registry file (default: a new one in t.TempDir()).
	DBPath string
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartCaddy loads a config into the process's Caddy and stops it when the
// test ends.
func StartCaddy(t *testing.T, opts Options) *Caddy {
	t.Helper()
	c := &Caddy{t: t, HTTPPort: FreePort(t), AdminPort: FreePort(t), DBPath: opts.DBPath}
	if c.DBPath == "" {
		c.DBPath = filepath.Join(t.TempDir(), "registry.db")
	}
	c.BaseURL = fmt.Sprintf("http://127.0.0.1:%d", c.HTTPPort)
	c.AdminURL = fmt.Sprintf("http://127.0.0.1:%d", c.AdminPort)
	if err := c.Load(opts); err != nil {
		t.Fatalf("starting caddy: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping caddy: %v", err)
		}
	})
	return c
}

// Caddyfile returns the Caddyfile of opts on this instance's ports.
func (c *Caddy) Caddyfile(opts Options) string {
	site := opts.Site
	if site == "" {
		site = "mcp_registry\n\tmcp_gateway"
	}
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	grace_period 1ns
	persist_config off
	log {
		level ERROR
	}
	mcp_registry {
		storage %s
		admin_user %s
		admin_password %s
		%s
	}
}
http://:%d {
	bind 127.0.0.1
	%s
}
`, c.AdminPort, c.DBPath, User, Password, opts.Registry, c.HTTPPort, site)
}

// Load adapts the Caddyfile of opts and loads it, replacing the running
// config the way `caddy reload` does.
func (c *Caddy) Load(opts Options) error {
	cfgJSON, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(caddyfile.Format([]byte(c.Caddyfile(opts))), nil)
	if err != nil {
		return fmt.Errorf("adapting Caddyfile: %w", err)
	}
	for _, w := range warnings {
		c.t.Logf("Caddyfile warning: %s", w.String())
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		return err
	}
	// Keep-alive connections to the outgoing config's server are closed
	// by its shutdown; a request that reused one would race that close.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	return waitReady(c.BaseURL + "/healthz")
}

func waitReady(url string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("caddy did not answer %s: %w", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Response is a decoded answer of the API.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %q: %v", r.Body, err)
	}
}

// Map decodes the body as a JSON object.
func (r Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Do sends a request to the site with the admin's Basic credentials. body
// may be nil, a string (sent as is) or a value (sent as JSON).
func (c *Caddy) Do(method, path string, body any) Response {
	return c.do(c.BaseURL, method, path, body, true)
}

// DoAnon sends a request to the site without credentials.
func (c *Caddy) DoAnon(method, path string, body any) Response {
	return c.do(c.BaseURL, method, path, body, false)
}

// Admin sends a request to Caddy's admin endpoint.
func (c *Caddy) Admin(method, path string, body any) Response {
	return c.do(c.AdminURL, method, path, body, false)
}

func (c *Caddy) do(base, method, path string, body any, auth bool) Response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("encoding request body: %v", err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		c.t.Fatalf("building request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.SetBasicAuth(User, Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading %s %s: %v", method, path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}
