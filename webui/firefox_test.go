package webui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/caddymcp/gateway/internal/testenv"
)

// firefoxPrefs keep a test Firefox off the network: no updates, telemetry,
// safe browsing, captive-portal or connectivity probes. Only loopback
// traffic to the test's Caddy remains.
const firefoxPrefs = `user_pref("app.update.enabled", false);
user_pref("app.update.auto", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.newtabpage.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.safebrowsing.blockedURIs.enabled", false);
user_pref("browser.safebrowsing.provider.mozilla.updateURL", "");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.unified", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("extensions.update.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("extensions.systemAddon.update.enabled", false);
user_pref("browser.search.update", false);
user_pref("services.settings.server", "data:,#remote-settings-dummy/v1");
user_pref("security.remote_settings.intermediates.enabled", false);
user_pref("signon.rememberSignons", false);
`

// bidi is a minimal WebDriver BiDi client: one command at a time, read
// until the answer with the same id, keeping the events read on the way.
type bidi struct {
	t      *testing.T
	conn   *websocket.Conn
	nextID int
	events []bidiEvent
	// tab is the browsing context the test drives.
	tab string
}

type bidiEvent struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

type bidiMessage struct {
	Type    string          `json:"type"`
	ID      *int            `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
	bidiEvent
}

// send runs a command and returns its result.
func (b *bidi) send(method string, params any) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b.nextID++
	id := b.nextID
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := b.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	for {
		_, data, err := b.conn.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		var m bidiMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: decoding %q: %w", method, data, err)
		}
		switch {
		case m.Type == "event":
			b.events = append(b.events, m.bidiEvent)
		case m.ID != nil && *m.ID == id:
			if m.Type == "error" {
				return nil, fmt.Errorf("%s: %s: %s", method, m.Error, m.Message)
			}
			return m.Result, nil
		}
	}
}

// must runs a command, failing the test on error.
func (b *bidi) must(method string, params any) json.RawMessage {
	b.t.Helper()
	res, err := b.send(method, params)
	if err != nil {
		b.t.Fatalf("firefox: %v", err)
	}
	return res
}

// eval evaluates a JavaScript expression (awaiting a promise) in the tab
// and decodes its value, which travels as JSON.
func (b *bidi) eval(expr string, v any) error {
	res, err := b.send("script.evaluate", map[string]any{
		"expression":   fmt.Sprintf(`(async () => JSON.stringify(await (%s)) ?? 'null')()`, expr),
		"target":       map[string]any{"context": b.tab},
		"awaitPromise": true,
	})
	if err != nil {
		return err
	}
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if r.Type == "exception" {
		return fmt.Errorf("%s: %s", expr, r.ExceptionDetails.Text)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal([]byte(r.Result.Value), v)
}

// run evaluates an expression for its effect, failing the test on error.
func (b *bidi) run(expr string) {
	b.t.Helper()
	if err := b.eval(expr, nil); err != nil {
		b.t.Fatalf("firefox: %v", err)
	}
}

func (b *bidi) text(sel string) string {
	b.t.Helper()
	var s string
	if err := b.eval(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, sel), &s); err != nil {
		b.t.Fatalf("firefox: %v", err)
	}
	return s
}

// waitFor polls a JavaScript predicate until it is truthy, across
// navigations and while the elements it reads do not exist yet.
func (b *bidi) waitFor(what, predicate string, timeout time.Duration) {
	b.t.Helper()
	expr := fmt.Sprintf(`(() => { try { return !!(%s); } catch (e) { return false; } })()`, predicate)
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		err := b.eval(expr, &ok)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waiting for %s (%s): not true after %s (last error: %v)", what, predicate, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// errorLogs returns the texts of the error entries of the page's log:
// uncaught exceptions and console.error calls.
func (b *bidi) errorLogs() []string {
	var out []string
	for _, e := range b.events {
		if e.Method != "log.entryAdded" {
			continue
		}
		var entry struct {
			Level string `json:"level"`
			Text  string `json:"text"`
		}
		if json.Unmarshal(e.Params, &entry) == nil && entry.Level == "error" {
			out = append(out, entry.Text)
		}
	}
	return out
}

// startFirefox starts a headless Firefox ESR with a fresh profile and opens
// a WebDriver BiDi session on it. Firefox is closed when the test ends.
func startFirefox(t *testing.T) *bidi {
	t.Helper()
	bin := os.Getenv("FIREFOX")
	if bin == "" {
		p, err := exec.LookPath("firefox-esr")
		if err != nil {
			t.Fatal("firefox-esr is not installed: run scripts/install-test-deps.sh")
		}
		bin = p
	}
	profile := t.TempDir()
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(firefoxPrefs), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	cmd := exec.Command(bin, "--headless", "--no-remote", "--profile", profile,
		"--remote-debugging-port", strconv.Itoa(port), "about:blank")
	// MOZ_DISABLE_NONLOCAL_CONNECTIONS, from Mozilla's own test harness,
	// refuses connections off loopback and lets the prefs above override
	// the remote-settings server (measured with strace: no DNS, no
	// connection but 127.0.0.1).
	cmd.Env = append(os.Environ(), "MOZ_CRASHREPORTER_DISABLE=1", "MOZ_DISABLE_NONLOCAL_CONNECTIONS=1", "HOME="+profile)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting firefox: %v", err)
	}
	b := &bidi{t: t}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	// Registered after t.TempDir, so it runs before the profile is removed.
	t.Cleanup(func() {
		if b.conn != nil {
			_, _ = b.send("browser.close", map[string]any{})
			b.conn.CloseNow()
		}
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("firefox output:\n%s", output.String())
		}
	})

	url := fmt.Sprintf("ws://127.0.0.1:%d/session", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, _, err := websocket.Dial(ctx, url, nil)
		cancel()
		if err == nil {
			conn.SetReadLimit(64 << 20)
			b.conn = conn
			break
		}
		select {
		case <-exited:
			t.Fatalf("firefox exited: %s", output.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("connecting to firefox's WebDriver BiDi at %s: %v\n%s", url, err, output.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	b.must("session.new", map[string]any{"capabilities": map[string]any{}})
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := json.Unmarshal(b.must("browsingContext.getTree", map[string]any{}), &tree); err != nil || len(tree.Contexts) == 0 {
		t.Fatalf("firefox has no tab: %v", err)
	}
	b.tab = tree.Contexts[0].Context
	b.must("session.subscribe", map[string]any{"events": []string{"log.entryAdded"}})
	// Every document the tab opens records its CSP violations.
	b.must("script.addPreloadScript", map[string]any{"functionDeclaration": "() => {" + watchScript + "}"})
	return b
}

// TestWebUIFirefox drives the dashboard in headless Firefox ESR over
// WebDriver BiDi: sign in through the form, see the cards, toggle a
// server, open its tools, with no script error and no CSP violation.
func TestWebUIFirefox(t *testing.T) {
	weather := testenv.StartBackend(t, testenv.Streamable, testenv.NewMCPServer("weather"))
	c := testenv.StartCaddy(t, testenv.Options{Registry: "health_interval 1s\n\t\thealth_timeout 1s"})
	register(t, c, map[string]any{"path": "/weather", "name": "Weather Service", "proxy_pass_url": weather.URL,
		"transport": "streamable-http", "description": "Forecasts.", "tags": []string{"weather"}})
	register(t, c, map[string]any{"path": "/off", "name": "Switched Off", "proxy_pass_url": "http://127.0.0.1:9/",
		"description": "Disabled from the start.", "enabled": false})

	b := startFirefox(t)
	b.must("browsingContext.navigate", map[string]any{"context": b.tab, "url": c.BaseURL + "/login", "wait": "complete"})

	// Sign in through the form, as a user would.
	b.waitFor("the login form", `!document.querySelector('#login-view').hidden`, 5*time.Second)
	b.run(fmt.Sprintf(`(() => {
		for (const [id, v] of [['#login-username', %s], ['#login-password', %s]]) {
			const e = document.querySelector(id);
			e.focus();
			e.value = v;
			e.dispatchEvent(new Event('input', {bubbles: true}));
		}
		document.querySelector('#login-submit').click();
	})()`, jsString(testenv.User), jsString(testenv.Password)))
	b.waitFor("the dashboard", `location.pathname === '/' && !document.querySelector('#app-view').hidden`, 10*time.Second)

	// Both servers have a card with their name.
	for path, name := range map[string]string{"/weather": "Weather Service", "/off": "Switched Off"} {
		b.waitFor("the card of "+path, `document.querySelector(`+jsString(card(path)+" .card-name")+`).textContent === `+jsString(name), 10*time.Second)
	}
	if got := b.text(card("/off") + " .badge"); got != "Disabled" {
		t.Errorf("disabled server badge = %q, want Disabled", got)
	}

	// The enable switch toggles the server, and the API agrees.
	if srv, _ := getServer(t, c, "weather"); srv["enabled"] != true {
		t.Fatalf("weather should start enabled: %v", srv)
	}
	sw := jsString(card("/weather") + " .enable")
	b.run(`document.querySelector(` + sw + `).click()`)
	waitAPI(t, c, "weather", "weather disabled from the switch", func(s map[string]any) bool { return s["enabled"] == false })
	b.waitFor("the Disabled switch text", `document.querySelector(`+jsString(card("/weather")+" .switch-text")+`).textContent === 'Disabled' && !document.querySelector(`+sw+`).checked`, 5*time.Second)
	b.waitFor("the switch to settle", `!document.querySelector(`+sw+`).hasAttribute('aria-busy')`, 5*time.Second)
	b.run(`document.querySelector(` + sw + `).click()`)
	waitAPI(t, c, "weather", "weather enabled again", func(s map[string]any) bool { return s["enabled"] == true })
	b.waitFor("the Enabled switch", `document.querySelector(`+sw+`).checked`, 5*time.Second)

	// The tools dialog lists the backend's tool.
	waitAPI(t, c, "weather", "weather tools discovered", func(s map[string]any) bool { n, _ := s["num_tools"].(float64); return n >= 1 })
	b.waitFor("the tool count", `document.querySelector(`+jsString(card("/weather")+" .tools-btn")+`).textContent === '1 tool'`, 10*time.Second)
	b.run(`document.querySelector(` + jsString(card("/weather")+" .tools-btn") + `).click()`)
	tool := `#tools-dialog .tool[data-tool="echo"]`
	b.waitFor("the tools dialog", `document.querySelector('#tools-dialog').open && !!document.querySelector(`+jsString(tool)+`)`, 5*time.Second)
	if got := b.text(tool + " h3"); got != "echo" {
		t.Errorf("tool name = %q, want echo", got)
	}

	// No script error and no CSP violation.
	var csp []string
	if err := b.eval(`window.__csp`, &csp); err != nil {
		t.Fatalf("reading CSP violations: %v", err)
	} else if csp == nil {
		t.Fatal("the CSP watcher did not run in the page")
	}
	if len(csp) != 0 {
		t.Errorf("CSP violations: %q", csp)
	}
	if errs := b.errorLogs(); len(errs) != 0 {
		t.Errorf("JavaScript errors: %q", errs)
	}

	// The watch is not blind: an uncaught exception is reported. Each
	// round trip reads the events that arrived in the meantime.
	b.run(`setTimeout(() => { throw new Error('bidi-probe') })`)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(strings.Join(b.errorLogs(), "\n"), "bidi-probe") {
		if time.Now().After(deadline) {
			t.Fatalf("an uncaught exception was not reported by log.entryAdded: %q", b.errorLogs())
		}
		time.Sleep(50 * time.Millisecond)
		b.run(`0`)
	}
}
