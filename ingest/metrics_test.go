package ingest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics_KnownLabelsPreinitialised(t *testing.T) {
	reg := prometheus.NewRegistry()
	newMetrics(reg)
	for name, want := range map[string]int{
		"logweave_ingest_records_received_total": 5,
		"logweave_ingest_records_accepted_total": 5,
		"logweave_ingest_records_rejected_total": 5,
	} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != want {
			t.Errorf("%s: %d series before any request (%v), want %d at 0", name, n, err, want)
		}
	}
}
