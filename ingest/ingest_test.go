package ingest

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

var (
	traceA = mustHex("0af7651916cd43dd8448eb211c80319c")
	spanA  = mustHex("b7ad6b7169203331")
	spanB  = mustHex("00f067aa0ba902b7")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func strAttr(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func intAttr(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

func judgeResource() *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		strAttr("service.name", "judge"), strAttr("k8s.namespace.name", "oj"), strAttr("k8s.pod.name", "judge-1"),
		strAttr("k8s.cluster.name", "eu-1"), strAttr("deployment.environment", "prod"),
	}}
}

// logsRequest has logs of two submissions and one without any submission.
func logsRequest() *collogspb.ExportLogsServiceRequest {
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: judgeResource(),
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{
			{TimeUnixNano: 1_799_999_000_000_000_000, SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_WARN, SeverityText: "WARN",
				Body:    &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "test 3 took 1.9s"}},
				TraceId: traceA, SpanId: spanA,
				Attributes: []*commonpb.KeyValue{strAttr("submit_id", "S1001"), strAttr("user.id", "U928374"), intAttr("submission_seq", 7),
					strAttr("stage", "judge"), intAttr("test", 3)}},
			{TimeUnixNano: 1_799_999_000_000_000_001, SeverityText: "error",
				Body:       &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "runtime error"}},
				Attributes: []*commonpb.KeyValue{strAttr("submit_id", "S2002")}},
			{TimeUnixNano: 1_799_999_000_000_000_002, TraceId: traceA,
				Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "no submission"}}},
		}}},
	}}}
}

func tracesRequest() *coltracepb.ExportTraceServiceRequest {
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: judgeResource(),
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{
			{TraceId: traceA, SpanId: spanA, ParentSpanId: spanB, Name: "judge", Kind: tracepb.Span_SPAN_KIND_SERVER,
				StartTimeUnixNano: 1_799_999_000_000_000_000, EndTimeUnixNano: 1_799_999_012_000_000_000,
				Status:     &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "time limit exceeded"},
				Attributes: []*commonpb.KeyValue{strAttr("submit_id", "S1001"), strAttr("stage", "judge"), intAttr("tests", 12)},
				Events:     []*tracepb.Span_Event{{TimeUnixNano: 1_799_999_010_000_000_000, Name: "tle"}}},
		}}},
	}}}
}

func checkPartitioning(t *testing.T, recs []*kgoRecord) {
	t.Helper()
	for _, r := range recs {
		if want := expectedPartition(r.Key, testPartitions); r.Partition != want {
			t.Errorf("record key %q on partition %d, murmur2 says %d", r.Key, r.Partition, want)
		}
	}
}

