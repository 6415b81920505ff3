package document

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

var update = flag.Bool("update", false, "rewrite golden files")

func seq(n uint32) *uint32 { return &n }

// SampleLog is a joined, head-sampled log of a judge stage.
func SampleLog() *v1.EnrichedRecord {
	return &v1.EnrichedRecord{
		SchemaVersion: 1, RecordId: "5f1c0a9e3b7d4c2a8e6f1b0d9c8a7e6f",
		Record: &v1.Envelope{SchemaVersion: 1, RecordId: "5f1c0a9e3b7d4c2a8e6f1b0d9c8a7e6f", IngestedAtUnixNano: 1_800_000_001_000_000_000,
			Record: &v1.Envelope_Log{Log: &v1.Log{
				TimeUnixNano: 1_800_000_000_123_456_789, SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_WARN, SeverityText: "WARN",
				Body:    "test 3 \"slow\"\n\ttook 1.9s",
				TraceId: []byte{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c},
				SpanId:  []byte{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31}, Service: "judge",
				Resource: &v1.Resource{Namespace: "oj", Pod: "judge-1", Node: "n1", Cluster: "eu-1",
					Attributes: []*v1.KeyValue{{Key: "deployment.environment", Value: &v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: "prod"}}}}},
				LogType: v1.LogType_LOG_TYPE_APP,
				Attributes: []*v1.KeyValue{
					{Key: "test", Value: &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: 3}}},
					{Key: "limits", Value: &v1.AnyValue{Value: &v1.AnyValue_KvlistValue{KvlistValue: &v1.KeyValueList{Values: []*v1.KeyValue{
						{Key: "cpu", Value: &v1.AnyValue{Value: &v1.AnyValue_DoubleValue{DoubleValue: 1.5}}}}}}}},
					{Key: "flags", Value: &v1.AnyValue{Value: &v1.AnyValue_ArrayValue{ArrayValue: &v1.ArrayValue{Values: []*v1.AnyValue{
						{Value: &v1.AnyValue_BoolValue{BoolValue: true}}, {Value: &v1.AnyValue_BytesValue{BytesValue: []byte("hi")}}}}}}},
				},
				Submission: &v1.Submission{SubmitId: "S1001", Stage: v1.Stage_STAGE_JUDGE},
			}}},
		Span: &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_JOINED, SpanId: []byte{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
			ParentSpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: "judge", Stage: v1.Stage_STAGE_JUDGE, Service: "judge",
			StartTimeUnixNano: 1_799_999_999_000_000_000, DurationNanos: 12_500_000_000, Status: v1.StatusCode_STATUS_CODE_ERROR, StatusMessage: "time limit exceeded"},
		Submission: &v1.Submission{SubmitId: "S1001", UserId: "U928374", ProblemId: "P7", SubmissionSeq: seq(7), Lang: "go", Stage: v1.Stage_STAGE_JUDGE},
		Sampling:   &v1.Sampling{KeptBy: "slow_judge", Rate: 1, SampleWeight: 1},
		Source:     &v1.SourcePosition{Topic: "logweave.raw", Partition: 3, Offset: 4711},
	}
}

// SampleSpan is a span kept by head sampling.
func SampleSpan() *v1.EnrichedRecord {
	return &v1.EnrichedRecord{
		SchemaVersion: 1, RecordId: "0123456789abcdef0123456789abcdef",
		Record: &v1.Envelope{RecordId: "0123456789abcdef0123456789abcdef", Record: &v1.Envelope_Span{Span: &v1.Span{
			TraceId: []byte{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c},
			SpanId:  []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: "submission", Kind: v1.SpanKind_SPAN_KIND_SERVER,
			StartTimeUnixNano: 1_799_999_998_000_000_000, EndTimeUnixNano: 1_800_000_002_000_250_000,
			Status: &v1.Status{Code: v1.StatusCode_STATUS_CODE_OK}, Service: "gateway", Resource: &v1.Resource{Namespace: "oj"},
			Events: []*v1.SpanEvent{{TimeUnixNano: 1_800_000_000_000_000_000, Name: "queued"}},
		}}},
		Span:       &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_SELF, SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: "submission", Service: "gateway", DurationNanos: 4_000_250_000, Status: v1.StatusCode_STATUS_CODE_OK},
		Submission: &v1.Submission{SubmitId: "S1002", UserId: "U1", SubmissionSeq: seq(1)},
		Sampling:   &v1.Sampling{KeptBy: "head:0.25", Rate: 0.25, SampleWeight: 4},
		Source:     &v1.SourcePosition{Topic: "logweave.raw", Partition: 0, Offset: 1},
	}
}

func TestAppend_Golden(t *testing.T) {
	for name, rec := range map[string]*v1.EnrichedRecord{"log": SampleLog(), "span": SampleSpan()} {
		t.Run(name, func(t *testing.T) {
			got := Append(nil, rec)
			if !json.Valid(got) {
				t.Fatalf("invalid JSON: %s", got)
			}
			var pretty bytes.Buffer
			json.Indent(&pretty, got, "", "  ")
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", name+".json")
			if *update {
				os.WriteFile(path, pretty.Bytes(), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (run with -update): %v", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("document differs from %s:\n%s", path, pretty.Bytes())
			}
			if again := Append(nil, rec); !bytes.Equal(again, got) {
				t.Errorf("not deterministic")
			}
		})
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t", "\x00\x1f\x7f", "\xff\xfe bad utf8", "日本語 \u2028\u2029", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("invalid JSON string %q for %q: %v", b, s, err)
		}
		want := string(bytes.ToValidUTF8([]byte(s), []byte("\ufffd")))
		// encoding/json decodes each invalid byte as one U+FFFD; so do we.
		var std string
		stdb, _ := json.Marshal(s)
		json.Unmarshal(stdb, &std)
		if got != std {
			t.Fatalf("decoded %q, encoding/json round trip gives %q (input %q, valid form %q)", got, std, s, want)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	rec := SampleLog()
	buf := Append(nil, rec)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = Append(buf[:0], rec)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}
