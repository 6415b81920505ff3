package logweavev1_test

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

func seq(n uint32) *uint32 { return &n }

func sampleAttrs() []*v1.KeyValue {
	return []*v1.KeyValue{
		{Key: "http.status_code", Value: &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: 504}}},
		{Key: "retry", Value: &v1.AnyValue{Value: &v1.AnyValue_BoolValue{BoolValue: true}}},
		{Key: "cpu", Value: &v1.AnyValue{Value: &v1.AnyValue_DoubleValue{DoubleValue: 0.75}}},
		{Key: "blob", Value: &v1.AnyValue{Value: &v1.AnyValue_BytesValue{BytesValue: []byte{0, 1, 2}}}},
		{Key: "tests", Value: &v1.AnyValue{Value: &v1.AnyValue_ArrayValue{ArrayValue: &v1.ArrayValue{
			Values: []*v1.AnyValue{{Value: &v1.AnyValue_StringValue{StringValue: "t1"}}},
		}}}},
		{Key: "limits", Value: &v1.AnyValue{Value: &v1.AnyValue_KvlistValue{KvlistValue: &v1.KeyValueList{
			Values: []*v1.KeyValue{{Key: "mem_mb", Value: &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: 256}}}},
		}}}},
	}
}

func sampleResource() *v1.Resource {
	return &v1.Resource{Namespace: "judge", Pod: "judge-7f9c", Node: "n1", Cluster: "eu-1", Container: "runner", Attributes: sampleAttrs()[:1]}
}

func sampleSubmission() *v1.Submission {
	return &v1.Submission{SubmitId: "S42", UserId: "U928374", ProblemId: "P7", SubmissionSeq: seq(7), Lang: "go", Stage: v1.Stage_STAGE_JUDGE}
}

func sampleLog() *v1.Log {
	return &v1.Log{
		TimeUnixNano: 1_700_000_000_000_000_001, ObservedTimeUnixNano: 1_700_000_000_000_000_002,
		SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_WARN, SeverityText: "WARN", Body: "test 3 slow",
		TraceId: make([]byte, 16), SpanId: make([]byte, 8), Service: "judge", Resource: sampleResource(),
		LogType: v1.LogType_LOG_TYPE_APP, Attributes: sampleAttrs(), Submission: sampleSubmission(),
	}
}

func sampleSpan() *v1.Span {
	return &v1.Span{
		TraceId: make([]byte, 16), SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, ParentSpanId: []byte{8, 7, 6, 5, 4, 3, 2, 1},
		Name: "judge", Kind: v1.SpanKind_SPAN_KIND_SERVER, StartTimeUnixNano: 10, EndTimeUnixNano: 20,
		Status:  &v1.Status{Code: v1.StatusCode_STATUS_CODE_ERROR, Message: "time limit exceeded"},
		Service: "judge", Resource: sampleResource(), Attributes: sampleAttrs(),
		Events:     []*v1.SpanEvent{{TimeUnixNano: 15, Name: "exception", Attributes: sampleAttrs()[:2]}},
		Submission: sampleSubmission(),
	}
}

func TestMessages_RoundTrip(t *testing.T) {
	msgs := map[string]proto.Message{
		"AnyValue":     sampleAttrs()[4].Value,
		"KeyValueList": sampleAttrs()[5].Value.GetKvlistValue(),
		"Resource":     sampleResource(),
		"Submission":   sampleSubmission(),
		"Log":          sampleLog(),
		"Span":         sampleSpan(),
		"Envelope/log": &v1.Envelope{SchemaVersion: v1.SchemaVersion, RecordId: "r1", IngestedAtUnixNano: 3,
			Record: &v1.Envelope_Log{Log: sampleLog()}},
		"Envelope/span": &v1.Envelope{SchemaVersion: v1.SchemaVersion, RecordId: "r2", IngestedAtUnixNano: 4,
			Record: &v1.Envelope_Span{Span: sampleSpan()}},
		"EnrichedRecord": &v1.EnrichedRecord{
			SchemaVersion: v1.SchemaVersion, RecordId: "r1",
			Record: &v1.Envelope{RecordId: "r1", Record: &v1.Envelope_Log{Log: sampleLog()}},
			Span: &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_JOINED, SpanId: []byte{1}, ParentSpanId: []byte{2},
				Name: "judge", Stage: v1.Stage_STAGE_JUDGE, Service: "judge", StartTimeUnixNano: 5, DurationNanos: 12e9,
				Status: v1.StatusCode_STATUS_CODE_ERROR, StatusMessage: "tle"},
			Submission:         sampleSubmission(),
			Sampling:           &v1.Sampling{KeptBy: "head:0.5", Rate: 0.5, SampleWeight: 2},
			Source:             &v1.SourcePosition{Topic: "logweave.raw", Partition: 3, Offset: 99},
			EnrichedAtUnixNano: 6,
		},
	}
	for name, in := range msgs {
		t.Run(name, func(t *testing.T) {
			b, err := proto.Marshal(in)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			out := in.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(b, out); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !proto.Equal(in, out) {
				t.Fatalf("round trip changed the message:\n in: %v\nout: %v", in, out)
			}
		})
	}
}