func TestIngest_OTLPProtobufLogs(t *testing.T) {
	e := newTestEnv(t, nil)
	body, _ := proto.Marshal(logsRequest())
	code, hdr, resp := e.post("/v1/logs", "application/x-protobuf", body, nil)
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/x-protobuf" {
		t.Fatalf("status %d %s: %q", code, hdr.Get("Content-Type"), resp)
	}
	var out collogspb.ExportLogsServiceResponse
	if err := proto.Unmarshal(resp, &out); err != nil || out.PartialSuccess != nil {
		t.Fatalf("response %v / %v, want full success", &out, err)
	}
	recs := e.records(3)
	if len(recs) != 3 {
		t.Fatalf("%d records in topic, want 3", len(recs))
	}
	checkPartitioning(t, recs)
	byKey := map[string]*v1.Envelope{}
	for _, r := range recs {
		byKey[string(r.Key)] = decodeEnvelope(t, r.Value)
	}
	l := byKey["S1001"].GetLog()
	if l == nil {
		t.Fatalf("no record keyed S1001: keys %v", keysOf(byKey))
	}
	if l.Service != "judge" || l.Resource.GetNamespace() != "oj" || l.Resource.GetPod() != "judge-1" || l.Resource.GetCluster() != "eu-1" {
		t.Errorf("service/resource = %q %v", l.Service, l.Resource)
	}
	if s := l.Submission; s.GetSubmitId() != "S1001" || s.GetUserId() != "U928374" || s.GetSubmissionSeq() != 7 || s.SubmissionSeq == nil || s.GetStage() != v1.Stage_STAGE_JUDGE {
		t.Errorf("submission = %v", s)
	}
	if l.SeverityNumber != v1.SeverityNumber_SEVERITY_NUMBER_WARN || l.Body != "test 3 took 1.9s" || hex.EncodeToString(l.SpanId) != "b7ad6b7169203331" {
		t.Errorf("log = %v", l)
	}
	// The submission keys moved out of the attributes; the rest stays typed.
	if len(l.Attributes) != 1 || l.Attributes[0].Key != "test" || l.Attributes[0].Value.GetIntValue() != 3 {
		t.Errorf("attributes = %v", l.Attributes)
	}
	if l.Resource.GetAttributes()[0].GetKey() != "deployment.environment" {
		t.Errorf("resource attributes = %v", l.Resource.GetAttributes())
	}
	if byKey["S2002"].GetLog().GetSeverityNumber() != v1.SeverityNumber_SEVERITY_NUMBER_ERROR {
		t.Errorf("severity from text 'error' = %v", byKey["S2002"].GetLog().GetSeverityNumber())
	}
	// No submit_id: keyed by trace id in hex.
	if byKey["0af7651916cd43dd8448eb211c80319c"] == nil {
		t.Errorf("record without submit_id is not keyed by its trace id: keys %v", keysOf(byKey))
	}
	for k, env := range byKey {
		if len(env.RecordId) != 32 || env.SchemaVersion != v1.SchemaVersion || env.IngestedAtUnixNano != uint64(e.now.UnixNano()) {
			t.Errorf("%s: record_id %q schema %d ingested %d", k, env.RecordId, env.SchemaVersion, env.IngestedAtUnixNano)
		}
		if env.GetLog().GetObservedTimeUnixNano() != uint64(e.now.UnixNano()) {
			t.Errorf("%s: observed time not set from the receiver clock", k)
		}
	}

	// A retry of the same batch (later, so the observed time differs)
	// produces the same record ids.
	e.now = e.now.Add(3e9)
	if code, _, resp := e.post("/v1/logs", "application/x-protobuf", body, nil); code != http.StatusOK {
		t.Fatalf("retry: %d %s", code, resp)
	}
	recs = e.records(6)
	ids := map[string]int{}
	for _, r := range recs {
		ids[decodeEnvelope(t, r.Value).RecordId]++
	}
	if len(ids) != 3 {
		t.Errorf("after a retry %d distinct ids in 6 records, want 3: %v", len(ids), ids)
	}
	if got := counter(t, e.srv.m.accepted.WithLabelValues(endpointLogs)); got != 6 {
		t.Errorf("accepted metric = %v, want 6", got)
	}
}

func keysOf(m map[string]*v1.Envelope) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestIngest_OTLPProtobufTraces(t *testing.T) {
	e := newTestEnv(t, nil)
	body, _ := proto.Marshal(tracesRequest())
	if code, _, resp := e.post("/v1/traces", "application/x-protobuf", body, nil); code != http.StatusOK {
		t.Fatalf("status %d: %q", code, resp)
	}
	recs := e.records(1)
	checkPartitioning(t, recs)
	sp := decodeEnvelope(t, recs[0].Value).GetSpan()
	if string(recs[0].Key) != "S1001" || sp == nil {
		t.Fatalf("key %q span %v", recs[0].Key, sp)
	}
	if sp.Name != "judge" || sp.Kind != v1.SpanKind_SPAN_KIND_SERVER || sp.Status.GetCode() != v1.StatusCode_STATUS_CODE_ERROR ||
		sp.Status.GetMessage() != "time limit exceeded" || hex.EncodeToString(sp.ParentSpanId) != "00f067aa0ba902b7" ||
		sp.EndTimeUnixNano-sp.StartTimeUnixNano != 12e9 || len(sp.Events) != 1 || sp.Submission.GetStage() != v1.Stage_STAGE_JUDGE {
		t.Errorf("span = %v", sp)
	}
}

