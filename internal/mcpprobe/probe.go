// Package mcpprobe checks MCP servers with a real handshake and lists their
// tools, using mcp-go's client over Streamable HTTP or HTTP+SSE. It
// remembers which protocol revision each server speaks, so that a repeated
// check goes straight to the handshake that worked instead of waiting for
// a server/discover probe that the server ignores.
package mcpprobe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// Transports a server may be probed over.
const (
	SSE            = "sse"
	StreamableHTTP = "streamable-http"
	Auto           = "auto"
)

// ErrTooLarge means a server sent more than the byte budget of a probe.
var ErrTooLarge = errors.New("response exceeds the size limit")

// discardLogger silences mcp-go's transport logging: the caller reports
// failures itself.
var discardLogger = slog.New(slog.DiscardHandler)

// Request describes one probe.
type Request struct {
	// BaseURL is the server's base URL (the gateway's proxy_pass_url).
	// The endpoint is BaseURL itself if its last path segment is "mcp"
	// (Streamable HTTP) or "sse" (SSE), else BaseURL + "/mcp" or "/sse".
	BaseURL string
	// Transport is SSE, StreamableHTTP or Auto (Streamable HTTP first,
	// then SSE).
	Transport string
	// ListTools asks for the server's tools after the handshake.
	ListTools bool
	// MaxPages bounds the pages of tools/list (default 50).
	MaxPages int
	// MaxBytes bounds the bytes read from the server during the probe
	// (default 8 MiB).
	MaxBytes int64
}

// Tool is one tool of a probed server.
type Tool struct {
	// Name is the tool's name.
	Name string
	// Description says what the tool does.
	Description string
	// InputSchema is the JSON schema of the tool's arguments ({} if none).
	InputSchema json.RawMessage
}

// Result is the outcome of a successful probe.
type Result struct {
	// Transport is the transport that answered (never Auto).
	Transport string
	// ProtocolVersion is the negotiated protocol revision.
	ProtocolVersion string
	// Tools are the listed tools, if the request asked for them.
	Tools []Tool
	// Truncated says that tools/list had more pages than the limit; Tools
	// holds those of the pages read.
	Truncated bool
}

// Prober runs probes. Its zero value is not usable; use New.
type Prober struct {
	timeout   time.Duration
	transport *http.Transport
	// versions remembers the protocol revision that each endpoint spoke
	// last: endpoint URL -> string.
	versions sync.Map
	// discoverTimeout bounds mcp-go's server/discover probe on endpoints
	// whose revision is not yet known.
	discoverTimeout time.Duration
}

// New returns a Prober whose requests time out after timeout. Redirects
// are not followed: an MCP endpoint that redirects is reported as such.
func New(timeout time.Duration) *Prober {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		// No proxy from the environment: the check goes where the
		// gateway's requests go, straight to the backend.
		DialContext:         dialer.DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 4,
		// Connections serve the requests of one probe; between checks
		// of a large registry they would only hold descriptors.
		IdleConnTimeout:       5 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &Prober{
		timeout:         timeout,
		transport:       tr,
		discoverTimeout: min(timeout/2, 2*time.Second),
	}
}

// noRedirects makes a client hand redirects back instead of following them.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Close releases idle connections.
func (p *Prober) Close() { p.transport.CloseIdleConnections() }

// Endpoint returns the URL that a client of transport connects to for a
// server at baseURL.
func Endpoint(baseURL, transportName string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", fmt.Errorf("invalid URL %q: %w", baseURL, err)
	}
	last := "mcp"
	if transportName == SSE {
		last = "sse"
	}
	p := strings.TrimRight(u.Path, "/")
	if p[strings.LastIndexByte(p, '/')+1:] != last {
		p += "/" + last
	}
	u.Path, u.RawPath = p, ""
	return u.String(), nil
}

