package ingest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// codecBatchRecords is the records per produced batch measured in
// `logweave bench --ingest-only` at linger 5ms (4,008 batches of 312
// records, 74 KiB before compression, on average); from 100 to 3,000
// records a batch, zstd's bytes per record moved by 8% and no codec's CPU
// per record by more than the noise, so the batch size is not critical.
const codecBatchRecords = 312

// codecBenchBatches returns the uncompressed bodies of Kafka record
// batches as ingest produces them for logweave bench's workload: per
// submission a root and 4 stage spans in 4 services and 5 logs per stage,
// 25 submissions per request, keyed by submit_id over 4 partitions, each
// partition's records cut into batches of codecBatchRecords in produce
// order.
func codecBenchBatches(tb testing.TB, submissions int) (batches [][]byte, records int) {
	tb.Helper()
	s := &Server{cfg: Default(), now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	part := kgo.StickyKeyPartitioner(nil).ForTopic(testTopic)
	open := make([][]byte, 4)
	n := make([]int, 4)
	add := func(key string, value []byte) {
		p := part.Partition(&kgo.Record{Key: []byte(key)}, len(open))
		// A record in a v2 batch: length, attributes, timestamp and
		// offset deltas, key, value, no headers.
		var body []byte
		body = append(body, 0)
		body = kbin.AppendVarlong(body, 0)
		body = kbin.AppendVarint(body, int32(n[p]))
		body = kbin.AppendVarint(body, int32(len(key)))
		body = append(body, key...)
		body = kbin.AppendVarint(body, int32(len(value)))
		body = append(body, value...)
		body = kbin.AppendVarint(body, 0)
		open[p] = kbin.AppendVarint(open[p], int32(len(body)))
		open[p] = append(open[p], body...)
		records++
		if n[p]++; n[p] == codecBatchRecords {
			batches = append(batches, open[p])
			open[p], n[p] = nil, 0
		}
	}
	for first := 0; first < submissions; first += 25 {
		tr, lr := codecBenchRequests(first, 25)
		sc := s.scratch.get()
		treq, err := decodeOTLPTraces(tr, sc)
		if err != nil {
			tb.Fatal(err)
		}
		envs, pos, _ := s.tracesToEnvelopes(treq, nil)
		recs, _ := s.prepare(envs, pos, nil)
		for _, r := range recs {
			add(r.key, r.value)
		}
		lreq, err := decodeOTLPLogs(lr, sc)
		if err != nil {
			tb.Fatal(err)
		}
		envs, pos, _ = s.logsToEnvelopes(lreq, 1, nil)
		recs, _ = s.prepare(envs, pos, nil)
		for _, r := range recs {
			add(r.key, r.value)
		}
	}
	return batches, len(batches) * codecBatchRecords
}

// codecBenchRequests are the traces and logs requests of submissions
// first..first+n, shaped like logweave bench's workload.
func codecBenchRequests(first, n int) (traces, logs []byte) {
	stages := []struct{ name, service string }{{"compile", "compiler"}, {"judge", "judge"}, {"score", "scorer"}, {"feedback", "feedback"}}
	res := func(service string) *resourcepb.Resource {
		return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			strAttr("service.name", service), strAttr("k8s.namespace.name", "judge-prod"), strAttr("k8s.pod.name", service+"-7d9f8b6c5-x2x4q")}}
	}
	attrs := func(sub int, stage string) []*commonpb.KeyValue {
		return []*commonpb.KeyValue{strAttr("submit_id", fmt.Sprintf("S%08d", sub)), strAttr("user_id", fmt.Sprintf("U%06d", sub%20000)),
			intAttr("submission_seq", int64(sub/20000+1)), strAttr("problem_id", fmt.Sprintf("P%04d", sub%500)),
			strAttr("lang", [3]string{"cpp", "python", "go"}[sub%3]), strAttr("stage", stage)}
	}
	id := func(sub, k, size int) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte((sub*31 + k*7 + i*13) % 251)
		}
		b[0] = byte(sub >> 8)
		b[1] = byte(sub)
		return b
	}
	t0 := uint64(1_799_999_000_000_000_000)
	treq := &coltracepb.ExportTraceServiceRequest{}
	lreq := &collogspb.ExportLogsServiceRequest{}
	for _, st := range stages {
		var spans []*tracepb.Span
		var logs []*logspb.LogRecord
		for sub := first; sub < first+n; sub++ {
			start := t0 + uint64(sub)*1e6
			if st.service == "judge" {
				spans = append(spans, &tracepb.Span{TraceId: id(sub, 0, 16), SpanId: id(sub, 0, 8), Name: "submission",
					Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: start, EndTimeUnixNano: start + 4e8,
					Attributes: attrs(sub, "")[:5], Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK}})
			}
			spans = append(spans, &tracepb.Span{TraceId: id(sub, 0, 16), SpanId: id(sub, 1, 8), ParentSpanId: id(sub, 0, 8), Name: st.name,
				Kind: tracepb.Span_SPAN_KIND_INTERNAL, StartTimeUnixNano: start, EndTimeUnixNano: start + 9e7,
				Attributes: attrs(sub, st.name), Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK}})
			for i := 0; i < 5; i++ {
				ts := start + uint64(i+1)*1e6
				logs = append(logs, &logspb.LogRecord{TimeUnixNano: ts, ObservedTimeUnixNano: ts,
					SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_INFO, SeverityText: "INFO",
					Body:    &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("%s step %d done in %dms", st.name, i, 3+(sub+i)%40)}},
					TraceId: id(sub, 0, 16), SpanId: id(sub, 1, 8), Attributes: append(attrs(sub, st.name), intAttr("step", int64(i)))})
			}
		}
		scope := &commonpb.InstrumentationScope{Name: "judge"}
		treq.ResourceSpans = append(treq.ResourceSpans, &tracepb.ResourceSpans{Resource: res(st.service), ScopeSpans: []*tracepb.ScopeSpans{{Scope: scope, Spans: spans}}})
		lreq.ResourceLogs = append(lreq.ResourceLogs, &logspb.ResourceLogs{Resource: res(st.service), ScopeLogs: []*logspb.ScopeLogs{{Scope: scope, LogRecords: logs}}})
	}
	traces, _ = proto.Marshal(treq)
	logs, _ = proto.Marshal(lreq)
	return traces, logs
}

