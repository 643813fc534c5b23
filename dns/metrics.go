package dns

import (
	"fmt"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts queries by type and rcode and times them by where the
// answer came from ("cluster" or "upstream").
type metrics struct {
	queries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sqlkube_dns_queries_total",
			Help: "DNS queries answered, by question type and response code.",
		}, []string{"type", "rcode"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sqlkube_dns_query_duration_seconds",
			Help:    "Time to answer a DNS query, by source of the answer (cluster or upstream).",
			Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5},
		}, []string{"source"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.queries, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register dns metrics: %w", err)
		}
	}
	return m, nil
}

// observe records one answered query.
func (m *metrics) observe(qtype uint16, rcode int, source string, took time.Duration) {
	m.queries.WithLabelValues(typeLabel(qtype), rcodeLabel(rcode)).Inc()
	m.duration.WithLabelValues(source).Observe(took.Seconds())
}

// typeLabel keeps the type label's values to a known few.
func typeLabel(t uint16) string {
	switch t {
	case mdns.TypeA, mdns.TypeAAAA, mdns.TypeSRV, mdns.TypePTR, mdns.TypeCNAME,
		mdns.TypeTXT, mdns.TypeMX, mdns.TypeNS, mdns.TypeSOA, mdns.TypeANY, mdns.TypeHTTPS:
		return mdns.TypeToString[t]
	}
	return "other"
}

func rcodeLabel(r int) string {
	if s, ok := mdns.RcodeToString[r]; ok {
		return s
	}
	return "other"
}
