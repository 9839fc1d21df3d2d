package registryapp

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// healthMetrics are the Prometheus collectors of the health checks, made
// once per process and registered on each config's metrics registry.
type healthMetrics struct {
	healthy  *prometheus.GaugeVec
	latency  *prometheus.GaugeVec
	duration *prometheus.HistogramVec
}

var (
	healthMetricsOnce sync.Once
	sharedMetrics     *healthMetrics
)

func newHealthMetrics(reg *prometheus.Registry) (*healthMetrics, error) {
	healthMetricsOnce.Do(func() {
		const ns, sub = "caddy", "mcp"
		sharedMetrics = &healthMetrics{
			healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Namespace: ns, Subsystem: sub, Name: "server_healthy",
				Help: "Health of each registered MCP server: 1 healthy, 0 unhealthy, -1 unknown or disabled.",
			}, []string{"server"}),
			latency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Namespace: ns, Subsystem: sub, Name: "server_check_latency_seconds",
				Help: "Duration of the latest health check of each MCP server.",
			}, []string{"server"}),
			duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Namespace: ns, Subsystem: sub, Name: "health_check_duration_seconds",
				Help:    "Duration of MCP health checks by result.",
				Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
			}, []string{"result"}),
		}
	})
	if reg == nil {
		return sharedMetrics, nil
	}
	for _, c := range []prometheus.Collector{sharedMetrics.healthy, sharedMetrics.latency, sharedMetrics.duration} {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return nil, err
		}
	}
	return sharedMetrics, nil
}

// observeStatus sets the health gauge of srv from its record.
func (m *healthMetrics) observeStatus(srv *Server) {
	v := -1.0
	switch srv.Health.Status {
	case StatusHealthy:
		v = 1
	case StatusUnhealthy:
		v = 0
	}
	m.healthy.WithLabelValues(srv.Path).Set(v)
}

// observeCheck records the duration of a check of path.
func (m *healthMetrics) observeCheck(path string, h Health, d time.Duration) {
	m.latency.WithLabelValues(path).Set(d.Seconds())
	m.duration.WithLabelValues(h.Status).Observe(d.Seconds())
}

// forget drops the series of a removed server.
func (m *healthMetrics) forget(path string) {
	m.healthy.DeleteLabelValues(path)
	m.latency.DeleteLabelValues(path)
}
