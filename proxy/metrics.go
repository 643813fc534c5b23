package proxy

import "github.com/prometheus/client_golang/prometheus"

// metrics are the proxy's own Prometheus metrics, in a registry of their
// own (no global state).
type metrics struct {
	registry     *prometheus.Registry
	syncDuration prometheus.Histogram
	syncErrors   prometheus.Counter
	rules        prometheus.Gauge
	lastSync     prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sqlkube_proxy_sync_duration_seconds",
			Help:    "Time to build and apply the nftables table.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sqlkube_proxy_sync_errors_total",
			Help: "Syncs that failed (each is retried as a full sync).",
		}),
		rules: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sqlkube_proxy_rules",
			Help: "Rules plus map elements in the table after the last successful sync.",
		}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sqlkube_proxy_last_sync_timestamp_seconds",
			Help: "Time of the last successful sync.",
		}),
	}
	m.registry.MustRegister(m.syncDuration, m.syncErrors, m.rules, m.lastSync,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}
