package loki

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	pushes      *prometheus.CounterVec
	entries     *prometheus.CounterVec
	pushLatency prometheus.Histogram
	pushBytes   prometheus.Histogram
	repushed    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, sink string) *metrics {
	l := prometheus.Labels{"sink": sink}
	m := &metrics{
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_loki_pushes_total", ConstLabels: l,
			Help: "Push requests by HTTP status (or error for network failures)."}, []string{"code"}),
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_loki_entries_total", ConstLabels: l,
			Help: "Entries by outcome: delivered, retried, rejected_<reason> (too_old, too_far_behind, line_too_long, invalid_labels, too_large, ...)."}, []string{"outcome"}),
		pushLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "logweave_loki_push_duration_seconds", ConstLabels: l,
			Help: "Duration of one push.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		pushBytes: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "logweave_loki_push_bytes", ConstLabels: l,
			Help: "Compressed size of one push body.", Buckets: prometheus.ExponentialBuckets(512, 4, 9)}),
		repushed: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_loki_repushed_entries_total", ConstLabels: l,
			Help: "Entries pushed again after a push whose outcome was unknown (connection lost after sending, timeout, 408, 429, 5xx, a 400 for several entries): Loki may hold both copies; log queries show one, metric queries may count two."}),
	}
	reg.MustRegister(m.pushes, m.entries, m.pushLatency, m.pushBytes, m.repushed)
	return m
}
