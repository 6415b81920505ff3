package enrich

import (
	"testing"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// benchRuleRecords are the records of BenchmarkRules_TailMatch: an info log
// joined to a judge span (no rule fires: every rule is evaluated), and a
// span.
func benchRuleRecords() []ruleRecord {
	sub := &v1.Submission{SubmitId: "S1", UserId: "U1", Stage: v1.Stage_STAGE_JUDGE}
	sc := &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_JOINED, Name: "judge", Stage: v1.Stage_STAGE_JUDGE, DurationNanos: 5e8,
		Status: v1.StatusCode_STATUS_CODE_OK}
	log := &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_INFO, Body: "test passed in 12ms",
		Service: "judge", Submission: sub, Attributes: []*v1.KeyValue{{Key: "http.status_code", Value: &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: 200}}}}}}}
	span := &v1.Envelope{Record: &v1.Envelope_Span{Span: &v1.Span{Name: "judge", StartTimeUnixNano: 1e18, EndTimeUnixNano: 1e18 + 5e8,
		Service: "judge", Submission: sub, Status: &v1.Status{Code: v1.StatusCode_STATUS_CODE_OK}}}}
	return []ruleRecord{{env: log, span: sc, sub: sub}, {env: span, span: sc, sub: sub}}
}

// ruleRecord is a record with the context rules read it in.
type ruleRecord struct {
	env  *v1.Envelope
	span *v1.SpanContext
	sub  *v1.Submission
}

// BenchmarkRules_TailMatch evaluates the default tail rules plus the
// expression of BenchmarkEval on records that match none of them, so every
// rule runs to the end: the per-record cost of sampling rules.
func BenchmarkRules_TailMatch(b *testing.B) {
	cfg := DefaultRules()
	cfg.Tail = append(cfg.Tail, TailRule{Name: "bench", When: `level >= error or span.status == "error" or (stage == "judge" and span.duration > 10s) or attr["http.status_code"] in [500, 502, 504]`})
	r, err := CompileRules(cfg)
	if err != nil {
		b.Fatal(err)
	}
	recs := benchRuleRecords()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := recs[i&1]
		if name, ok := r.TailMatch(rec.env, rec.span, rec.sub); ok {
			b.Fatalf("rule %s fired", name)
		}
	}
}
