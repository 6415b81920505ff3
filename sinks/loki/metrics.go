package loki

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	pushes      *prometheus.CounterVec
	entries     *prometheus.CounterVec
	pushLatency prometheus.Histogram
	pushBytes   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, sink string) *metrics {
	l := prometheus.Labels{"sink": sink}
	m := &metrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_loki_pushes_total", ConstLabels: l,
			Help: "Push requests by HTTP status (or error for network failures)."}, []string{"code"}),
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_loki_entries_total", ConstLabels: l,
			Help: "Entries by outcome: delivered, retried, rejected_<reason> (too_old, line_too_long, invalid_labels, ...)."}, []string{"outcome"}),
		pushLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "logweave_loki_push_duration_seconds", ConstLabels: l,
			Help: "Duration of one push.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		pushBytes: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "logweave_loki_push_bytes", ConstLabels: l,
			Help: "Compressed size of one push body.", Buckets: prometheus.ExponentialBuckets(512, 4, 9)}),
	}
	reg.MustRegister(m.pushes, m.entries, m.pushLatency, m.pushBytes)
	return m
}
