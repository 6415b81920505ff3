package enrich

import (
	"testing"
	"time"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// (a) A gen workload through ingest and enrich: the enriched topic holds
// exactly the records the manifest and the rules say must be kept.
func TestEnricher_GenWorkloadMatchesManifest(t *testing.T) {
	v := newEnv(t)
	v.startEnricher(testEnrichConfig())
	entries := v.runGen(11, 150, 300)
	want := expected(t, entries)
	got := v.readEnriched(total(want), 30*time.Second)
	checkExactlyOnce(t, got, want)
	var joined, missing int
	for _, r := range got {
		if r.GetRecord().GetLog() == nil {
			continue
		}
		switch r.GetSpan().GetJoin() {
		case v1.JoinStatus_JOIN_STATUS_JOINED:
			joined++
			if r.GetSpan().GetName() == "" || r.GetSpan().GetDurationNanos() <= 0 {
				t.Errorf("joined log without span context: %v", r.GetSpan())
			}
		default:
			missing++
		}
		if r.GetSubmission().GetUserId() == "" || r.GetSubmission().SubmissionSeq == nil {
			t.Errorf("log without completed submission context: %v", r.GetSubmission())
		}
		if r.GetSampling().GetKeptBy() == "" || r.GetSampling().GetSampleWeight() < 1 {
			t.Errorf("sampling = %v", r.GetSampling())
		}
	}
	if joined == 0 || missing > 0 {
		t.Errorf("%d logs joined, %d missing their span; gen logs all run in spans", joined, missing)
	}
	t.Logf("%d submissions, %d kept records", len(entries), len(got))
}
