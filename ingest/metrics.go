package ingest

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Endpoint label values.
const (
	endpointLogs   = "logs"
	endpointTraces = "traces"
	endpointNDJSON = "ndjson"
	// endpointMetrics counts refused OTLP metrics exports.
	endpointMetrics = "metrics"
	// The OTLP/gRPC services; their request codes are gRPC code names.
	endpointGRPCLogs    = "grpc_logs"
	endpointGRPCTraces  = "grpc_traces"
	endpointGRPCMetrics = "grpc_metrics"
)

type metrics struct {
	received      *prometheus.CounterVec
	accepted      *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	produce       prometheus.Histogram
	bytesInFlight prometheus.Gauge
	// acceptedTotal is the sum of accepted over endpoints, for
	// Server.Accepted.
	acceptedTotal atomic.Int64
}

// accept counts n records of endpoint that Kafka acknowledged.
func (m *metrics) accept(endpoint string, n int) {
	m.accepted.WithLabelValues(endpoint).Add(float64(n))
	m.acceptedTotal.Add(int64(n))
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logweave_ingest_records_received_total",
			Help: "Records decoded from requests, by endpoint.",
		}, []string{"endpoint"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logweave_ingest_records_accepted_total",
			Help: "Records acknowledged by Kafka and answered 2xx, by endpoint.",
		}, []string{"endpoint"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logweave_ingest_records_rejected_total",
			Help: "Records not accepted, by endpoint and reason (bad_trace_id, timestamp_future, record_too_large, malformed, unavailable, ...).",
		}, []string{"endpoint", "reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logweave_ingest_requests_total",
			Help: "Requests, by endpoint and status code (HTTP status, or gRPC code name for the grpc_* endpoints).",
		}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "logweave_ingest_request_duration_seconds",
			Help:    "Time from request start to response, including waiting for Kafka, by endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"endpoint"}),
		produce: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "logweave_ingest_produce_duration_seconds",
			Help:    "Time for Kafka to acknowledge all records of one request.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		bytesInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logweave_ingest_bytes_in_flight",
			Help: "Encoded record bytes of requests waiting for Kafka acknowledgement.",
		}),
	}
	reg.MustRegister(m.received, m.accepted, m.rejected, m.requests, m.duration, m.produce, m.bytesInFlight)
	// Series that exist from the start read 0 instead of absent, so rates
	// and alerts on them work before the first record.
	for _, e := range []string{endpointLogs, endpointTraces, endpointNDJSON, endpointGRPCLogs, endpointGRPCTraces} {
		m.received.WithLabelValues(e)
		m.accepted.WithLabelValues(e)
		m.rejected.WithLabelValues(e, "unavailable")
	}
	return m
}
