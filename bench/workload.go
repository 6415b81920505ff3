package bench

import (
	"encoding/binary"
	"fmt"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// stages of a submission, each a span in its own service.
var stages = [4]struct{ name, service string }{
	{"compile", "compiler"}, {"judge", "judge"}, {"score", "scorer"}, {"feedback", "feedback"},
}

// request is one encoded OTLP/HTTP protobuf body.
type request struct {
	path    string // /v1/traces or /v1/logs
	body    []byte
	records int
}

// workload builds the requests of cfg: for every batch of
// BatchSubmissions submissions a traces request (root and stage spans) and
// a logs request, the same bytes for the same Config and Base. Every 50th
// submission has an error log in its judge stage (a tail keep); the rest
// are left to head sampling.
func workload(cfg Config) (reqs []request, records int) {
	for first := 0; first < cfg.Submissions; first += cfg.BatchSubmissions {
		n := min(cfg.BatchSubmissions, cfg.Submissions-first)
		tr, spans := tracesRequest(cfg, first, n)
		lr, logs := logsRequest(cfg, first, n)
		reqs = append(reqs, request{"/v1/traces", tr, spans}, request{"/v1/logs", lr, logs})
		records += spans + logs
	}
	return reqs, records
}

func traceID(sub int) []byte {
	id := make([]byte, 16)
	binary.BigEndian.PutUint64(id, 0x4c57_0000_0000_0000|uint64(sub))
	binary.BigEndian.PutUint64(id[8:], uint64(sub)*0x9e3779b97f4a7c15)
	return id
}

// spanID is span k of submission sub: 0 the root, 1..4 the stages.
func spanID(sub, k int) []byte {
	id := make([]byte, 8)
	binary.BigEndian.PutUint64(id, uint64(sub)<<8|uint64(k+1))
	return id
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func num(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

func resource(service string) *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		str("service.name", service), str("k8s.namespace.name", "judge-prod"), str("k8s.pod.name", service+"-7d9f8b6c5-x2x4q"),
	}}
}

// subAttrs are the submission attributes every record carries.
func subAttrs(sub int, stage string) []*commonpb.KeyValue {
	return []*commonpb.KeyValue{
		str("submit_id", fmt.Sprintf("S%08d", sub)), str("user_id", fmt.Sprintf("U%06d", sub%20000)),
		num("submission_seq", int64(sub/20000+1)), str("problem_id", fmt.Sprintf("P%04d", sub%500)),
		str("lang", [3]string{"cpp", "python", "go"}[sub%3]), str("stage", stage),
	}
}

// start is the event time of submission sub; stage k runs from
// start+k*100ms for 100ms.
func start(cfg Config, sub int) time.Time {
	return cfg.Base.Add(time.Duration(sub) * time.Millisecond)
}

func tracesRequest(cfg Config, first, n int) ([]byte, int) {
	req := &coltracepb.ExportTraceServiceRequest{}
	count := 0
	// One ResourceSpans per service; the root span is in the judge
	// service's (it is the judge's API that receives the submission).
	byService := map[string]*tracepb.ScopeSpans{}
	for _, st := range stages {
		ss := &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: "judge"}}
		byService[st.service] = ss
		req.ResourceSpans = append(req.ResourceSpans, &tracepb.ResourceSpans{Resource: resource(st.service), ScopeSpans: []*tracepb.ScopeSpans{ss}})
	}
	for sub := first; sub < first+n; sub++ {
		t0 := start(cfg, sub)
		tid := traceID(sub)
		root := &tracepb.Span{
			TraceId: tid, SpanId: spanID(sub, 0), Name: "submission", Kind: tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: uint64(t0.UnixNano()), EndTimeUnixNano: uint64(t0.Add(400 * time.Millisecond).UnixNano()),
			Attributes: subAttrs(sub, ""),
			Status:     &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
		}
		root.Attributes = root.Attributes[:len(root.Attributes)-1]
		byService["judge"].Spans = append(byService["judge"].Spans, root)
		count++
		for k, st := range stages {
			s := t0.Add(time.Duration(k) * 100 * time.Millisecond)
			byService[st.service].Spans = append(byService[st.service].Spans, &tracepb.Span{
				TraceId: tid, SpanId: spanID(sub, k+1), ParentSpanId: spanID(sub, 0), Name: st.name,
				Kind:              tracepb.Span_SPAN_KIND_INTERNAL,
				StartTimeUnixNano: uint64(s.UnixNano()), EndTimeUnixNano: uint64(s.Add(90 * time.Millisecond).UnixNano()),
				Attributes: subAttrs(sub, st.name),
				Status:     &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
			})
			count++
		}
	}
	b, err := proto.Marshal(req)
	if err != nil {
		panic(err) // a request built above always marshals
	}
	return b, count
}

func logsRequest(cfg Config, first, n int) ([]byte, int) {
	req := &collogspb.ExportLogsServiceRequest{}
	count := 0
	byService := map[string]*logspb.ScopeLogs{}
	for _, st := range stages {
		sl := &logspb.ScopeLogs{Scope: &commonpb.InstrumentationScope{Name: "judge"}}
		byService[st.service] = sl
		req.ResourceLogs = append(req.ResourceLogs, &logspb.ResourceLogs{Resource: resource(st.service), ScopeLogs: []*logspb.ScopeLogs{sl}})
	}
	for sub := first; sub < first+n; sub++ {
		t0 := start(cfg, sub)
		tid := traceID(sub)
		for k, st := range stages {
			for i := 0; i < cfg.LogsPerStage; i++ {
				ts := t0.Add(time.Duration(k)*100*time.Millisecond + time.Duration(i+1)*time.Millisecond)
				sev, text, body := logspb.SeverityNumber_SEVERITY_NUMBER_INFO, "INFO", fmt.Sprintf("%s step %d done in %dms", st.name, i, 3+(sub+i)%40)
				if st.name == "judge" && i == cfg.LogsPerStage-1 && sub%50 == 0 {
					sev, text, body = logspb.SeverityNumber_SEVERITY_NUMBER_ERROR, "ERROR", fmt.Sprintf("test %d: runtime error: index out of range", sub%37)
				}
				attrs := append(subAttrs(sub, st.name), num("step", int64(i)))
				byService[st.service].LogRecords = append(byService[st.service].LogRecords, &logspb.LogRecord{
					TimeUnixNano: uint64(ts.UnixNano()), ObservedTimeUnixNano: uint64(ts.UnixNano()),
					SeverityNumber: sev, SeverityText: text,
					Body:    &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: body}},
					TraceId: tid, SpanId: spanID(sub, k+1), Attributes: attrs,
				})
				count++
			}
		}
	}
	b, err := proto.Marshal(req)
	if err != nil {
		panic(err)
	}
	return b, count
}
