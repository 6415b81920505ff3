package enrich

// Stats are an enricher's counters since New, for callers in the same
// process (the status line of logweave dev). The same numbers are on the
// Prometheus registry for scraping (logweave_enrich_*); read them here, not
// back out of the registry.
type Stats struct {
	// Consumed raw records, every kind (logweave_enrich_records_in_total).
	Consumed int64
	// Kept enriched records emitted (logweave_enrich_records_out_total).
	Kept int64
	// Dropped records by head sampling (logweave_enrich_records_dropped_total).
	Dropped int64
	// Pending undecided submissions held at the last check
	// (logweave_enrich_pending_submissions).
	Pending int64
	// Transactions committed and Aborted
	// (logweave_enrich_transactions_total{result="committed"|"aborted"}).
	Transactions int64
	Aborted      int64
}

// Stats returns the enricher's counters so far. Safe to call at any time,
// also after Run returned.
func (e *Enricher) Stats() Stats {
	c := &e.m.counts
	return Stats{Consumed: c.consumed.Load(), Kept: c.kept.Load(), Dropped: c.dropped.Load(), Pending: c.pending.Load(),
		Transactions: c.transactions.Load(), Aborted: c.aborted.Load()}
}
