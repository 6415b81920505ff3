package enrich

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// traceOnPartitionOtherThan returns a trace id whose hex key hashes to a
// partition other than p.
func traceOnPartitionOtherThan(p int32) []byte {
	part := kgo.StickyKeyPartitioner(nil).ForTopic(rawTopic)
	for {
		id := make([]byte, 16)
		rand.Read(id)
		if int32(part.Partition(&kgo.Record{Key: []byte(hex.EncodeToString(id))}, nParts)) != p {
			return id
		}
	}
}

// Logs of OpenTelemetry log bridges carry only the trace context (trace and
// span id, no submit_id): ingest keys them by trace id, so they land on
// another partition than their spans. A trace link written by the spans'
// owner brings them to their submission, joined and decided with it,
// exactly once.
func TestEnricher_TraceContextLogsJoinTheirSubmission(t *testing.T) {
	v := newEnv(t)
	cfg := testEnrichConfig()
	en := v.startEnricher(cfg)
	cl := v.cluster.Client()
	key := keyFor(0)
	trace := traceOnPartitionOtherThan(0)
	sub := &v1.Submission{SubmitId: key, UserId: "U7"}
	root, judge := []byte{9, 9, 9, 9, 9, 9, 9, 1}, []byte{9, 9, 9, 9, 9, 9, 9, 2}
	logOnly := func(id string, sev v1.SeverityNumber) *v1.Envelope {
		return &v1.Envelope{RecordId: id, Record: &v1.Envelope_Log{Log: &v1.Log{TimeUnixNano: 5, SeverityNumber: sev, Body: id,
			Service: "judge", TraceId: trace, SpanId: judge}}}
	}
	tkey := hex.EncodeToString(trace)
	// Some logs before the spans, some after.
	v.produceRaw(cl, tkey, logOnly("log-1", v1.SeverityNumber_SEVERITY_NUMBER_INFO))
	v.produceRaw(cl, tkey, logOnly("log-2", v1.SeverityNumber_SEVERITY_NUMBER_ERROR))
	v.produceRaw(cl, key, &v1.Envelope{RecordId: "judge", Record: &v1.Envelope_Span{Span: &v1.Span{TraceId: trace, SpanId: judge, ParentSpanId: root,
		Name: "judge", StartTimeUnixNano: 1, EndTimeUnixNano: 3, Service: "judge", Submission: sub}}})
	v.produceRaw(cl, key, &v1.Envelope{RecordId: "root", Record: &v1.Envelope_Span{Span: &v1.Span{TraceId: trace, SpanId: root,
		Name: "submission", StartTimeUnixNano: 1, EndTimeUnixNano: 4, Service: "gateway", Submission: sub}}})
	v.produceRaw(cl, tkey, logOnly("log-3", v1.SeverityNumber_SEVERITY_NUMBER_INFO))
	got := v.readEnriched(5, 30*time.Second)
	checkExactlyOnce(t, got, map[string]int{key: 5})
	for _, r := range got {
		if r.GetRecord().GetLog() == nil {
			continue
		}
		if r.GetSpan().GetJoin() != v1.JoinStatus_JOIN_STATUS_JOINED || r.GetSpan().GetName() != "judge" {
			t.Errorf("%s not joined to its span: %v", r.GetRecordId(), r.GetSpan())
		}
		if r.GetSubmission().GetUserId() != "U7" || r.GetSampling().GetKeptBy() != "error" {
			t.Errorf("%s: submission %v kept_by %q, want user U7 and the whole submission kept by error", r.GetRecordId(), r.GetSubmission(), r.GetSampling().GetKeptBy())
		}
	}
	if n := testutil.ToFloat64(en.e.m.links.WithLabelValues("moved")); n != 3 {
		t.Errorf("moved %v context-only records, want 3", n)
	}
}

// An ERROR that arrives after its submission was decided by head sampling
// (and partly dropped) upgrades it: the dropped records are re-read from
// the raw topic, and the submission ends whole, each record once.
func TestEnricher_LateErrorUpgradesFromTheRawTopic(t *testing.T) {
	for _, late := range []string{"error log", "error span"} {
		t.Run(late, func(t *testing.T) { testLateUpgrade(t, late == "error span") })
	}
}

func testLateUpgrade(t *testing.T, lateSpan bool) {
	v := newEnv(t)
	cfg := testEnrichConfig()
	cfg.CompletionGrace = 200 * time.Millisecond
	en := v.startEnricher(cfg)
	cl := v.cluster.Client()
	key := ""
	for i := 0; key == ""; i++ {
		if k := keyForOther(0, i); sampleHash(k) > 0.6 { // head sampling drops info and warn
			key = k
		}
	}
	sub := &v1.Submission{SubmitId: key, UserId: "U1"}
	root, judge := newID(8), newID(8)
	trace := newID(16)
	v.produceRaw(cl, key, &v1.Envelope{RecordId: "judge", Record: &v1.Envelope_Span{Span: &v1.Span{TraceId: trace, SpanId: judge, ParentSpanId: root,
		Name: "judge", StartTimeUnixNano: 1, EndTimeUnixNano: 3, Service: "judge", Submission: sub}}})
	for i := 0; i < 3; i++ {
		v.produceRaw(cl, key, &v1.Envelope{RecordId: fmt.Sprintf("info-%d", i), Record: &v1.Envelope_Log{Log: &v1.Log{TimeUnixNano: 2,
			SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_INFO, Body: "running", Service: "judge", TraceId: trace, SpanId: judge, Submission: sub}}})
	}
	v.produceRaw(cl, key, &v1.Envelope{RecordId: "root", Record: &v1.Envelope_Span{Span: &v1.Span{TraceId: trace, SpanId: root,
		Name: "submission", StartTimeUnixNano: 1, EndTimeUnixNano: 4, Service: "gateway", Submission: sub}}})
	waitFor(t, 20*time.Second, "the head decision", func() bool {
		return testutil.ToFloat64(en.e.m.decisions.WithLabelValues("head")) >= 1
	})
	if lateSpan {
		// A sandbox span with status ERROR from a slow exporter.
		v.produceRaw(cl, key, &v1.Envelope{RecordId: "late-crash", Record: &v1.Envelope_Span{Span: &v1.Span{TraceId: trace, SpanId: newID(8), ParentSpanId: judge,
			Name: "sandbox", StartTimeUnixNano: 2, EndTimeUnixNano: 3, Service: "sandbox", Submission: sub,
			Status: &v1.Status{Code: v1.StatusCode_STATUS_CODE_ERROR, Message: "killed"}}}})
	} else {
		// The judge's crash report, delayed on its way.
		v.produceRaw(cl, key, &v1.Envelope{RecordId: "late-crash", Record: &v1.Envelope_Log{Log: &v1.Log{TimeUnixNano: 3,
			SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_ERROR, Body: "sandbox: panic", Service: "judge", TraceId: trace, SpanId: judge, Submission: sub}}})
	}
	got := v.readEnriched(6, 30*time.Second)
	checkExactlyOnce(t, got, map[string]int{key: 6})
	for _, r := range got {
		if r.GetSampling().GetKeptBy() != "late:error" {
			t.Errorf("%s kept_by %q, want late:error", r.GetRecordId(), r.GetSampling().GetKeptBy())
		}
	}
}
