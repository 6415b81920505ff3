package sinks

import (
	"sync/atomic"
	"time"
)

// Stats are a runner's counters since New, for callers in the same process
// (replay's report, the status line of logweave dev). The same numbers are
// on the Prometheus registry for scraping (logweave_sink_records_total and
// friends); read them here, not back out of the registry.
type Stats struct {
	// Delivered records: written, or already held by the destination.
	Delivered int64
	// Duplicates are the Delivered records the destination already held
	// under their own id (Elasticsearch's 409 on create).
	Duplicates int64
	// Skipped records: no route sends them to this sink.
	Skipped int64
	// Retried counts retries, one per record per retry.
	Retried int64
	// DeadLettered records were written to the DLQ.
	DeadLettered int64
	// Batches are the write calls to the destination.
	Batches int64
	// Commits are the offset commits that succeeded.
	Commits int64
	// LastCommit is when the last commit succeeded; zero before the first.
	LastCommit time.Time
}

// counters back Stats; updated beside the metrics, read without locks.
type counters struct {
	delivered, duplicates, skipped, retried, deadLettered, batches, commits atomic.Int64
	lastCommit                                                              atomic.Int64 // unix nanoseconds; 0: none
}

// Stats returns the runner's counters so far. Safe to call at any time,
// also after Run returned.
func (r *Runner) Stats() Stats {
	c := &r.m.counts
	s := Stats{
		Delivered: c.delivered.Load(), Duplicates: c.duplicates.Load(), Skipped: c.skipped.Load(), Retried: c.retried.Load(),
		DeadLettered: c.deadLettered.Load(), Batches: c.batches.Load(), Commits: c.commits.Load(),
	}
	if ns := c.lastCommit.Load(); ns != 0 {
		s.LastCommit = time.Unix(0, ns)
	}
	return s
}