// TestMessages_UnknownEnumValues checks that a record written by a newer
// schema, with enum values this build does not know, decodes and keeps the
// numbers instead of failing or mapping them to a known value.
func TestMessages_UnknownEnumValues(t *testing.T) {
	var b []byte
	// Span.kind (field 5) = 42, Span.status (field 8) = {code: 9}.
	b = protowire.AppendTag(b, 5, protowire.VarintType)
	b = protowire.AppendVarint(b, 42)
	var status []byte
	status = protowire.AppendTag(status, 1, protowire.VarintType)
	status = protowire.AppendVarint(status, 9)
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	b = protowire.AppendBytes(b, status)
	// An unknown field 99 that a newer schema might add.
	b = protowire.AppendTag(b, 99, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("future"))

	var s v1.Span
	if err := proto.Unmarshal(b, &s); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if s.GetKind() != 42 || s.GetKind().String() != "42" {
		t.Errorf("kind = %v (%d), want the number 42", s.GetKind(), s.GetKind())
	}
	if s.GetStatus().GetCode() != 9 {
		t.Errorf("status code = %d, want 9", s.GetStatus().GetCode())
	}
	// Unknown fields survive a re-marshal, so a pass-through stage does not
	// silently drop what a newer producer wrote.
	again, err := proto.Marshal(&s)
	if err != nil {
		t.Fatalf("re-marshal: %v", err)
	}
	var s2 v1.Span
	if err := proto.Unmarshal(again, &s2); err != nil {
		t.Fatalf("unmarshal again: %v", err)
	}
	if string(s2.ProtoReflect().GetUnknown()) != string(s.ProtoReflect().GetUnknown()) || len(s.ProtoReflect().GetUnknown()) == 0 {
		t.Errorf("unknown field 99 was not preserved")
	}
}

// TestMessages_MissingFields checks that an empty or partial record decodes
// and that the getters used downstream are nil-safe.
func TestMessages_MissingFields(t *testing.T) {
	var e v1.Envelope
	if err := proto.Unmarshal(nil, &e); err != nil {
		t.Fatalf("unmarshal empty: %v", err)
	}
	if e.GetRecord() != nil || e.GetLog() != nil || e.GetSpan() != nil {
		t.Errorf("empty envelope has a record: %v", e.GetRecord())
	}
	if got := e.GetLog().GetSubmission().GetSubmitId(); got != "" {
		t.Errorf("submit id of missing log = %q", got)
	}

	var sub v1.Submission
	if err := proto.Unmarshal(nil, &sub); err != nil {
		t.Fatalf("unmarshal empty submission: %v", err)
	}
	if sub.SubmissionSeq != nil {
		t.Errorf("missing submission_seq decoded as present (%d)", sub.GetSubmissionSeq())
	}
	// An explicit 0 is present and distinct from missing.
	b, err := proto.Marshal(&v1.Submission{SubmissionSeq: seq(0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, &sub); err != nil {
		t.Fatal(err)
	}
	if sub.SubmissionSeq == nil || sub.GetSubmissionSeq() != 0 {
		t.Errorf("explicit submission_seq 0 lost its presence")
	}

	var er v1.EnrichedRecord
	if err := proto.Unmarshal(nil, &er); err != nil {
		t.Fatal(err)
	}
	if er.GetSpan().GetJoin() != v1.JoinStatus_JOIN_STATUS_UNSPECIFIED || er.GetSampling().GetSampleWeight() != 0 ||
		er.GetSource().GetOffset() != 0 || er.GetRecord().GetSpan().GetStatus().GetCode() != v1.StatusCode_STATUS_CODE_UNSET {
		t.Errorf("getters on an empty enriched record are not zero")
	}
}
