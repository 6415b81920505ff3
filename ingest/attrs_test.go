package ingest

import (
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
)

// A log body that is not a string becomes the vocabulary's text: bytes in
// base64 without quotes (they were a quoted JSON string), key/value lists
// as JSON in the order sent, with <, > and & as they are (they were sorted
// and HTML-escaped by encoding/json).
func TestMapLog_NonStringBodyIsVocabularyText(t *testing.T) {
	s := &Server{cfg: Default(), now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	kv := func(k string, v *commonpb.AnyValue) *commonpb.KeyValue { return &commonpb.KeyValue{Key: k, Value: v} }
	str := func(s string) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
	}
	for _, tt := range []struct {
		body *commonpb.AnyValue
		want string
	}{
		{&commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte("hi")}}, "aGk="},
		{&commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{
			kv("z", str("<b>&")), kv("a", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 1.5}})}}}}, `{"z":"<b>&","a":1.5}`},
		{&commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 42}}, "42"},
	} {
		req := wireLogs(t, &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{
			LogRecords: []*logspb.LogRecord{{TimeUnixNano: 1, Body: tt.body}},
		}}}}})
		env, reason := s.mapLog(&req.resources[0].records[0], resourceInfo{}, 1, &recordSlab{})
		if reason != "" {
			t.Fatalf("mapLog: %s", reason)
		}
		if got := env.GetLog().GetBody(); got != tt.want {
			t.Errorf("body = %s, want %s", got, tt.want)
		}
	}
}
