package enrich

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// kindCounters are the children of a counter vector by record kind, looked
// up once: the per-record path should not hash label values. total is
// their sum, for Enricher.Stats.
type kindCounters struct {
	log, span, other prometheus.Counter
	total            *atomic.Int64
}

func newKindCounters(v *prometheus.CounterVec, total *atomic.Int64) kindCounters {
	return kindCounters{log: v.WithLabelValues("log"), span: v.WithLabelValues("span"), other: v.WithLabelValues("trace_link"), total: total}
}

// inc counts one record of kind.
func (k kindCounters) inc(kind string) {
	k.of(kind).Inc()
	k.total.Add(1)
}

func (k kindCounters) of(kind string) prometheus.Counter {
	switch kind {
	case "log":
		return k.log
	case "span":
		return k.span
	}
	return k.other
}

type metrics struct {
	in, out, dropped  kindCounters
	joinHit, joinMiss prometheus.Counter
	recordsIn         *prometheus.CounterVec
	recordsOut        *prometheus.CounterVec
	recordsDropped    *prometheus.CounterVec
	join              *prometheus.CounterVec
	decisions         *prometheus.CounterVec
	decisionLatency   prometheus.Histogram
	pendingSubs       prometheus.Gauge
	pendingBytes      prometheus.Gauge
	oldestPending     prometheus.Gauge
	misrouted         prometheus.Counter
	late              prometheus.Counter
	early             *prometheus.CounterVec
	forgotten         prometheus.Counter
	retried           prometheus.Counter
	liveEmitted       prometheus.Counter
	upgrades          prometheus.Counter
	links             *prometheus.CounterVec
	linksForgotten    prometheus.Counter
	recovered         prometheus.Counter
	undecodable       prometheus.Counter
	txns              *prometheus.CounterVec
	forcedGC          prometheus.Counter
	committed         *prometheus.GaugeVec
	// counts are the numbers of Enricher.Stats.
	counts counters
}

// counters back Stats; updated beside the metrics, read without locks.
type counters struct {
	consumed, kept, dropped, pending, transactions, aborted atomic.Int64
}

// txn counts a transaction or offset commit by result (a value of
// logweave_enrich_transactions_total's label).
func (m *metrics) txn(result string) {
	m.txns.WithLabelValues(result).Inc()
	switch result {
	case "committed":
		m.counts.transactions.Add(1)
	case "aborted":
		m.counts.aborted.Add(1)
	}
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_enrich_records_in_total",
			Help: "Raw records read, by kind (log, span)."}, []string{"kind"}),
		recordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_enrich_records_out_total",
			Help: "Enriched records emitted (kept), by kind."}, []string{"kind"}),
		recordsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_enrich_records_dropped_total",
			Help: "Records dropped by head sampling, by kind."}, []string{"kind"}),
		join: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_enrich_join_total",
			Help: "Emitted logs by join result: hit (span found) or miss."}, []string{"result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_enrich_decisions_total",
			Help: "Submissions decided, by tail rule name or head."}, []string{"rule"}),
		decisionLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "logweave_enrich_decision_latency_seconds",
			Help: "Time from a submission's first record to its decision.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}),
		pendingSubs: prometheus.NewGauge(prometheus.GaugeOpts{Name: "logweave_enrich_pending_submissions", Help: "Undecided submissions held."}),
		pendingBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "logweave_enrich_pending_bytes",
			Help: "Estimated heap held: records of undecided submissions (twice their wire size plus overhead) and remembered decisions; bounded by max_pending_bytes."}),
		oldestPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "logweave_enrich_oldest_pending_seconds", Help: "Age of the oldest undecided submission."}),
		misrouted: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_enrich_misrouted_total",
			Help: "Raw records found on a partition their key does not hash to, re-produced to the right one."}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_enrich_late_records_total",
			Help: "Records that arrived after their submission was decided and followed the decision."}),
		early: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_enrich_early_decisions_total",
			Help: "Submissions decided before they completed, by cause: memory (max_pending_submissions or max_pending_bytes) or age (max_pending_age)."}, []string{"cause"}),
		forgotten: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_enrich_decisions_forgotten_total",
			Help: "Decisions forgotten before decided_ttl because remembered decisions reached a quarter of max_pending_bytes."}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_enrich_retried_records_total",
			Help: "Records skipped because their submission already had the same record_id (client retries), pending or decided within decided_ttl."}),
		liveEmitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_enrich_live_records_total",
			Help: "Records emitted while their submission was still pending, because a tail rule had fired (live keep)."}),
		upgrades: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_enrich_late_upgrades_total",
			Help: "Head-sampled submissions upgraded to kept by a late record that fired a tail rule; their dropped records are re-read from the raw topic."}),
		links: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_enrich_trace_links_total",
			Help: "Trace links: written (a span named a trace's submission), read (on the trace's partition), moved (context-only records moved to their submission)."}, []string{"event"}),
		linksForgotten: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_enrich_trace_links_forgotten_total",
			Help: "Trace links forgotten before link_ttl because links reached an eighth of max_pending_bytes."}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_enrich_reread_skipped_total",
			Help: "Raw records read again after an assignment whose enriched record was already out."}),
		undecodable: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_enrich_undecodable_total",
			Help: "Raw records that are not an Envelope, sent to the DLQ."}),
		forcedGC: prometheus.NewCounter(prometheus.CounterOpts{Name: "logweave_enrich_forced_gc_total",
			Help: "Garbage collections the enricher started because the Go heap neared or passed twice pending_bytes plus 32 MiB with garbage to collect: near the collector's peaks, and after a bulk release."}),
		txns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "logweave_enrich_transactions_total",
			Help: "Transactions and offset commits, by result (committed, aborted, offsets_only)."}, []string{"result"}),
		committed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "logweave_enrich_committed_offset",
			Help: "Committed raw offset (the watermark) per partition."}, []string{"partition"}),
	}
	for _, ev := range []string{"written", "read", "moved"} {
		m.links.WithLabelValues(ev)
	}
	for _, c := range []string{"memory", "age"} {
		m.early.WithLabelValues(c)
	}
	for _, r := range []string{"committed", "aborted", "offsets_only", "offsets_failed"} {
		m.txns.WithLabelValues(r)
	}
	m.in = newKindCounters(m.recordsIn, &m.counts.consumed)
	m.out = newKindCounters(m.recordsOut, &m.counts.kept)
	m.dropped = newKindCounters(m.recordsDropped, &m.counts.dropped)
	m.joinHit, m.joinMiss = m.join.WithLabelValues("hit"), m.join.WithLabelValues("miss")
	reg.MustRegister(m.recordsIn, m.recordsOut, m.recordsDropped, m.join, m.decisions, m.decisionLatency, m.pendingSubs,
		m.pendingBytes, m.oldestPending, m.misrouted, m.late, m.early, m.forgotten, m.retried, m.liveEmitted, m.upgrades, m.links, m.linksForgotten, m.recovered, m.undecodable, m.txns, m.committed, m.forcedGC)
	return m
}
