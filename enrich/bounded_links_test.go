package enrich

import (
	"encoding/hex"
	"testing"
	"time"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Regression (review): a bounded run (replay of raw) loses context-only records whose
// TraceLink is inside the window: the link moves them to their
// submission's partition at an offset past the window's end, which the
// bounded enricher never reads. The window below is what copyWindow
// produces: the original context-only log and the live enricher's link
// (the live moved copy is skipped by movedFromWindow).
func TestEnricher_BoundedRunReadsItsOwnLinksAndMoves(t *testing.T) {
	v := newEnv(t)
	cl := v.cluster.Client()
	key := keyFor(0)
	trace := traceOnPartitionOtherThan(0)
	tkey := hex.EncodeToString(trace)
	sub := &v1.Submission{SubmitId: key, UserId: "U7"}
	root := newID(8)
	v.produceRaw(cl, tkey, &v1.Envelope{RecordId: "ctx-err", Record: &v1.Envelope_Log{Log: &v1.Log{TimeUnixNano: 5,
		SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_ERROR, Body: "boom", Service: "judge", TraceId: trace, SpanId: root}}})
	v.produceRaw(cl, key, &v1.Envelope{RecordId: "root", Record: &v1.Envelope_Span{Span: &v1.Span{TraceId: trace, SpanId: root,
		Name: "submission", StartTimeUnixNano: 1, EndTimeUnixNano: 4, Service: "gateway", Submission: sub}}})
	v.produceRaw(cl, tkey, &v1.Envelope{Record: &v1.Envelope_TraceLink{TraceLink: &v1.TraceLink{TraceId: trace, Submission: sub}}})
	until := v.rawEnds()
	cfg := testEnrichConfig()
	en := v.startBounded(cfg, "test-bounded-links", until)
	select {
	case <-en.e.Done():
	case err := <-en.done:
		t.Fatalf("bounded run ended without Done: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("bounded run never finished")
	}
	got := v.readEnrichedNow()
	n := map[string]int{}
	for _, r := range got {
		n[r.GetRecordId()]++
	}
	t.Logf("emitted: %v; raw ends now %v (window %v)", n, v.rawEnds(), until)
	if n["ctx-err"] != 1 {
		t.Errorf("ctx-err (an ERROR log inside the window) emitted %d times, want 1", n["ctx-err"])
	}
}
