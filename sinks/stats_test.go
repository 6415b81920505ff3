package sinks

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Stats counts every outcome the metrics count: delivered (duplicates
// among them), retried once per record per retry, dead-lettered, batches
// and commits, and agrees with logweave_sink_records_total.
func TestRunner_StatsCountOutcomes(t *testing.T) {
	e := newEnv(t, true)
	e.produce("a", 100, time.Time{})
	sink := newFakeSink()
	attempts := map[string]int{}
	sink.decide = func(r *Record) Result {
		id := r.Enriched.GetRecordId()
		n, _ := strconv.Atoi(id[1:])
		attempts[id]++
		switch n % 10 {
		case 0:
			return Rejected("mapping", errors.New("bad field"))
		case 1:
			return Duplicate()
		case 2:
			if attempts[id] == 1 {
				return RetryLater("unavailable", errors.New("503"))
			}
		}
		return Ok()
	}
	m := e.start(testConfig("t"), sink, time.Second)
	waitFor(t, 20*time.Second, "all records committed", func() bool { return e.allCommitted("logweave-sink-t") })
	m.stop(t)
	got := m.r.Stats()
	want := Stats{Delivered: 90, Duplicates: 10, Retried: 10, DeadLettered: 10}
	if got.Delivered != want.Delivered || got.Duplicates != want.Duplicates || got.Retried != want.Retried ||
		got.DeadLettered != want.DeadLettered || got.Skipped != 0 {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if got.Batches < 5 || got.Commits == 0 || got.LastCommit.IsZero() {
		t.Errorf("Stats = %+v: want at least 5 batches (100 records, 20 a batch) and a commit", got)
	}
	for outcome, n := range map[string]int64{outcomeDelivered: got.Delivered, outcomeRetried: got.Retried, outcomeDeadLettered: got.DeadLettered, outcomeSkipped: got.Skipped} {
		if v := testutil.ToFloat64(m.r.m.records.WithLabelValues(outcome)); int64(v) != n {
			t.Errorf("logweave_sink_records_total{outcome=%q} = %v, Stats says %d", outcome, v, n)
		}
	}
}
