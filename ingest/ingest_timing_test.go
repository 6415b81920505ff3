package ingest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"
)

const benchBatch = 512

// benchLogsRequest is a realistic OTLP batch: one judge pod, 512 log
// records of 16 submissions with submission attributes and a few extras.
func benchLogsRequest() *collogspb.ExportLogsServiceRequest {
	recs := make([]*logspb.LogRecord, benchBatch)
	for i := range recs {
		recs[i] = &logspb.LogRecord{
			TimeUnixNano:   uint64(1_799_999_000_000_000_000 + i*1000),
			SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO, SeverityText: "INFO",
			Body:    &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("test %d passed in %dms", i%40, 10+i%300)}},
			TraceId: traceA, SpanId: spanA,
			Attributes: []*commonpb.KeyValue{strAttr("submit_id", fmt.Sprintf("S%d", i%16)), strAttr("user_id", "U928374"),
				intAttr("submission_seq", 7), strAttr("stage", "judge"), intAttr("test", int64(i%40)), strAttr("verdict", "ok")},
		}
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: judgeResource(), ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}},
	}}}
}

// BenchmarkIngestOTLPProtobuf measures decode + map + record id + encode
// per record on the OTLP protobuf path (no Kafka).
func BenchmarkIngestOTLPProtobuf(b *testing.B) {
	body, _ := proto.Marshal(benchLogsRequest())
	s := &Server{cfg: Default(), now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc := s.scratch.get()
		req, err := decodeOTLPLogs(body, sc)
		if err != nil {
			b.Fatal(err)
		}
		envs, pos, _ := s.logsToEnvelopes(req, 1, nil)
		recs, rejs := s.prepare(envs, pos, nil)
		if len(recs) != benchBatch || len(rejs) != 0 {
			b.Fatalf("%d records, %d rejected", len(recs), len(rejs))
		}
		s.scratch.put(sc)
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkIngestNDJSON is the same for NDJSON lines as zap writes them.
func BenchmarkIngestNDJSON(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < benchBatch; i++ {
		fmt.Fprintf(&sb, `{"level":"info","ts":%d.%03d,"caller":"judge/run.go:42","msg":"test %d passed in %dms","submit_id":"S%d","user_id":"U928374","submission_seq":7,"stage":"judge","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","test":%d,"verdict":"ok"}`+"\n",
			1799999000+i/1000, i%1000, i%40, 10+i%300, i%16, i%40)
	}
	body := []byte(sb.String())
	s := &Server{cfg: Default(), now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		envs, lines, rejs := s.parseNDJSON(body, 1)
		recs, rejs := s.prepare(envs, lines, rejs)
		if len(recs) != benchBatch || len(rejs) != 0 {
			b.Fatalf("%d records, %d rejected", len(recs), len(rejs))
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "records/s")
}
