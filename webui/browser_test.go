package webui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	_ "github.com/caddymcp/gateway/caddymodule"
	"github.com/caddymcp/gateway/internal/testenv"
)

// xssPayload is a description that would run script if it were rendered as
// HTML; the page must show it as text.
const xssPayload = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`

// watchScript runs in every document the browser opens: it records CSP
// violations, which the strict policy would report for any inline script or
// style the UI (or injected markup) tried to use.
const watchScript = `window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
	window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});`

// findChromium returns the browser the tests drive: $CHROMIUM, else
// Debian's chromium.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (scripts/install-test-deps.sh installs it)")
	return ""
}

// browser is one headless Chromium tab on the test's Caddy.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func startBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(findChromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 960),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, base: base}
	// The first Run starts the browser; it must not carry a timeout, which
	// would end the browser with it.
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		_, err := cdp.Call(ctx, tgt, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchScript})
		return err
	}))
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

// run runs one action with a deadline.
func run[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	run(b, chromedp.Steps(steps...))
}

// eval evaluates a JavaScript expression and decodes its value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	return run(b, chromedp.Evaluate[T](expr))
}

// waitFor polls a JavaScript predicate until it is truthy, failing after
// timeout with what it waited for. It keeps polling across navigations and
// while the elements it reads do not exist yet.
func (b *browser) waitFor(what, predicate string, timeout time.Duration) {
	b.t.Helper()
	expr := fmt.Sprintf(`(() => { try { return !!(%s); } catch (e) { return false; } })()`, predicate)
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waiting for %s (%s): not true after %s (last error: %v)", what, predicate, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

// fill replaces the value of an input with text typed by the keyboard;
// an empty text clears the input as a user would, with an input event.
func (b *browser) fill(sel, text string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(e => { e.value = ''; e.focus(); e.dispatchEvent(new Event('input', {bubbles: true})); })(document.querySelector(%q))`, sel)))
	if text != "" {
		b.do(chromedp.SendKeys(chromedp.CSS(sel), text))
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel))
}

// card is the CSS selector of the card of the server at path.
func card(path string) string { return fmt.Sprintf(`#server-list .card[data-path=%q]`, path) }

func jsString(s string) string {
	out, _ := json.Marshal(s)
	return string(out)
}

func register(t *testing.T, c *testenv.Caddy, body map[string]any) {
	t.Helper()
	if r := c.Do(http.MethodPost, "/api/servers", body); r.Status != http.StatusCreated {
		t.Fatalf("registering %v: %d %s", body["path"], r.Status, r.Body)
	}
}

func getServer(t *testing.T, c *testenv.Caddy, id string) (map[string]any, int) {
	t.Helper()
	r := c.Do(http.MethodGet, "/api/servers/"+id, nil)
	if r.Status != http.StatusOK {
		return nil, r.Status
	}
	return r.Map(t), r.Status
}

