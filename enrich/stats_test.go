package enrich

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Stats says what the enricher did: every enriched record it wrote is
// counted as kept, what it read as consumed, transactions as committed,
// and nothing stays pending once the workload is decided; the numbers agree
// with the metrics.
func TestEnricher_StatsCountRecords(t *testing.T) {
	v := newEnv(t)
	en := v.startEnricher(testEnrichConfig())
	entries := v.runGen(5, 40, 300)
	want := expected(t, entries)
	got := v.readEnriched(total(want), 30*time.Second)
	checkExactlyOnce(t, got, want)
	waitFor(t, 30*time.Second, "nothing pending", func() bool { return en.e.Stats().Pending == 0 })
	en.stop(t)
	s := en.e.Stats()
	if s.Kept != int64(len(got)) {
		t.Errorf("Stats.Kept = %d, want the %d enriched records written", s.Kept, len(got))
	}
	if s.Consumed < s.Kept+s.Dropped || s.Dropped == 0 {
		t.Errorf("Stats = %+v: want something dropped, and consumed at least kept + dropped", s)
	}
	if s.Transactions == 0 || s.Aborted != 0 {
		t.Errorf("Stats = %+v: want committed transactions and none aborted", s)
	}
	for name, n := range map[string]int64{"in": s.Consumed, "out": s.Kept, "dropped": s.Dropped} {
		vec := map[string]*prometheus.CounterVec{"in": en.e.m.recordsIn, "out": en.e.m.recordsOut, "dropped": en.e.m.recordsDropped}[name]
		var sum float64
		for _, kind := range []string{"log", "span", "trace_link"} {
			sum += testutil.ToFloat64(vec.WithLabelValues(kind))
		}
		if int64(sum) != n {
			t.Errorf("logweave_enrich_records_%s_total = %v, Stats says %d", name, sum, n)
		}
	}
}
