package ingest

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// This file keeps the decoding path ingest had before the wire decoder
// (proto.Unmarshal into the generated OTLP types, then converting them),
// frozen as the reference the wire decoder is compared with. It is test
// code only: the receivers have one decoder and one mapping.

// wireLogs encodes req and decodes it with the wire decoder.
func wireLogs(t testing.TB, req *collogspb.ExportLogsServiceRequest) *otlpLogs {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeOTLPLogs(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wireTraces is wireLogs for a traces request.
func wireTraces(t testing.TB, req *coltracepb.ExportTraceServiceRequest) *otlpTraces {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeOTLPTraces(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func refValue(a *commonpb.AnyValue) *v1.AnyValue {
	if a == nil {
		return nil
	}
	switch x := a.Value.(type) {
	case *commonpb.AnyValue_StringValue:
		return strValue(x.StringValue)
	case *commonpb.AnyValue_BoolValue:
		return &v1.AnyValue{Value: &v1.AnyValue_BoolValue{BoolValue: x.BoolValue}}
	case *commonpb.AnyValue_IntValue:
		return &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: x.IntValue}}
	case *commonpb.AnyValue_DoubleValue:
		return &v1.AnyValue{Value: &v1.AnyValue_DoubleValue{DoubleValue: x.DoubleValue}}
	case *commonpb.AnyValue_BytesValue:
		return &v1.AnyValue{Value: &v1.AnyValue_BytesValue{BytesValue: x.BytesValue}}
	case *commonpb.AnyValue_ArrayValue:
		arr := &v1.ArrayValue{Values: make([]*v1.AnyValue, 0, len(x.ArrayValue.GetValues()))}
		for _, v := range x.ArrayValue.GetValues() {
			arr.Values = append(arr.Values, refValue(v))
		}
		return &v1.AnyValue{Value: &v1.AnyValue_ArrayValue{ArrayValue: arr}}
	case *commonpb.AnyValue_KvlistValue:
		kv := &v1.KeyValueList{Values: refAttrs(x.KvlistValue.GetValues())}
		return &v1.AnyValue{Value: &v1.AnyValue_KvlistValue{KvlistValue: kv}}
	}
	return nil
}

func refAttrs(in []*commonpb.KeyValue) []*v1.KeyValue {
	if len(in) == 0 {
		return nil
	}
	out := make([]*v1.KeyValue, 0, len(in))
	for _, kv := range in {
		out = append(out, &v1.KeyValue{Key: kv.GetKey(), Value: refValue(kv.GetValue())})
	}
	return out
}

// refLogs converts a decoded OTLP logs request into the mapping's input
// as the code before the wire decoder read it.
func refLogs(req *collogspb.ExportLogsServiceRequest) *otlpLogs {
	out := &otlpLogs{}
	for _, rl := range req.GetResourceLogs() {
		r := otlpResourceLogs{attrs: refAttrs(rl.GetResource().GetAttributes())}
		for _, sl := range rl.GetScopeLogs() {
			for _, lr := range sl.GetLogRecords() {
				r.records = append(r.records, otlpLogRecord{
					timeUnixNano: lr.GetTimeUnixNano(), observedTimeUnixNano: lr.GetObservedTimeUnixNano(),
					severityNumber: int32(lr.GetSeverityNumber()), severityText: lr.GetSeverityText(),
					body: refValue(lr.GetBody()), attrs: refAttrs(lr.GetAttributes()),
					traceID: lr.GetTraceId(), spanID: lr.GetSpanId(),
				})
			}
		}
		out.records += len(r.records)
		out.resources = append(out.resources, r)
	}
	return out
}

// refTraces is refLogs for traces.
func refTraces(req *coltracepb.ExportTraceServiceRequest) *otlpTraces {
	out := &otlpTraces{}
	for _, rs := range req.GetResourceSpans() {
		r := otlpResourceSpans{attrs: refAttrs(rs.GetResource().GetAttributes())}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				o := otlpSpan{
					traceID: sp.GetTraceId(), spanID: sp.GetSpanId(), parentSpanID: sp.GetParentSpanId(),
					name: sp.GetName(), kind: int32(sp.GetKind()),
					startTimeUnixNano: sp.GetStartTimeUnixNano(), endTimeUnixNano: sp.GetEndTimeUnixNano(),
					attrs: refAttrs(sp.GetAttributes()),
				}
				if st := sp.GetStatus(); st != nil {
					o.status = &v1.Status{Code: v1.StatusCode(st.GetCode()), Message: st.GetMessage()}
				}
				for _, ev := range sp.GetEvents() {
					o.events = append(o.events, &v1.SpanEvent{TimeUnixNano: ev.GetTimeUnixNano(), Name: ev.GetName(), Attributes: refAttrs(ev.GetAttributes())})
				}
				r.spans = append(r.spans, o)
			}
		}
		out.spans += len(r.spans)
		out.resources = append(out.resources, r)
	}
	return out
}

