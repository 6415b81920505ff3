package logweavev1

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// Records logweave writes take the fast path; the fallback is for the
// malformed and the adversarial.
func TestCheckWire_PassesWhatLogweaveWrites(t *testing.T) {
	seq := uint32(3)
	rec := &EnrichedRecord{RecordId: "r", Submission: &Submission{SubmitId: "S1", SubmissionSeq: &seq},
		Record: &Envelope{Record: &Envelope_Log{Log: &Log{Body: "héllo", Attributes: []*KeyValue{
			{Key: "k", Value: &AnyValue{Value: &AnyValue_KvlistValue{KvlistValue: &KeyValueList{Values: []*KeyValue{{Key: "n", Value: &AnyValue{Value: &AnyValue_StringValue{StringValue: "v"}}}}}}}},
		}}}}}
	b, err := proto.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !checkWire(b, tableOf(rec.ProtoReflect().Descriptor()), 0) {
		t.Fatal("checkWire refused a record logweave wrote")
	}
	bad := append([]byte{}, b...)
	for i := range len(bad) - 1 {
		if string(bad[i:i+2]) == "é" {
			bad[i+1] = 0xff // é's continuation byte
		}
	}
	if checkWire(bad, tableOf(rec.ProtoReflect().Descriptor()), 0) {
		t.Fatal("checkWire passed invalid UTF-8 in the log body")
	}
}

func BenchmarkCheckWire(b *testing.B) {
	seq := uint32(3)
	attrs := []*KeyValue{}
	for _, k := range []string{"test", "verdict", "memory_kb", "host"} {
		attrs = append(attrs, &KeyValue{Key: k, Value: &AnyValue{Value: &AnyValue_StringValue{StringValue: "value of " + k}}})
	}
	rec := &EnrichedRecord{RecordId: "2233973013634b7cdf873fb39bf62e68", Submission: &Submission{SubmitId: "S00000250", UserId: "U000250", ProblemId: "P0250", SubmissionSeq: &seq, Lang: "python"},
		Span:     &SpanContext{Join: JoinStatus_JOIN_STATUS_JOINED, SpanId: make([]byte, 8), Name: "compile", Service: "compiler", StartTimeUnixNano: 5, DurationNanos: 90e6},
		Sampling: &Sampling{KeptBy: "error", Rate: 1, SampleWeight: 1}, Source: &SourcePosition{Topic: "logweave.raw", Partition: 2, Offset: 123456},
		Record: &Envelope{RecordId: "2233973013634b7cdf873fb39bf62e68", IngestedAtUnixNano: 7, Record: &Envelope_Log{Log: &Log{TimeUnixNano: 1, SeverityNumber: SeverityNumber_SEVERITY_NUMBER_INFO,
			SeverityText: "INFO", Body: "compiling main.py with python3.12", TraceId: make([]byte, 16), SpanId: make([]byte, 8), Service: "compiler",
			Resource: &Resource{Namespace: "judge-prod", Pod: "judge-7d9f8b6c5-x2x4q", Node: "node-3", Cluster: "eu-1", Container: "compiler"}, Attributes: attrs}}}}
	wire, err := proto.Marshal(rec)
	if err != nil {
		b.Fatal(err)
	}
	t := enrichedTable()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if !checkWire(wire, t, 0) {
			b.Fatal("refused")
		}
	}
}