// BenchmarkProduceCompression compresses produced batches with each codec
// ingest offers (compression: zstd, lz4, snappy, gzip) as franz-go does,
// and reports the CPU per record and the bytes per record on the wire;
// its Decompress sub-benchmarks are what every consumer of the raw topic
// (enrich, replay) pays per record for the same codec.
func BenchmarkProduceCompression(b *testing.B) {
	batches, records := codecBenchBatches(b, 2000)
	var raw int
	for _, bt := range batches {
		raw += len(bt)
	}
	dec := kgo.DefaultDecompressor()
	for _, name := range []string{"zstd", "lz4", "snappy", "gzip"} {
		codec := producerCodec(name)
		cc, err := kgo.DefaultCompressor(codec)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		compressed := make([][]byte, len(batches))
		var out int
		var typ kgo.CompressionCodecType
		for i, bt := range batches {
			buf.Reset()
			c, t := cc.Compress(&buf, bt)
			compressed[i], typ = append([]byte(nil), c...), t
			out += len(c)
		}
		b.Run("Compress/"+name, func(b *testing.B) {
			b.SetBytes(int64(raw))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				for _, bt := range batches {
					buf.Reset()
					cc.Compress(&buf, bt)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
			b.ReportMetric(float64(out)/float64(records), "B/record")
			b.ReportMetric(float64(raw)/float64(records), "raw-B/record")
		})
		b.Run("Decompress/"+name, func(b *testing.B) {
			b.SetBytes(int64(raw))
			for i := 0; i < b.N; i++ {
				for _, c := range compressed {
					if _, err := dec.Decompress(c, typ); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
		})
	}
}