// fixedClockServer maps and encodes as the receivers do, at a fixed time.
func fixedClockServer() *Server {
	return &Server{cfg: Default(), now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
}

// mappedRequest is what one decoder made of a request, as bytes.
type mappedRequest struct {
	accepted bool
	total    int
	pos      []int
	rejs     []rejection
	values   [][]byte // the produced record values, ids included
	keys     []string
}

func mapOutcome(s *Server, envs []*v1.Envelope, pos []int, rejs []rejection, total int) mappedRequest {
	recs, rejs := s.prepare(envs, pos, rejs)
	m := mappedRequest{accepted: true, total: total, pos: pos, rejs: rejs}
	for _, r := range recs {
		m.values = append(m.values, r.value)
		m.keys = append(m.keys, r.key)
	}
	return m
}

// reusedScratch is the scratch pool of the wire decoder's side of the
// comparisons, so that every comparison after the first also checks that
// a reused scratch decodes as a fresh one does.
var reusedScratch = &scratchPool{}

// compareLogsDecoders decodes body with proto.Unmarshal plus the old
// conversion and with the wire decoder, maps and encodes both, and fails
// unless both accepted or both rejected it and produced the same bytes.
func compareLogsDecoders(t testing.TB, body []byte) (accepted bool) {
	t.Helper()
	s := fixedClockServer()
	var want, got mappedRequest
	var ref collogspb.ExportLogsServiceRequest
	refErr := proto.Unmarshal(body, &ref)
	if refErr == nil {
		req := refLogs(&ref)
		envs, pos, rejs := s.logsToEnvelopes(req, 1_799_999_500_000_000_000, nil)
		want = mapOutcome(s, envs, pos, rejs, req.records)
	}
	sc := reusedScratch.get()
	defer reusedScratch.put(sc)
	req, err := decodeOTLPLogs(bytes.Clone(body), sc)
	if err == nil {
		envs, pos, rejs := s.logsToEnvelopes(req, 1_799_999_500_000_000_000, nil)
		got = mapOutcome(s, envs, pos, rejs, req.records)
	}
	compareOutcomes(t, "logs", body, want, got, refErr, err)
	return err == nil
}

// compareTracesDecoders is compareLogsDecoders for a traces request.
func compareTracesDecoders(t testing.TB, body []byte) (accepted bool) {
	t.Helper()
	s := fixedClockServer()
	var want, got mappedRequest
	var ref coltracepb.ExportTraceServiceRequest
	refErr := proto.Unmarshal(body, &ref)
	if refErr == nil {
		req := refTraces(&ref)
		envs, pos, rejs := s.tracesToEnvelopes(req, nil)
		want = mapOutcome(s, envs, pos, rejs, req.spans)
	}
	sc := reusedScratch.get()
	defer reusedScratch.put(sc)
	req, err := decodeOTLPTraces(bytes.Clone(body), sc)
	if err == nil {
		envs, pos, rejs := s.tracesToEnvelopes(req, nil)
		got = mapOutcome(s, envs, pos, rejs, req.spans)
	}
	compareOutcomes(t, "traces", body, want, got, refErr, err)
	return err == nil
}

func compareOutcomes(t testing.TB, what string, body []byte, want, got mappedRequest, refErr, err error) {
	t.Helper()
	if (refErr == nil) != (err == nil) {
		t.Fatalf("%s request %x: proto.Unmarshal: %v, wire decoder: %v", what, body, refErr, err)
	}
	if want.total != got.total || !reflect.DeepEqual(want.pos, got.pos) || fmt.Sprint(want.rejs) != fmt.Sprint(got.rejs) {
		t.Fatalf("%s request %x: reference %d records, kept %v, rejected %v; wire decoder %d, %v, %v",
			what, body, want.total, want.pos, want.rejs, got.total, got.pos, got.rejs)
	}
	if len(want.values) != len(got.values) {
		t.Fatalf("%s request %x: %d records produced, reference %d", what, body, len(got.values), len(want.values))
	}
	for i := range want.values {
		if !bytes.Equal(want.values[i], got.values[i]) || want.keys[i] != got.keys[i] {
			t.Fatalf("%s request %x: record %d differs:\nreference %q %x\n     wire %q %x", what, body, i, want.keys[i], want.values[i], got.keys[i], got.values[i])
		}
	}
}

// refLogsRequest and refTracesRequest are the fixtures of the other
// tests, plus values of every kind.
func everyKindLogs() *collogspb.ExportLogsServiceRequest {
	req := logsRequest()
	lr := req.ResourceLogs[0].ScopeLogs[0].LogRecords[0]
	lr.Attributes = append(lr.Attributes,
		&commonpb.KeyValue{Key: "b", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}},
		&commonpb.KeyValue{Key: "d", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: -2.5}}},
		&commonpb.KeyValue{Key: "y", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1}}}},
		&commonpb.KeyValue{Key: "e", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{}}},
		&commonpb.KeyValue{Key: "none"},
		&commonpb.KeyValue{Key: "empty", Value: &commonpb.AnyValue{}},
		&commonpb.KeyValue{Key: "idx", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValueStrindex{StringValueStrindex: 3}}},
		&commonpb.KeyValue{Key: "arr", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{
			{Value: &commonpb.AnyValue_IntValue{IntValue: -1}}, {}, {Value: &commonpb.AnyValue_StringValue{StringValue: "ü"}},
		}}}}},
		&commonpb.KeyValue{Key: "emptyarr", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{}}}},
		&commonpb.KeyValue{Key: "map", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{
			strAttr("k", "v"), {Key: "nested", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{}}}},
		}}}}},
	)
	lr.Body = &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{strAttr("msg", "hi")}}}}
	lr.EventName = "ev"
	lr.Flags = 1
	lr.DroppedAttributesCount = 2
	req.ResourceLogs[0].ScopeLogs[0].Scope = &commonpb.InstrumentationScope{Name: "judge", Version: "1", Attributes: []*commonpb.KeyValue{strAttr("a", "b")}}
	req.ResourceLogs[0].Resource.EntityRefs = []*commonpb.EntityRef{{Type: "service", IdKeys: []string{"service.name"}, DescriptionKeys: []string{"x"}, SchemaUrl: "u"}}
	req.ResourceLogs = append(req.ResourceLogs, &logspb.ResourceLogs{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{
		{}, {TraceId: []byte{1, 2, 3}}, {SpanId: make([]byte, 8), TraceId: make([]byte, 16), ObservedTimeUnixNano: 5, SeverityText: "warn"},
	}}}})
	return req
}