// otlpJSON renders a request as OTLP/JSON: protojson, then ids as hex as
// the specification requires (protojson would write base64).
func otlpJSON(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	json.Unmarshal(b, &tree)
	var walk func(any)
	walk = func(n any) {
		switch x := n.(type) {
		case map[string]any:
			for k, v := range x {
				if _, isID := otlpIDFields[k]; isID {
					s, _ := v.(string)
					raw, _ := base64Decode(s)
					x[k] = hex.EncodeToString(raw)
					continue
				}
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(tree)
	out, _ := json.Marshal(tree)
	return out
}

func TestIngest_OTLPJSONAndGzip(t *testing.T) {
	e := newTestEnv(t, nil)
	logs := otlpJSON(t, logsRequest())
	if !strings.Contains(string(logs), `"traceId":"0af7651916cd43dd8448eb211c80319c"`) {
		t.Fatalf("test body does not carry hex ids: %s", logs)
	}
	code, hdr, resp := e.post("/v1/logs", "application/json", logs, nil)
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("json logs: %d %s %s", code, hdr.Get("Content-Type"), resp)
	}
	traces := gzipped(t, otlpJSON(t, tracesRequest()))
	if code, _, resp := e.post("/v1/traces", "application/json", traces, map[string]string{"Content-Encoding": "gzip"}); code != http.StatusOK {
		t.Fatalf("gzip json traces: %d %s", code, resp)
	}
	pb, _ := proto.Marshal(logsRequest())
	if code, _, resp := e.post("/v1/logs", "application/x-protobuf", gzipped(t, pb), map[string]string{"Content-Encoding": "gzip"}); code != http.StatusOK {
		t.Fatalf("gzip protobuf logs: %d %s", code, resp)
	}
	recs := e.records(7)
	if len(recs) != 7 {
		t.Fatalf("%d records, want 7", len(recs))
	}
	checkPartitioning(t, recs)
	// JSON and protobuf of the same logs are the same records: same ids.
	ids := map[string]int{}
	var span *v1.Span
	for _, r := range recs {
		env := decodeEnvelope(t, r.Value)
		ids[env.RecordId]++
		if env.GetSpan() != nil {
			span = env.GetSpan()
		}
	}
	if len(ids) != 4 {
		t.Errorf("%d distinct ids, want 4 (3 logs twice, 1 span): %v", len(ids), ids)
	}
	if span == nil || hex.EncodeToString(span.TraceId) != "0af7651916cd43dd8448eb211c80319c" || span.Status.GetCode() != v1.StatusCode_STATUS_CODE_ERROR {
		t.Errorf("span from gzip json = %v", span)
	}
}

func TestIngest_NDJSON(t *testing.T) {
	e := newTestEnv(t, nil)
	body := strings.Join([]string{
		// zap
		`{"level":"info","ts":1799999000.5,"caller":"judge/run.go:42","msg":"compiled","submit_id":"S1","user_id":"U1","submission_seq":3,"stage":"compile","service":"compiler","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"}`,
		// zerolog, epoch millis
		`{"level":"warn","time":1799999000123,"message":"slow test","submit_id":"S1","service":"judge","mem_mb":255.5,"ok":false}`,
		// slog
		`{"time":"2027-01-15T08:00:00.123456789Z","level":"ERROR","msg":"runtime error","submit.id":"S2","service.name":"judge","k8s.pod.name":"judge-7","tests":[1,2],"limits":{"cpu":2}}`,
		``,
		`{"level":"debug","timestamp":"1799999000","msg":"epoch seconds as a string","submit_id":"S3"}`,
	}, "\n")
	code, _, resp := e.post("/v1/ndjson", "application/x-ndjson", []byte(body), nil)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, resp)
	}
	var r ndjsonResponse
	if err := json.Unmarshal(resp, &r); err != nil || r.Accepted != 4 || len(r.Rejected) != 0 {
		t.Fatalf("response %s (%v)", resp, err)
	}
	recs := e.records(4)
	checkPartitioning(t, recs)
	got := map[string]*v1.Log{}
	for _, rec := range recs {
		l := decodeEnvelope(t, rec.Value).GetLog()
		got[l.Body] = l
	}
	zap := got["compiled"]
	if zap.TimeUnixNano != 1_799_999_000_500_000_000 || zap.SeverityNumber != v1.SeverityNumber_SEVERITY_NUMBER_INFO ||
		zap.Service != "compiler" || zap.Submission.GetSubmissionSeq() != 3 || zap.Submission.GetStage() != v1.Stage_STAGE_COMPILE ||
		len(zap.TraceId) != 16 || len(zap.SpanId) != 8 {
		t.Errorf("zap line = %v", zap)
	}
	if len(zap.Attributes) != 1 || zap.Attributes[0].Key != "caller" {
		t.Errorf("zap attributes = %v", zap.Attributes)
	}
	zl := got["slow test"]
	if zl.TimeUnixNano != 1_799_999_000_123_000_000 || zl.SeverityNumber != v1.SeverityNumber_SEVERITY_NUMBER_WARN {
		t.Errorf("zerolog line = %v", zl)
	}
	for _, a := range zl.Attributes {
		if a.Key == "mem_mb" && a.Value.GetDoubleValue() != 255.5 || a.Key == "ok" && a.Value.GetBoolValue() {
			t.Errorf("typed attribute %v", a)
		}
	}
	sl := got["runtime error"]
	if want := time.Date(2027, 1, 15, 8, 0, 0, 123456789, time.UTC).UnixNano(); sl.TimeUnixNano != uint64(want) {
		t.Errorf("slog time = %d, want %d", sl.TimeUnixNano, want)
	}
	if sl.SeverityNumber != v1.SeverityNumber_SEVERITY_NUMBER_ERROR || sl.Submission.GetSubmitId() != "S2" || sl.Service != "judge" || sl.Resource.GetPod() != "judge-7" {
		t.Errorf("slog line = %v", sl)
	}
	if got["epoch seconds as a string"].TimeUnixNano != 1_799_999_000_000_000_000 {
		t.Errorf("epoch string time = %d", got["epoch seconds as a string"].TimeUnixNano)
	}
}

