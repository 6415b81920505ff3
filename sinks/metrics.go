package sinks

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Record outcome label values of logweave_sink_records_total.
const (
	outcomeDelivered    = "delivered"
	outcomeSkipped      = "skipped"
	outcomeRetried      = "retried"
	outcomeDeadLettered = "dead_lettered"
)

type metrics struct {
	records      *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	dlqFailures  prometheus.Counter
	batchSize    prometheus.Observer
	writeLatency prometheus.Observer
	inFlight     prometheus.Gauge
	committed    *prometheus.GaugeVec
	lag          *prometheus.GaugeVec
	paused       prometheus.Gauge
	commitErrors prometheus.Counter
	sink         string
	// counts are the numbers of Runner.Stats.
	counts counters
}

func newMetrics(reg prometheus.Registerer, sink string) *metrics {
	labels := prometheus.Labels{"sink": sink}
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "logweave_sink_records_total", ConstLabels: labels,
		Help: "Records handled by the sink runtime, by outcome: delivered, skipped (no route), retried (one per retry of a record), dead_lettered.",
	}, []string{"outcome"})
	dead := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "logweave_sink_dead_lettered_total", ConstLabels: labels,
		Help: "Records written to the DLQ, by reason.",
	}, []string{"reason"})
	dlqFail := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "logweave_sink_dlq_write_failures_total", ConstLabels: labels,
		Help: "Failed attempts to write to the DLQ; the partition does not advance until one succeeds.",
	})
	batch := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "logweave_sink_batch_records", ConstLabels: labels,
		Help: "Records per write call.", Buckets: prometheus.ExponentialBuckets(1, 2, 14),
	})
	lat := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "logweave_sink_write_duration_seconds", ConstLabels: labels,
		Help: "Duration of one write call to the destination.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	})
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "logweave_sink_in_flight_records", ConstLabels: labels,
		Help: "Records fetched and not yet delivered or dead-lettered.",
	})
	committed := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "logweave_sink_committed_offset", ConstLabels: labels,
		Help: "Last offset committed by this member, per partition.",
	}, []string{"partition"})
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "logweave_sink_lag_records", ConstLabels: labels,
		Help: "Last stable offset (the read_committed end) minus committed offset, per partition this member owns, updated at each commit.",
	}, []string{"partition"})
	paused := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "logweave_sink_paused_partitions", ConstLabels: labels,
		Help: "Partitions whose fetching is paused because they are retrying or their queue is full.",
	})
	commitErrs := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "logweave_sink_commit_errors_total", ConstLabels: labels,
		Help: "Offset commits that failed (retried at the next commit).",
	})
	reg.MustRegister(records, dead, dlqFail, batch, lat, inFlight, committed, lag, paused, commitErrs)
	for _, o := range []string{outcomeDelivered, outcomeSkipped, outcomeRetried, outcomeDeadLettered} {
		records.WithLabelValues(o)
	}
	return &metrics{records: records, deadLettered: dead, dlqFailures: dlqFail, batchSize: batch, writeLatency: lat,
		inFlight: inFlight, committed: committed, lag: lag, paused: paused, commitErrors: commitErrs, sink: sink}
}

// addRecords counts n records with one of the outcomes of
// logweave_sink_records_total.
func (m *metrics) addRecords(outcome string, n int) {
	m.records.WithLabelValues(outcome).Add(float64(n))
	switch outcome {
	case outcomeDelivered:
		m.counts.delivered.Add(int64(n))
	case outcomeSkipped:
		m.counts.skipped.Add(int64(n))
	case outcomeRetried:
		m.counts.retried.Add(int64(n))
	case outcomeDeadLettered:
		m.counts.deadLettered.Add(int64(n))
	}
}

// observeWrite records one write call of n records that took d.
func (m *metrics) observeWrite(d time.Duration, n int) {
	m.writeLatency.Observe(d.Seconds())
	m.batchSize.Observe(float64(n))
	m.counts.batches.Add(1)
}

// setCommitted records a commit at off of partition p whose readable end
// (last stable offset) was last seen at readable.
func (m *metrics) setCommitted(p int32, off, readable int64) {
	m.counts.commits.Add(1)
	m.counts.lastCommit.Store(time.Now().UnixNano())
	ps := strconv.Itoa(int(p))
	m.committed.WithLabelValues(ps).Set(float64(off))
	m.lag.WithLabelValues(ps).Set(float64(max(readable-off, 0)))
}

func (m *metrics) forget(p int32) {
	ps := strconv.Itoa(int(p))
	m.committed.DeleteLabelValues(ps)
	m.lag.DeleteLabelValues(ps)
}