func everyKindTraces() *coltracepb.ExportTraceServiceRequest {
	req := tracesRequest()
	sp := req.ResourceSpans[0].ScopeSpans[0].Spans[0]
	sp.Events = append(sp.Events, &tracepb.Span_Event{TimeUnixNano: 3, Name: "exception", Attributes: []*commonpb.KeyValue{strAttr("exception.message", "boom")}, DroppedAttributesCount: 1}, &tracepb.Span_Event{})
	sp.Links = []*tracepb.Span_Link{{TraceId: traceA, SpanId: spanA, TraceState: "a=b", Attributes: []*commonpb.KeyValue{strAttr("l", "1")}, Flags: 1}}
	sp.TraceState = "x=y"
	sp.Flags = 0x301
	sp.DroppedEventsCount, sp.DroppedLinksCount, sp.DroppedAttributesCount = 1, 2, 3
	req.ResourceSpans = append(req.ResourceSpans, &tracepb.ResourceSpans{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{
		{TraceId: traceA, SpanId: spanA, Status: &tracepb.Status{}}, {TraceId: traceA}, {TraceId: traceA, SpanId: spanA, ParentSpanId: []byte{1}},
		{TraceId: make([]byte, 16), SpanId: spanA},
	}}}})
	return req
}

// TestWireDecoder_MatchesProtoUnmarshal feeds the test fixtures through the
// reference path and the wire decoder and compares the records byte for
// byte.
func TestWireDecoder_MatchesProtoUnmarshal(t *testing.T) {
	for _, req := range []*collogspb.ExportLogsServiceRequest{logsRequest(), benchLogsRequest(), everyKindLogs(), {}} {
		b, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if !compareLogsDecoders(t, b) {
			t.Fatal("fixture rejected")
		}
	}
	for _, req := range []*coltracepb.ExportTraceServiceRequest{tracesRequest(), everyKindTraces(), {}} {
		b, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if !compareTracesDecoders(t, b) {
			t.Fatal("fixture rejected")
		}
	}
}