func TestIngest_NDJSONBadLinesRejectedAlone(t *testing.T) {
	e := newTestEnv(t, nil)
	body := strings.Join([]string{
		`{"msg":"good 1","submit_id":"S1","ts":1799999000}`,
		`{"msg":"broken`,
		`{"msg":"bad time","ts":"yesterday"}`,
		`{"msg":"bad trace","trace_id":"xyz"}`,
		`{"msg":"from the future","ts":1900000000}`,
		`["not","an","object"]`,
		`{"msg":"good 2","submit_id":"S2","ts":1799999001}`,
	}, "\n")
	code, _, resp := e.post("/v1/ndjson", "application/x-ndjson", []byte(body), nil)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, resp)
	}
	var r ndjsonResponse
	json.Unmarshal(resp, &r)
	want := []ndjsonReject{
		{2, reasonMalformed, ""}, {3, reasonBadTimestamp, ""}, {4, reasonBadTraceID, ""}, {5, reasonFuture, ""}, {6, reasonMalformed, ""},
	}
	if r.Accepted != 2 || len(r.Rejected) != len(want) {
		t.Fatalf("response %s", resp)
	}
	for i, w := range want {
		if r.Rejected[i].Line != w.Line || r.Rejected[i].Reason != w.Reason || r.Rejected[i].Error == "" {
			t.Errorf("rejection %d = %+v, want line %d reason %s", i, r.Rejected[i], w.Line, w.Reason)
		}
	}
	if !strings.Contains(r.Rejected[1].Error, `"yesterday" is neither RFC 3339 nor an epoch number`) {
		t.Errorf("bad time message = %q", r.Rejected[1].Error)
	}
	if len(e.records(2)) != 2 {
		t.Errorf("good lines not all in the topic")
	}
	if got := counter(t, e.srv.m.rejected.WithLabelValues(endpointNDJSON, reasonMalformed)); got != 2 {
		t.Errorf("malformed rejections metric = %v", got)
	}
	// Only bad lines: 400.
	code, _, resp = e.post("/v1/ndjson", "application/x-ndjson", []byte("nope\n"), nil)
	if code != http.StatusBadRequest || !strings.Contains(string(resp), `"error":"no line was accepted"`) {
		t.Errorf("all bad: %d %s", code, resp)
	}
}

