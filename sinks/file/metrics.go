package file

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	records   *prometheus.CounterVec
	bytes     prometheus.Counter
	rotations prometheus.Counter
	appendDur prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, sink string) *metrics {
	l := prometheus.Labels{"sink": sink}
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_file_records_total", ConstLabels: l,
			Help: "Records answered delivered by outcome: written, or present (the files already held it: a redelivery after a crash or rebalance)."}, []string{"outcome"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_file_written_bytes_total", ConstLabels: l,
			Help: "Bytes appended to the files and fsynced."}),
		rotations: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_file_rotations_total", ConstLabels: l,
			Help: "Files rotated, by size (max_bytes) or age (max_age)."}),
		appendDur: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "logweave_file_append_duration_seconds", ConstLabels: l,
			Help: "Duration of one append of a batch's lines, fsync included.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12)}),
	}
	reg.MustRegister(m.records, m.bytes, m.rotations, m.appendDur)
	return m
}
