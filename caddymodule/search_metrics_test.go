package caddymodule_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddymcp/gateway/internal/testenv"
	"github.com/caddymcp/gateway/registryapp"
)

func TestToolSearchAPI(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: fastHealth})
	weather := testenv.StartBackend(t, testenv.Streamable, testenv.NewMCPServer("w", extraTool("get_forecast"), extraTool("get_alerts")))
	register(t, c, "/weather", weather.URL, "streamable-http")
	waitHealth(t, c, "weather", "healthy", 3, 5*time.Second)

	resp := c.Do("GET", "/api/tools?q=get_forecast", nil)
	var body struct {
		Tools []registryapp.ToolMatch `json:"tools"`
	}
	resp.JSON(t, &body)
	if resp.Status != http.StatusOK || len(body.Tools) == 0 {
		t.Fatalf("search: %d %s", resp.Status, resp.Body)
	}
	first := body.Tools[0]
	if first.Name != "get_forecast" || first.Server != "/weather" || first.ServerName != "Server /weather" || !strings.Contains(string(first.InputSchema), "city") {
		t.Errorf("first match = %+v", first)
	}
	resp = c.Do("GET", "/api/tools?q=city&limit=1", nil)
	resp.JSON(t, &body)
	if len(body.Tools) != 1 {
		t.Errorf("limit=1 gave %d tools", len(body.Tools))
	}
	if r := c.Do("GET", "/api/tools?limit=x", nil); r.Status != http.StatusBadRequest {
		t.Errorf("bad limit: %d, want 400", r.Status)
	}
	if r := c.DoAnon("GET", "/api/tools?q=echo", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("anonymous search: %d, want 401", r.Status)
	}
}

func TestHealthMetrics(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: fastHealth})
	up := testenv.StartBackend(t, testenv.Streamable, testenv.NewMCPServer("up"))
	register(t, c, "/up", up.URL, "streamable-http")
	register(t, c, "/down", "http://127.0.0.1:9", "streamable-http")
	waitHealth(t, c, "up", "healthy", 1, 5*time.Second)
	waitHealth(t, c, "down", "unhealthy", -1, 5*time.Second)

	waitFor(t, 5*time.Second, func() (bool, string) {
		m := string(c.Admin("GET", "/metrics", nil).Body)
		ok := strings.Contains(m, `caddy_mcp_server_healthy{server="/up"} 1`) &&
			strings.Contains(m, `caddy_mcp_server_healthy{server="/down"} 0`) &&
			strings.Contains(m, `caddy_mcp_server_check_latency_seconds{server="/up"}`) &&
			strings.Contains(m, `caddy_mcp_health_check_duration_seconds_count{result="healthy"}`)
		return ok, "metrics lack the health series:\n" + grepLines(m, "caddy_mcp_")
	})
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