// waitAPI polls the API until cond holds for the server id.
func waitAPI(t *testing.T, c *testenv.Caddy, id, what string, cond func(map[string]any) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		srv, _ := getServer(t, c, id)
		if srv != nil && cond(srv) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("API: %s: %v", what, srv)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWebUI drives the dashboard in headless Chromium against a real Caddy
// with real MCP backends. The subtests share one browser and one gateway
// and run in order: each one starts from the state the previous left.
func TestWebUI(t *testing.T) {
	weatherTool := server.ServerTool{
		Tool: mcp.NewTool("get_forecast",
			mcp.WithDescription("Forecast for a city. "+xssPayload),
			mcp.WithString("city", mcp.Required(), mcp.Description("City name.")),
			mcp.WithNumber("days", mcp.Description("How many days.")),
		),
		Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("sunny"), nil
		},
	}
	weather := testenv.StartBackend(t, testenv.Streamable, testenv.NewMCPServer("weather", weatherTool))
	flaky := testenv.StartBackend(t, testenv.Streamable, testenv.NewMCPServer("flaky"))
	opts := testenv.Options{Registry: "health_interval 1s\n\t\thealth_timeout 1s"}
	c := testenv.StartCaddy(t, opts)

	register(t, c, map[string]any{"path": "/weather", "name": "Weather Service", "proxy_pass_url": weather.URL,
		"transport": "streamable-http", "description": "Forecasts and current conditions.", "tags": []string{"weather", "demo"}})
	register(t, c, map[string]any{"path": "/flaky", "name": "Flaky Service", "proxy_pass_url": flaky.URL,
		"transport": "streamable-http", "description": "A backend that the test stops.", "tags": []string{"demo"}})
	register(t, c, map[string]any{"path": "/xss", "name": `<b id="bold">Not bold</b>`, "proxy_pass_url": "http://127.0.0.1:9/",
		"description": xssPayload, "tags": []string{`<i>tag</i>`}, "enabled": false})

	b := startBrowser(t, c.BaseURL)
	// Each step starts from the state the previous one left: stop at the
	// first failure.
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, func(t *testing.T) { b.t = t; f(t) }) {
			t.FailNow()
		}
	}

	step("login", func(t *testing.T) {
		b.open("/")
		if loc := run(b, chromedp.Location()); !strings.HasSuffix(loc, "/login") {
			t.Fatalf("signed-out visit of / landed on %s, want /login", loc)
		}
		b.do(chromedp.WaitVisible(chromedp.CSS("#login-form")))
		b.fill("#login-username", testenv.User)
		b.fill("#login-password", "wrong-password")
		b.click("#login-submit")
		b.waitFor("the login error", `document.querySelector('#login-error').textContent.includes('Wrong')`, 5*time.Second)

		b.fill("#login-password", testenv.Password)
		b.click("#login-submit")
		b.waitFor("the dashboard", `location.pathname === '/' && !document.querySelector('#app-view').hidden`, 10*time.Second)
		if got := b.text("#user-name"); !strings.Contains(got, testenv.User) {
			b.waitFor("the user name", `document.querySelector('#user-name').textContent.includes(`+jsString(testenv.User)+`)`, 5*time.Second)
		}
	})

	step("servers listed", func(t *testing.T) {
		for _, p := range []string{"/weather", "/flaky", "/xss"} {
			b.waitFor("card "+p, fmt.Sprintf(`!!document.querySelector(%q)`, card(p)), 10*time.Second)
		}
		if got := b.text(card("/weather") + " .card-name"); got != "Weather Service" {
			t.Errorf("weather card name = %q", got)
		}
		if got := b.text(card("/weather") + " .card-path"); got != "/weather" {
			t.Errorf("weather card path = %q", got)
		}
		if got := b.text(card("/weather") + " .tags"); !strings.Contains(got, "weather") || !strings.Contains(got, "demo") {
			t.Errorf("weather card tags = %q", got)
		}
		if got := b.text("#count-all"); got != "3" {
			t.Errorf("All count = %q, want 3", got)
		}
		if got := b.text("#count-disabled"); got != "1" {
			t.Errorf("Disabled count = %q, want 1", got)
		}
		if got := b.text(card("/xss") + " .badge"); got != "Disabled" {
			t.Errorf("disabled server badge = %q, want Disabled", got)
		}
		b.click(`.chip[data-filter="disabled"]`)
		b.waitFor("the Disabled filter", `document.querySelectorAll('#server-list .card').length === 1 && !!document.querySelector(`+jsString(card("/xss"))+`)`, 5*time.Second)
		b.click(`.chip[data-filter="all"]`)
		b.waitFor("the All filter", `document.querySelectorAll('#server-list .card').length === 3`, 5*time.Second)
	})

	step("backend-supplied markup is text", func(t *testing.T) {
		if got := b.text(card("/xss") + " .card-desc"); got != xssPayload {
			t.Errorf("description shown as %q, want the raw text %q", got, xssPayload)
		}
		if got := b.text(card("/xss") + " .card-name"); got != `<b id="bold">Not bold</b>` {
			t.Errorf("name shown as %q", got)
		}
		if n := eval[int](b, `document.querySelectorAll('#app-view img:not([src="/static/favicon.svg"]), #app-view script, #bold').length`); n != 0 {
			t.Errorf("%d elements were created from backend text", n)
		}
		if v := eval[bool](b, `window.__xss !== undefined`); v {
			t.Error("script from a description ran")
		}
	})

	step("toggle from the UI", func(t *testing.T) {
		if srv, _ := getServer(t, c, "weather"); srv["enabled"] != true {
			t.Fatalf("weather should start enabled: %v", srv["enabled"])
		}
		b.click(card("/weather") + " .enable")
		waitAPI(t, c, "weather", "weather disabled", func(s map[string]any) bool { return s["enabled"] == false })
		b.waitFor("the Disabled switch text", `document.querySelector(`+jsString(card("/weather")+" .switch-text")+`).textContent === 'Disabled'`, 5*time.Second)
		if got := b.text(card("/weather") + " .badge"); got != "Disabled" {
			t.Errorf("badge after disabling = %q", got)
		}
		b.click(card("/weather") + " .enable")
		waitAPI(t, c, "weather", "weather enabled again", func(s map[string]any) bool { return s["enabled"] == true })
		b.waitFor("the Enabled switch", `document.querySelector(`+jsString(card("/weather")+" .enable")+`).checked`, 5*time.Second)
	})

	step("tools dialog", func(t *testing.T) {
		waitAPI(t, c, "weather", "weather tools discovered", func(s map[string]any) bool { n, _ := s["num_tools"].(float64); return n >= 2 })
		b.waitFor("the tool count", `document.querySelector(`+jsString(card("/weather")+" .tools-btn")+`).textContent === '2 tools'`, 10*time.Second)
		b.click(card("/weather") + " .tools-btn")
		b.waitFor("the tools dialog", `document.querySelector('#tools-dialog').open && !!document.querySelector('#tools-dialog .tool[data-tool="get_forecast"]')`, 5*time.Second)
		tool := `#tools-dialog .tool[data-tool="get_forecast"]`
		if got := b.text(tool + " h3"); got != "get_forecast" {
			t.Errorf("tool name = %q", got)
		}
		if got := b.text(tool + " .tool-description"); got != "Forecast for a city. "+xssPayload {
			t.Errorf("tool description = %q", got)
		}
		params := b.text(tool + " .params tbody")
		for _, want := range []string{"city", "required", "string", "City name.", "days", "number"} {
			if !strings.Contains(params, want) {
				t.Errorf("parameters %q lack %q", params, want)
			}
		}
		if n := eval[int](b, `document.querySelectorAll('#tools-dialog img, #tools-dialog script').length`); n != 0 {
			t.Errorf("%d elements were created from a tool description", n)
		}
		if !strings.Contains(b.text("#tools-dialog"), "echo") {
			t.Error("the echo tool is not listed")
		}
		b.do(chromedp.KeyEvent("\x1b"))
		b.waitFor("the tools dialog to close", `!document.querySelector('#tools-dialog').open`, 5*time.Second)
	})

	step("search", func(t *testing.T) {
		b.fill("#search", "forecast")
		b.waitFor("the search result", `document.querySelectorAll('#server-list .card').length === 1 && !!document.querySelector(`+jsString(card("/weather"))+`)`, 5*time.Second)
		b.waitFor("the tool hit", `[...document.querySelectorAll('#tool-results .tool-name')].some(e => e.textContent === 'get_forecast')`, 5*time.Second)
		b.fill("#search", "")
		b.waitFor("every card back", `document.querySelectorAll('#server-list .card').length === 3`, 5*time.Second)
	})

	step("register form shows the field error", func(t *testing.T) {
		b.click("#register-btn")
		b.waitFor("the register dialog", `document.querySelector('#server-dialog').open`, 5*time.Second)
		b.fill("#f-name", "Maps")
		b.fill("#f-path", "/maps")
		b.fill("#f-proxy_pass_url", "ftp://maps.example")
		b.fill("#f-tags", "geo, demo")
		b.click("#server-submit")
		b.waitFor("the error next to the URL field", `document.querySelector('#f-proxy_pass_url-error').textContent !== ''`, 5*time.Second)
		if got := b.text("#f-proxy_pass_url-error"); !strings.Contains(got, "http") {
			t.Errorf("URL field error = %q", got)
		}
		if inv := eval[string](b, `document.querySelector('#f-proxy_pass_url').getAttribute('aria-invalid') || ''`); inv != "true" {
			t.Errorf("URL field aria-invalid = %q", inv)
		}
		for _, f := range []string{"name", "path", "tags"} {
			if got := b.text("#f-" + f + "-error"); got != "" {
				t.Errorf("field %s shows an error %q", f, got)
			}
		}
		if _, status := getServer(t, c, "maps"); status != http.StatusNotFound {
			t.Fatalf("a rejected form registered the server: %d", status)
		}

		b.fill("#f-proxy_pass_url", weather.URL)
		b.click("#server-submit")
		b.waitFor("the dialog to close", `!document.querySelector('#server-dialog').open`, 5*time.Second)
		b.waitFor("the new card", `!!document.querySelector(`+jsString(card("/maps"))+`)`, 5*time.Second)
		srv, status := getServer(t, c, "maps")
		if status != http.StatusOK || srv["name"] != "Maps" || fmt.Sprint(srv["tags"]) != "[geo demo]" {
			t.Fatalf("registered through the form: %d %v", status, srv)
		}
	})

	step("edit and delete", func(t *testing.T) {
		b.click(card("/maps") + " .edit-btn")
		b.waitFor("the edit dialog", `document.querySelector('#server-dialog').open && document.querySelector('#f-name').value === 'Maps'`, 5*time.Second)
		b.fill("#f-description", "Map tiles.")
		b.click("#server-submit")
		b.waitFor("the dialog to close", `!document.querySelector('#server-dialog').open`, 5*time.Second)
		waitAPI(t, c, "maps", "the edited description", func(s map[string]any) bool { return s["description"] == "Map tiles." })
		b.waitFor("the edited card", `document.querySelector(`+jsString(card("/maps")+" .card-desc")+`).textContent === 'Map tiles.'`, 5*time.Second)

		b.click(card("/maps") + " .delete-btn")
		b.waitFor("the confirmation", `document.querySelector('#delete-dialog').open`, 5*time.Second)
		if got := b.text("#delete-path"); got != "/maps" {
			t.Errorf("confirmation names %q", got)
		}
		b.click("#delete-confirm")
		b.waitFor("the card to go", `!document.querySelector(`+jsString(card("/maps"))+`)`, 5*time.Second)
		if _, status := getServer(t, c, "maps"); status != http.StatusNotFound {
			t.Errorf("deleted server answers %d", status)
		}
	})

	step("connection snippet", func(t *testing.T) {
		b.click(card("/weather") + " .connect-btn")
		b.waitFor("the connect dialog", `document.querySelector('#connect-dialog').open`, 5*time.Second)
		if got := eval[string](b, `document.querySelector('#c-http').value`); got != c.BaseURL+"/weather/mcp" {
			t.Errorf("Streamable HTTP URL = %q", got)
		}
		if got := eval[string](b, `document.querySelector('#c-sse').value`); got != c.BaseURL+"/weather/sse" {
			t.Errorf("SSE URL = %q", got)
		}
		var cfg struct {
			MCPServers map[string]struct {
				URL string `json:"url"`
			} `json:"mcpServers"`
		}
		if err := json.Unmarshal([]byte(b.text("#c-config")), &cfg); err != nil || cfg.MCPServers["weather"].URL != c.BaseURL+"/weather/mcp" {
			t.Errorf("client config %q: %v", b.text("#c-config"), err)
		}
		b.click(`#connect-dialog .copy-btn[data-copy="c-http"]`)
		b.waitFor("the copy confirmation", `document.querySelector('#connect-dialog .copy-btn[data-copy="c-http"]').textContent === 'Copied'`, 5*time.Second)
		b.do(chromedp.KeyEvent("\x1b"))
		b.waitFor("the connect dialog to close", `!document.querySelector('#connect-dialog').open`, 5*time.Second)
	})

	step("controls are labelled and keyboard reachable", func(t *testing.T) {
		unlabelled := eval[[]string](b, `[...document.querySelectorAll('button, input, select, textarea, a[href], [tabindex="0"]')]
			.filter(e => !(e.getAttribute('aria-label') || [...(e.labels || [])].map(l => l.textContent).join('') || e.textContent || e.title).trim())
			.map(e => e.outerHTML.slice(0, 120))`)
		if len(unlabelled) != 0 {
			t.Errorf("controls without an accessible name: %q", unlabelled)
		}
		b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#search').focus()`))
		b.do(chromedp.KeyEvent("\t"))
		if got := eval[string](b, `document.activeElement.id`); got != "register-btn" {
			t.Errorf("Tab from the search box went to %q, want register-btn", got)
		}
		// The enable switch works from the keyboard: Space toggles it.
		b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector(` + jsString(card("/flaky")+" .enable") + `).focus()`))
		b.do(chromedp.KeyEvent(" "))
		waitAPI(t, c, "flaky", "flaky disabled from the keyboard", func(s map[string]any) bool { return s["enabled"] == false })
		b.waitFor("the switch to settle", `!document.querySelector(`+jsString(card("/flaky")+" .enable")+`).hasAttribute('aria-busy')`, 5*time.Second)
		if got := eval[string](b, `document.activeElement.closest('.card')?.dataset.path || ''`); got != "/flaky" {
			t.Fatalf("the focus left the switch for %q", got)
		}
		b.do(chromedp.KeyEvent(" "))
		waitAPI(t, c, "flaky", "flaky enabled from the keyboard", func(s map[string]any) bool { return s["enabled"] == true })
	})

	step("fits a phone screen", func(t *testing.T) {
		b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		defer b.do(chromedp.EmulateReset())
		b.waitFor("the one-column layout", `document.querySelector('.sidebar').getBoundingClientRect().width === window.innerWidth`, 5*time.Second)
		if w := eval[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
			t.Errorf("the page is %d px wide on a %d px screen", w[0], w[1])
		}
		if !eval[bool](b, `(r => r.width > 0 && r.right <= window.innerWidth)(document.querySelector(`+jsString(card("/weather")+" .delete-btn")+`).getBoundingClientRect())`) {
			t.Error("the card actions do not fit the screen")
		}
	})

	step("theme and sidebar survive a reload", func(t *testing.T) {
		before := eval[string](b, `document.documentElement.dataset.theme`)
		want := map[string]string{"dark": "light", "light": "dark"}[before]
		if want == "" {
			t.Fatalf("no theme applied: %q", before)
		}
		b.click("#theme-toggle")
		b.click("#sidebar-toggle")
		if got := eval[string](b, `document.documentElement.dataset.theme`); got != want {
			t.Fatalf("theme after the toggle = %q, want %q", got, want)
		}
		b.do(chromedp.Reload())
		b.waitFor("the dashboard", `!document.querySelector('#app-view').hidden`, 10*time.Second)
		if got := eval[string](b, `document.documentElement.dataset.theme`); got != want {
			t.Errorf("theme after a reload = %q, want %q", got, want)
		}
		if !eval[bool](b, `document.documentElement.classList.contains('sidebar-collapsed')`) {
			t.Error("the collapsed sidebar did not survive the reload")
		}
		if got := eval[string](b, `document.querySelector('#sidebar-toggle').getAttribute('aria-expanded')`); got != "false" {
			t.Errorf("sidebar toggle aria-expanded = %q", got)
		}
		b.click("#sidebar-toggle")
		b.click("#theme-toggle")
	})

	step("no CSP violations", func(t *testing.T) {
		if v := eval[[]string](b, `window.__csp`); len(v) != 0 {
			t.Errorf("CSP violations: %q", v)
		}
	})

	step("badge follows the health loop without a reload", func(t *testing.T) {
		b.waitFor("the live feed", `document.querySelector('#conn-status').dataset.state === 'live'`, 10*time.Second)
		b.waitFor("flaky healthy", `document.querySelector(`+jsString(card("/flaky")+" .badge")+`).dataset.status === 'healthy'`, 10*time.Second)
		b.do(chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`))
		flaky.CloseClientConnections()
		flaky.Close()
		b.waitFor("flaky unhealthy", `document.querySelector(`+jsString(card("/flaky")+" .badge")+`).dataset.status === 'unhealthy'`, 10*time.Second)
		if !eval[bool](b, `window.__sameDocument === true`) {
			t.Error("the page reloaded")
		}
		if got := eval[string](b, `document.querySelector(`+jsString(card("/flaky")+" .badge")+`).title`); got == "" {
			t.Error("the unhealthy badge has no error on hover")
		}
		if got := b.text("#count-issues"); got != "1" {
			t.Errorf("Issues count = %q, want 1", got)
		}
	})

	step("refresh button", func(t *testing.T) {
		b.click(card("/weather") + " .refresh-btn")
		b.waitFor("the refresh result", `[...document.querySelectorAll('#toasts .toast')].some(e => e.textContent.startsWith('Weather Service: Healthy'))`, 10*time.Second)
	})

	step("live again after a config reload", func(t *testing.T) {
		b.do(chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`))
		if err := c.Load(opts); err != nil {
			t.Fatalf("reloading the config: %v", err)
		}
		// The reload closes the old feed; a change made afterwards reaches
		// the page only through the new one.
		if r := c.Do(http.MethodPost, "/api/servers/weather/disable", nil); r.Status != http.StatusOK {
			t.Fatalf("disabling weather: %d %s", r.Status, r.Body)
		}
		b.waitFor("the change after the reload", `document.querySelector('#conn-status').dataset.state === 'live' && document.querySelector(`+jsString(card("/weather")+" .badge")+`).dataset.status === 'disabled'`, 10*time.Second)
		if !eval[bool](b, `window.__sameDocument === true`) {
			t.Error("the page reloaded")
		}
		if r := c.Do(http.MethodPost, "/api/servers/weather/enable", nil); r.Status != http.StatusOK {
			t.Fatalf("enabling weather: %d %s", r.Status, r.Body)
		}
		b.waitFor("weather enabled", `document.querySelector(`+jsString(card("/weather")+" .enable")+`).checked`, 10*time.Second)
	})

	step("offline while the gateway restarts, then back", func(t *testing.T) {
		if err := caddy.Stop(); err != nil {
			t.Fatalf("stopping caddy: %v", err)
		}
		b.waitFor("the offline indicator", `document.querySelector('#conn-status').dataset.state === 'offline' && !document.querySelector('#offline-banner').hidden`, 10*time.Second)
		if err := c.Load(opts); err != nil {
			t.Fatalf("starting caddy again: %v", err)
		}
		// Sessions live in memory: a restarted gateway asks to sign in again.
		b.waitFor("the login page", `location.pathname === '/login' && !document.querySelector('#login-view').hidden`, 20*time.Second)
		b.fill("#login-username", testenv.User)
		b.fill("#login-password", testenv.Password)
		b.click("#login-submit")
		b.waitFor("the live dashboard", `document.querySelector('#conn-status').dataset.state === 'live' && document.querySelectorAll('#server-list .card').length === 3`, 10*time.Second)
	})

	if os.Getenv("UPDATE_SCREENSHOT") != "" {
		step("screenshot", func(t *testing.T) {
			screenshot(t, b, c)
		})
	}

	step("sign out", func(t *testing.T) {
		b.click("#logout-btn")
		b.waitFor("the login page", `location.pathname === '/login' && !document.querySelector('#login-view').hidden`, 10*time.Second)
		b.open("/")
		if loc := run(b, chromedp.Location()); !strings.HasSuffix(loc, "/login") {
			t.Errorf("after signing out, / shows %s", loc)
		}
	})
}

// screenshot writes docs/screenshot-dashboard.png: the dashboard at a
// laptop size in the light theme, with a few servers of each state and
// some traffic.
func screenshot(t *testing.T, b *browser, c *testenv.Caddy) {
	if r := c.Do(http.MethodDelete, "/api/servers/xss", nil); r.Status != http.StatusOK {
		t.Fatalf("removing the xss server: %d %s", r.Status, r.Body)
	}
	fin := testenv.StartBackend(t, testenv.SSE, testenv.NewMCPServer("fininfo"))
	register(t, c, map[string]any{"path": "/fininfo", "name": "Financial Info", "proxy_pass_url": fin.URL,
		"transport": "sse", "description": "Quotes and company filings over the 2024-11-05 SSE transport.", "tags": []string{"finance"}})
	register(t, c, map[string]any{"path": "/search", "name": "Web Search", "proxy_pass_url": "http://127.0.0.1:9/",
		"description": "Search engine tools, switched off until the API key arrives.", "tags": []string{"search", "web"}, "enabled": false})
	for i := 0; i < 12; i++ {
		c.DoAnon(http.MethodPost, "/weather/mcp", map[string]any{"jsonrpc": "2.0", "id": i, "method": "ping"})
		if i%3 == 0 {
			c.DoAnon(http.MethodGet, "/fininfo/missing", nil)
		}
	}
	b.waitFor("fininfo healthy", `document.querySelector(`+jsString(card("/fininfo")+" .badge")+`).dataset.status === 'healthy'`, 10*time.Second)
	b.do(chromedp.EmulateViewport(1366, 900), chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 1, 1))
	b.do(chromedp.Evaluate[chromedp.Void](`document.documentElement.dataset.theme = 'light';
		document.querySelectorAll('#toasts .toast').forEach(e => e.remove());
		document.querySelectorAll('.flash').forEach(e => e.classList.remove('flash'));
		document.activeElement.blur(); window.scrollTo(0, 0)`))
	b.waitFor("request counts", `document.querySelector('#st-requests').textContent !== '0'`, 10*time.Second)
	// A viewport as tall as the page, so that the sticky sidebar spans it.
	height := eval[int64](b, `document.documentElement.scrollHeight`)
	b.do(chromedp.EmulateViewport(1366, height))
	png := run(b, chromedp.FullScreenshot(100))
	out := filepath.Join("..", "docs", "screenshot-dashboard.png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", out, len(png))
}
