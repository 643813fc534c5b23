package agent

import "github.com/prometheus/client_golang/prometheus"

// metrics are the agent's own, served on the read-only port.
type metrics struct {
	podStart      prometheus.Histogram
	syncDuration  prometheus.Histogram
	runtimeErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		podStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sqlkube_node_pod_start_duration_seconds",
			Help:    "From the agent seeing a pod to all its containers running.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60},
		}),
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sqlkube_node_pod_sync_duration_seconds",
			Help:    "Duration of one sync of one pod.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		runtimeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sqlkube_node_runtime_errors_total",
			Help: "Container runtime operations that failed, by operation.",
		}, []string{"operation"}),
	}
	reg.MustRegister(m.podStart, m.syncDuration, m.runtimeErrors)
	return m
}
