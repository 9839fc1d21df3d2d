package caddymodule

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// gatewayMetrics are the per-server collectors of the proxy, made once per
// process and registered on the metrics registry of every config
// generation, as Caddy's reverse proxy does.
var gatewayMetrics = struct {
	once     sync.Once
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	streams  *prometheus.GaugeVec
}{}

func registerMetrics(reg *prometheus.Registry) error {
	const ns, sub = "caddy", "mcp_gateway"
	gatewayMetrics.once.Do(func() {
		gatewayMetrics.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns,
			Subsystem: sub,
			Name:      "requests_total",
			Help:      "Requests proxied to each registered MCP server, by response status (499: client left first).",
		}, []string{"server", "code"})
		gatewayMetrics.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns,
			Subsystem: sub,
			Name:      "response_header_duration_seconds",
			Help:      "Time from receiving a request to sending the response headers, per MCP server.",
			Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"server"})
		gatewayMetrics.streams = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns,
			Subsystem: sub,
			Name:      "open_streams",
			Help:      "Event streams (text/event-stream responses) open through the gateway, per MCP server.",
		}, []string{"server"})
	})
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{gatewayMetrics.requests, gatewayMetrics.duration, gatewayMetrics.streams} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return fmt.Errorf("registering gateway metrics: %w", err)
			}
		}
	}
	return nil
}

// statusLabel formats a status code, without allocating for common ones.
func statusLabel(status int) string {
	switch status {
	case 200:
		return "200"
	case 202:
		return "202"
	case 204:
		return "204"
	default:
		return strconv.Itoa(status)
	}
}
