package webui_test

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/caddymcp/gateway/internal/testenv"
)

// TestMeasureDashboard reports figures for the README, not assertions on
// time: how long the dashboard takes to show many servers live, and how
// long a change takes from the API to the page through the WebSocket feed.
// It runs only with MCPGW_UI_MEASURE=1 (servers: MCPGW_UI_SERVERS, default
// 500).
func TestMeasureDashboard(t *testing.T) {
	if os.Getenv("MCPGW_UI_MEASURE") == "" {
		t.Skip("set MCPGW_UI_MEASURE=1 to measure the dashboard")
	}
	n := 500
	if v := os.Getenv("MCPGW_UI_SERVERS"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil {
			t.Fatalf("MCPGW_UI_SERVERS: %v", err)
		}
	}
	backend := testenv.StartBackend(t, testenv.Streamable, testenv.NewMCPServer("shared"))
	c := testenv.StartCaddy(t, testenv.Options{})
	for i := range n {
		register(t, c, map[string]any{"path": fmt.Sprintf("/srv-%04d", i), "name": fmt.Sprintf("Server %d", i),
			"proxy_pass_url": backend.URL, "transport": "streamable-http", "description": "One of many.", "tags": []string{"bulk"}})
	}

	b := startBrowser(t, c.BaseURL)
	b.open("/login")
	b.fill("#login-username", testenv.User)
	b.fill("#login-password", testenv.Password)
	b.click("#login-submit")
	b.waitFor("the dashboard", `location.pathname === '/'`, 10*time.Second)

	var loads []time.Duration
	for range 5 {
		start := time.Now()
		b.do(chromedp.Reload())
		b.waitFor("every card, live", fmt.Sprintf(`document.querySelector('#conn-status').dataset.state === 'live' && document.querySelectorAll('#server-list .card').length === %d`, n), 30*time.Second)
		loads = append(loads, time.Since(start))
	}

	// The page itself sends each change with fetch and times, with a
	// MutationObserver, when the feed has brought it to the card: the
	// request, the bbolt commit, the event hub, the WebSocket and the
	// render, all on one clock.
	const roundTrip = `(async (path, action) => {
		const badge = document.querySelector('#server-list .card[data-path="' + path + '"] .badge');
		const done = () => (badge.dataset.status === 'disabled') === (action === 'disable');
		const seen = new Promise(resolve => {
			const obs = new MutationObserver(() => { if (done()) { obs.disconnect(); resolve(); } });
			obs.observe(badge, {attributes: true});
		});
		const t0 = performance.now();
		const res = await fetch('/api/servers/' + path.slice(1) + '/' + action, {method: 'POST'});
		if (!res.ok) throw new Error('status ' + res.status);
		const answered = performance.now() - t0;
		await seen;
		return [answered, performance.now() - t0];
	})(%q, %q)`
	var answers, changes []time.Duration
	for i := range 20 {
		path := fmt.Sprintf("/srv-%04d", i*(n/20))
		for _, action := range []string{"disable", "enable"} {
			ms := run(b, chromedp.Evaluate[[2]float64](fmt.Sprintf(roundTrip, path, action), chromedp.EvalAwaitPromise))
			answers = append(answers, time.Duration(ms[0]*float64(time.Millisecond)))
			changes = append(changes, time.Duration(ms[1]*float64(time.Millisecond)))
		}
	}

	slices.Sort(loads)
	slices.Sort(changes)
	slices.Sort(answers)
	t.Logf("servers: %d", n)
	t.Logf("reload to every card live: median %v, min %v, max %v (5 runs)", loads[len(loads)/2].Round(time.Millisecond), loads[0].Round(time.Millisecond), loads[len(loads)-1].Round(time.Millisecond))
	t.Logf("API enable/disable answered: median %v, p90 %v, max %v", answers[len(answers)/2].Round(100*time.Microsecond), answers[len(answers)*9/10].Round(100*time.Microsecond), answers[len(answers)-1].Round(100*time.Microsecond))
	t.Logf("API enable/disable to the card's badge: median %v, p90 %v, max %v (40 changes)", changes[len(changes)/2].Round(100*time.Microsecond), changes[len(changes)*9/10].Round(100*time.Microsecond), changes[len(changes)-1].Round(100*time.Microsecond))
}
