package caddymodule_test

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/caddymcp/gateway/internal/testenv"
)

// The measurements below are for the README, not pass/fail checks; they
// run only with MCPGW_BENCH=1:
//
//	MCPGW_BENCH=1 go test ./caddymodule -run 'TestBench' -v -count=1
func skipUnlessBench(t *testing.T) {
	if os.Getenv("MCPGW_BENCH") == "" {
		t.Skip("set MCPGW_BENCH=1 to run the health and feed measurements")
	}
}

// TestBenchHealthAndDiscovery1000 imports 1,000 servers (mcp-go
// Streamable HTTP backends on loopback in this process, 3 tools each) and
// logs how long it takes until every server is healthy with its tools
// listed.
func TestBenchHealthAndDiscovery1000(t *testing.T) {
	skipUnlessBench(t)
	const n = 1000
	c := testenv.StartCaddy(t, testenv.Options{Registry: "health_interval 30s"})
	var records []map[string]any
	for i := range n {
		backend := testenv.StartBackend(t, testenv.Streamable, testenv.NewMCPServer("b", extraTool("t1"), extraTool("t2")))
		records = append(records, map[string]any{
			"path": fmt.Sprintf("/s%d", i), "name": fmt.Sprintf("S%d", i),
			"proxy_pass_url": backend.URL, "transport": "streamable-http",
		})
	}
	// The import is one commit; the new servers are checked at once.
	start := time.Now()
	if r := c.Do("POST", "/api/import", records); r.Status != http.StatusOK {
		t.Fatalf("import: %d %s", r.Status, r.Body)
	}
	var healthyAt time.Duration
	waitFor(t, 3*time.Minute, func() (bool, string) {
		var st struct {
			Healthy int `json:"healthy"`
			Tools   int `json:"tools"`
		}
		c.Do("GET", "/api/stats", nil).JSON(t, &st)
		if st.Healthy == n && healthyAt == 0 {
			healthyAt = time.Since(start)
		}
		return st.Healthy == n && st.Tools == 3*n, fmt.Sprintf("%d healthy, %d tools", st.Healthy, st.Tools)
	})
	t.Logf("1000 servers: all healthy after %s, all tools listed after %s", healthyAt.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// TestBenchFeedLatency logs the time from a toggle request to its
// server_updated message on a WebSocket client, p50 and p99 of 500.
func TestBenchFeedLatency(t *testing.T) {
	skipUnlessBench(t)
	c := testenv.StartCaddy(t, testenv.Options{Registry: "health_interval 1h"})
	register(t, c, "/x", "http://127.0.0.1:9", "streamable-http")
	f := dialFeed(t, c, "")
	readUntil(t, f, 2*time.Second, func(m feedMsg) bool { return m.Type == "snapshot" })
	var lat []time.Duration
	for i := range 500 {
		enabled := i%2 == 1
		action := map[bool]string{true: "enable", false: "disable"}[enabled]
		start := time.Now()
		c.Do("POST", "/api/servers/x/"+action, nil)
		readUntil(t, f, time.Second, func(m feedMsg) bool {
			return m.Type == "server_updated" && m.Server != nil && m.Server.Enabled == enabled
		})
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("toggle request -> WebSocket message: p50 %s, p99 %s", lat[len(lat)/2], lat[len(lat)*99/100])
}
