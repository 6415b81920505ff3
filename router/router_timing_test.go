package router

import (
	"testing"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// benchRecord is a log of the bench workload's shape: a joined judge-stage
// log with a submission, resource and two attributes.
func benchRecord() *v1.EnrichedRecord {
	seq := uint32(3)
	str := func(k, v string) *v1.KeyValue {
		return &v1.KeyValue{Key: k, Value: &v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: v}}}
	}
	return &v1.EnrichedRecord{
		RecordId: "0123456789abcdef0123456789abcdef",
		Record: &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{
			TimeUnixNano: 1798761599_000000000, SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_INFO, Service: "judge",
			TraceId: make([]byte, 16), SpanId: make([]byte, 8), Body: "running test 3 of 12",
			Resource:   &v1.Resource{Namespace: "oj", Cluster: "eu-1", Pod: "judge-7", Node: "n1"},
			Attributes: []*v1.KeyValue{str("test", "3"), str("verdict", "ok")},
		}}},
		Submission: &v1.Submission{SubmitId: "S000123", UserId: "U42", ProblemId: "P7", SubmissionSeq: &seq, Stage: v1.Stage_STAGE_JUDGE},
		Sampling:   &v1.Sampling{KeptBy: "error"},
		Span:       &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_JOINED, Name: "judge", Stage: v1.Stage_STAGE_JUDGE, Service: "judge"},
	}
}

func benchmarkRoute(b *testing.B, sink string, need Need) {
	r, err := New(Default())
	if err != nil {
		b.Fatal(err)
	}
	rec := benchRecord()
	var s Scratch
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := r.RouteScratch(&s, sink, need, rec); !ok {
			b.Fatal("skipped")
		}
	}
}

// BenchmarkRoute_* route one log with the default routes, as each sink
// type asks for it.
func BenchmarkRoute_File(b *testing.B) { benchmarkRoute(b, "file", 0) }
func BenchmarkRoute_ES(b *testing.B)   { benchmarkRoute(b, "es", NeedIndex) }
func BenchmarkRoute_Loki(b *testing.B) { benchmarkRoute(b, "loki", NeedAll) }