// Probe connects to the server, performs the MCP handshake, pings it and,
// if asked, lists its tools. ctx bounds the whole probe.
func (p *Prober) Probe(ctx context.Context, req Request) (*Result, error) {
	if req.MaxPages <= 0 {
		req.MaxPages = 50
	}
	if req.MaxBytes <= 0 {
		req.MaxBytes = 8 << 20
	}
	switch req.Transport {
	case SSE, StreamableHTTP:
		return p.probeTransport(ctx, req, req.Transport)
	case Auto, "":
		res, err := p.probeTransport(ctx, req, StreamableHTTP)
		if err == nil || ctx.Err() != nil {
			return res, err
		}
		res, sseErr := p.probeTransport(ctx, req, SSE)
		if sseErr != nil {
			return nil, fmt.Errorf("streamable-http: %v; sse: %w", err, sseErr)
		}
		return res, nil
	default:
		return nil, fmt.Errorf("unknown transport %q", req.Transport)
	}
}

// probeTransport probes one transport. An endpoint whose revision is
// remembered is spoken to in that revision only. Otherwise mcp-go
// negotiates (server/discover, then initialize) and, if that fails short
// of a network error, the initialize handshake alone is tried: some
// servers of other SDKs answer server/discover but then reject the
// revision it chose. The revision that worked is remembered; a protocol
// failure forgets it, so that the same check negotiates again.
func (p *Prober) probeTransport(ctx context.Context, req Request, tr string) (*Result, error) {
	endpoint, err := Endpoint(req.BaseURL, tr)
	if err != nil {
		return nil, err
	}
	budget := &byteBudget{}
	retryable := func(err error) bool {
		return err != nil && ctx.Err() == nil && !isNetworkError(err) && !errors.Is(err, ErrTooLarge)
	}
	if v, ok := p.versions.Load(endpoint); ok {
		budget.left.Store(req.MaxBytes)
		res, err := p.session(ctx, req, tr, endpoint, budget, client.WithProtocolVersion(v.(string)))
		if !retryable(err) {
			return res, err
		}
		p.versions.Delete(endpoint)
	}
	budget.left.Store(req.MaxBytes)
	res, err := p.session(ctx, req, tr, endpoint, budget, client.WithDiscoverTimeout(p.discoverTimeout))
	if retryable(err) {
		budget.left.Store(req.MaxBytes)
		//lint:ignore SA1019 the handshake of servers before 2026-07-28
		res, err = p.session(ctx, req, tr, endpoint, budget, client.WithLegacyProtocolOnly())
	}
	if err != nil {
		return nil, err
	}
	p.versions.Store(endpoint, res.ProtocolVersion)
	return res, nil
}

// session runs one client session against endpoint.
func (p *Prober) session(ctx context.Context, req Request, tr, endpoint string, budget *byteBudget, opts ...client.ClientOption) (*Result, error) {
	rt := &budgetTransport{base: p.transport, budget: budget}
	var t transport.Interface
	switch tr {
	case SSE:
		timeout := p.timeout
		if dl, ok := ctx.Deadline(); ok {
			timeout = min(timeout, time.Until(dl))
		}
		sse, err := transport.NewSSE(endpoint,
			// The SSE stream outlives single requests: only the context
			// bounds it.
			transport.WithHTTPClient(&http.Client{Transport: rt, CheckRedirect: noRedirects}),
			transport.WithSSELogger(discardLogger),
			transport.WithEndpointTimeout(timeout),
			transport.WithResponseTimeout(timeout),
		)
		if err != nil {
			return nil, err
		}
		t = sse
	default:
		sh, err := transport.NewStreamableHTTP(endpoint,
			transport.WithHTTPBasicClient(&http.Client{Transport: rt, Timeout: p.timeout, CheckRedirect: noRedirects}),
			transport.WithHTTPLogger(discardLogger),
		)
		if err != nil {
			return nil, err
		}
		t = sh
	}
	c := client.NewClient(t, opts...)
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		return nil, budget.explain(fmt.Errorf("connecting: %w", err))
	}
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "caddy-mcp-gateway-health", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		return nil, budget.explain(fmt.Errorf("initialize: %w", err))
	}
	res := &Result{Transport: tr, ProtocolVersion: c.ProtocolVersion()}
	if !mcp.IsModernProtocol(res.ProtocolVersion) {
		//lint:ignore SA1019 ping is the liveness check of revisions before 2026-07-28
		if err := c.Ping(ctx); err != nil {
			return nil, budget.explain(fmt.Errorf("ping: %w", err))
		}
	} else if !req.ListTools {
		// ping left the protocol in 2026-07-28; a first page of
		// tools/list proves that the server serves the revision.
		if _, err := c.ListToolsByPage(ctx, mcp.ListToolsRequest{}); err != nil {
			return nil, budget.explain(fmt.Errorf("tools/list: %w", err))
		}
	}
	if req.ListTools {
		tools, truncated, err := listTools(ctx, c, req.MaxPages)
		if err != nil {
			return nil, budget.explain(err)
		}
		res.Tools, res.Truncated = tools, truncated
	}
	return res, nil
}