func TestIngest_BadRequests(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.MaxBodyBytes = 64 << 10
		c.MaxRecordBytes = 2048
		c.MaxAttributes = 4
		c.Auth.Token = "t0ken"
	})
	auth := map[string]string{"Authorization": "Bearer t0ken"}
	goodLogs, _ := proto.Marshal(logsRequest())

	big := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{
		{TimeUnixNano: 1, Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: strings.Repeat("x", 4000)}}},
		{TimeUnixNano: 2, Attributes: []*commonpb.KeyValue{intAttr("a", 1), intAttr("b", 1), intAttr("c", 1), intAttr("d", 1), intAttr("e", 1)}},
		{TimeUnixNano: 1_900_000_000_000_000_000},
		{TimeUnixNano: 3, TraceId: []byte{1, 2, 3}},
		{TimeUnixNano: 4, Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "fine"}}},
	}}}}}}
	bigBody, _ := proto.Marshal(big)

	tests := []struct {
		name        string
		path, ct    string
		body        []byte
		hdr         map[string]string
		wantCode    int
		wantMessage string
	}{
		{"malformed protobuf", "/v1/logs", "application/x-protobuf", []byte{0xff, 0xff, 0xff}, auth, 400, "malformed OTLP logs request"},
		{"malformed json", "/v1/traces", "application/json", []byte(`{"resourceSpans":[`), auth, 400, "malformed OTLP traces request"},
		{"wrong content type", "/v1/logs", "text/xml", goodLogs, auth, 415, `content type "text/xml" not supported`},
		{"unknown encoding", "/v1/logs", "application/x-protobuf", goodLogs, map[string]string{"Authorization": "Bearer t0ken", "Content-Encoding": "br"}, 415, `content encoding "br" not supported`},
		{"bad gzip", "/v1/logs", "application/x-protobuf", []byte("not gzip"), map[string]string{"Authorization": "Bearer t0ken", "Content-Encoding": "gzip"}, 400, "reading gzip body"},
		{"oversize body", "/v1/ndjson", "application/x-ndjson", make([]byte, 65<<10), auth, 413, "exceeds max_body_bytes 65536"},
		{"oversize after gunzip", "/v1/ndjson", "application/x-ndjson", gzipped(t, make([]byte, 200<<10)), map[string]string{"Authorization": "Bearer t0ken", "Content-Encoding": "gzip"}, 413, "decompressed body exceeds max_body_bytes"},
		{"empty ndjson body", "/v1/ndjson", "application/x-ndjson", nil, auth, 400, "the body has no lines"},
		{"blank ndjson lines", "/v1/ndjson", "application/x-ndjson", []byte("\n  \r\n\n"), auth, 400, "the body has no lines"},
		{"missing token", "/v1/logs", "application/x-protobuf", goodLogs, nil, 401, "missing or wrong bearer token"},
		{"wrong token", "/v1/logs", "application/x-protobuf", goodLogs, map[string]string{"Authorization": "Bearer nope"}, 401, "missing or wrong bearer token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, resp := e.post(tt.path, tt.ct, tt.body, tt.hdr)
			if code != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", code, tt.wantCode, resp)
			}
			msg := string(resp)
			if tt.path != "/v1/ndjson" {
				var (
					st  statuspb.Status
					err error
				)
				if tt.ct != "application/x-protobuf" {
					err = protojson.Unmarshal(resp, &st)
				} else {
					err = proto.Unmarshal(resp, &st)
				}
				if err != nil {
					t.Fatalf("error body is not a google.rpc.Status: %v", err)
				}
				msg = st.Message
			}
			if !strings.Contains(msg, tt.wantMessage) {
				t.Errorf("message %q lacks %q", msg, tt.wantMessage)
			}
			if code == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}

	t.Run("per-record limits are partial success", func(t *testing.T) {
		code, _, resp := e.post("/v1/logs", "application/x-protobuf", bigBody, auth)
		if code != 200 {
			t.Fatalf("status %d: %s", code, resp)
		}
		var out collogspb.ExportLogsServiceResponse
		if err := proto.Unmarshal(resp, &out); err != nil {
			t.Fatal(err)
		}
		ps := out.GetPartialSuccess()
		const want = "4 log records rejected; log record 0: record is"
		if ps.GetRejectedLogRecords() != 4 || !strings.HasPrefix(ps.GetErrorMessage(), want) {
			t.Fatalf("partial success = %v", ps)
		}
		for _, frag := range []string{"log record 1: 5 attributes, more than max_attributes 4", "log record 2: timestamp 2030-03-17T17:46:40Z is more than max_future_skew 1h0m0s ahead",
			"log record 3: trace_id must be 16 bytes"} {
			if !strings.Contains(ps.GetErrorMessage(), frag) {
				t.Errorf("message %q lacks %q", ps.GetErrorMessage(), frag)
			}
		}
	})

	t.Run("too many records", func(t *testing.T) {
		e2 := newTestEnv(t, func(c *Config) { c.MaxRecordsPerRequest = 2 })
		code, _, resp := e2.post("/v1/logs", "application/json", otlpJSON(t, logsRequest()), nil)
		if code != 413 || !strings.Contains(string(resp), "request has 3 records, more than max_records_per_request 2") {
			t.Errorf("%d %s", code, resp)
		}
	})
}

