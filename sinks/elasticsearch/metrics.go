package elasticsearch

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests    *prometheus.CounterVec
	items       *prometheus.CounterVec
	bulkLatency prometheus.Histogram
	bulkBytes   prometheus.Histogram
	splits      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, sink string) *metrics {
	l := prometheus.Labels{"sink": sink}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_es_bulk_requests_total", ConstLabels: l,
			Help: "Bulk requests by result: ok, error (network), or the HTTP status of a failed request."}, []string{"result"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_es_items_total", ConstLabels: l,
			Help: "Bulk items by outcome: created, duplicate (409 on our own id, counted as delivered), retried, rejected."}, []string{"outcome"}),
		bulkLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "logweave_es_bulk_duration_seconds", ConstLabels: l,
			Help: "Duration of one bulk request.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		bulkBytes: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "logweave_es_bulk_bytes", ConstLabels: l,
			Help: "Uncompressed size of one bulk request body.", Buckets: prometheus.ExponentialBuckets(1024, 4, 9)}),
		splits: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_es_bulk_splits_total", ConstLabels: l,
			Help: "Bulk requests refused as a whole (413, or Elasticsearch's request-level 400) and sent again in two halves."}),
	}
	reg.MustRegister(m.requests, m.items, m.bulkLatency, m.bulkBytes, m.splits)
	return m
}