// listTools pages through tools/list. After maxPages pages, or when the
// server repeats a cursor, it stops and reports the list as truncated.
func listTools(ctx context.Context, c *client.Client, maxPages int) (tools []Tool, truncated bool, err error) {
	tools = []Tool{}
	seen := map[mcp.Cursor]bool{}
	var cursor mcp.Cursor
	for page := 0; page < maxPages; page++ {
		req := mcp.ListToolsRequest{}
		req.Params.Cursor = cursor
		res, err := c.ListToolsByPage(ctx, req)
		if err != nil {
			return nil, false, fmt.Errorf("tools/list: %w", err)
		}
		for _, t := range res.Tools {
			tools = append(tools, convertTool(t))
		}
		if res.NextCursor == "" {
			return tools, false, nil
		}
		if seen[res.NextCursor] {
			return tools, true, nil
		}
		seen[res.NextCursor] = true
		cursor = res.NextCursor
	}
	return tools, true, nil
}

// convertTool keeps a tool's name, description and input schema as the
// server sent them (mcp-go's own JSON rendering of the schema).
func convertTool(t mcp.Tool) Tool {
	out := Tool{Name: t.Name, Description: t.Description, InputSchema: json.RawMessage(`{}`)}
	if b, err := json.Marshal(t); err == nil {
		var m struct {
			InputSchema json.RawMessage `json:"inputSchema"`
		}
		if json.Unmarshal(b, &m) == nil && len(m.InputSchema) > 0 && string(m.InputSchema) != "null" {
			out.InputSchema = m.InputSchema
		}
	}
	return out
}

func isNetworkError(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &opErr) || (errors.As(err, &netErr) && netErr.Timeout()) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF)
}

// byteBudget counts down the bytes a probe may still read.
type byteBudget struct {
	left     atomic.Int64
	exceeded atomic.Bool
}

// explain replaces err by ErrTooLarge when the budget ran out, since the
// client reports the cut-off body as some other failure.
func (b *byteBudget) explain(err error) error {
	if b.exceeded.Load() {
		return fmt.Errorf("%w: %v", ErrTooLarge, err)
	}
	return err
}

// budgetTransport cuts response bodies once the probe's budget is spent.
type budgetTransport struct {
	base   http.RoundTripper
	budget *byteBudget
}

func (t *budgetTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: redirected (%s) to %q; redirects are not followed", r.Method, r.URL.Redacted(), resp.Status, resp.Header.Get("Location"))
	}
	resp.Body = &budgetBody{ReadCloser: resp.Body, budget: t.budget}
	return resp, nil
}

type budgetBody struct {
	io.ReadCloser
	budget *byteBudget
}

func (b *budgetBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.budget.left.Add(-int64(n)) < 0 {
		b.budget.exceeded.Store(true)
		return 0, ErrTooLarge
	}
	return n, err
}

// Interface guards
var (
	_ http.RoundTripper = (*budgetTransport)(nil)
	_ io.ReadCloser     = (*budgetBody)(nil)
)