func TestIngest_InvalidUTF8(t *testing.T) {
	body := []byte("{\"msg\":\"bad \xff byte\",\"submit_id\":\"S1\",\"ts\":1799999000}\n{\"msg\":\"fine\",\"submit_id\":\"S2\",\"ts\":1799999000}\n")
	t.Run("replace", func(t *testing.T) {
		e := newTestEnv(t, nil)
		code, _, resp := e.post("/v1/ndjson", "application/x-ndjson", body, nil)
		if code != 200 || !strings.Contains(string(resp), `"accepted":2`) {
			t.Fatalf("%d %s", code, resp)
		}
		var bodies []string
		for _, r := range e.records(2) {
			bodies = append(bodies, decodeEnvelope(t, r.Value).GetLog().GetBody())
		}
		if !contains(bodies, "bad \uFFFD byte") {
			t.Errorf("bodies = %q, want the bad byte replaced with U+FFFD", bodies)
		}
	})
	t.Run("reject", func(t *testing.T) {
		e := newTestEnv(t, func(c *Config) { c.InvalidUTF8 = "reject" })
		code, _, resp := e.post("/v1/ndjson", "application/x-ndjson", body, nil)
		if code != 200 || !strings.Contains(string(resp), `"accepted":1`) || !strings.Contains(string(resp), `"line":1,"reason":"invalid_utf8"`) {
			t.Fatalf("%d %s", code, resp)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A full producer buffer answers 429 with Retry-After, never 200.
func TestIngest_BufferFullIs429(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.MaxBufferedRecords = 1 })
	var lines []string
	for i := 0; i < 200; i++ {
		lines = append(lines, fmt.Sprintf(`{"msg":"line %d","submit_id":"S%d","ts":1799999000}`, i, i))
	}
	code, hdr, resp := e.post("/v1/ndjson", "application/x-ndjson", []byte(strings.Join(lines, "\n")), nil)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") != "5" || !strings.Contains(string(resp), "producer buffer is full") {
		t.Fatalf("status %d, Retry-After %q: %s", code, hdr.Get("Retry-After"), resp)
	}
}

func TestIngest_TokenFileAndTLS(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("s3cr3t\n"), 0o600)
	cfg := Default()
	cfg.Auth.TokenFile = tokenFile
	srv, err := New(cfg, testTopic, nil, Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if string(srv.token) != "s3cr3t" {
		t.Errorf("token from file = %q, want it trimmed", srv.token)
	}
	os.WriteFile(tokenFile, []byte("\n"), 0o600)
	if _, err := New(cfg, testTopic, nil, Deps{Registerer: prometheus.NewRegistry()}); err == nil || !strings.Contains(err.Error(), "ingest.auth.token_file: file is empty") {
		t.Errorf("empty token file: %v", err)
	}
	bad := Default()
	bad.TLS.CertFile = "/x.pem"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "tls: cert_file and key_file must be set together") {
		t.Errorf("tls validation: %v", err)
	}
}
