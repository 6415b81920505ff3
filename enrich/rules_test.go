package enrich

import (
	"testing"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

func ruleMatches(t *testing.T, when string, re *ruleRecord) bool {
	t.Helper()
	r, err := CompileRules(RulesConfig{Tail: []TailRule{{Name: "t", When: when}}})
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	_, ok := r.TailMatch(re.env, re.span, re.sub)
	return ok
}

// The rule environment reads fields through the record vocabulary; each
// case is an edge where the rules saw something else before.
func TestRecordEnv_VocabularyEdges(t *testing.T) {
	bytesAttr := &v1.KeyValue{Key: "b", Value: &v1.AnyValue{Value: &v1.AnyValue_BytesValue{BytesValue: []byte("hi")}}}
	listAttr := &v1.KeyValue{Key: "l", Value: &v1.AnyValue{Value: &v1.AnyValue_ArrayValue{ArrayValue: &v1.ArrayValue{Values: []*v1.AnyValue{
		{Value: &v1.AnyValue_IntValue{IntValue: 1}}, {Value: &v1.AnyValue_StringValue{StringValue: "x"}}}}}}}
	log := &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{Body: "x", Attributes: []*v1.KeyValue{bytesAttr, listAttr}}}}
	// The merged context names a stage another record had; the log has
	// none of its own and no span.
	merged := &v1.Submission{SubmitId: "S1", Stage: v1.Stage_STAGE_COMPILE}
	span := &v1.Envelope{Record: &v1.Envelope_Span{Span: &v1.Span{Name: "Run", StartTimeUnixNano: 1, EndTimeUnixNano: 2}}}
	for _, tt := range []struct {
		name, when string
		re         *ruleRecord
		want       bool
	}{
		// Bytes were hex (6869), now standard base64 as everywhere.
		{"bytes attribute is base64", `attr["b"] == "aGk="`, &ruleRecord{env: log}, true},
		// Composites were missing, now their JSON.
		{"list attribute is JSON", `attr["l"] == "[1,\"x\"]"`, &ruleRecord{env: log}, true},
		// The stage is the record's own or its span's, never another
		// record's from the merged context.
		{"no stage from the merged context", `stage == "compile"`, &ruleRecord{env: log, sub: merged}, false},
		// A span named by a synonym has the stage the synonym names.
		{"span stage by synonym", `stage == "judge"`, &ruleRecord{env: span, span: spanContext(span.GetSpan(), v1.JoinStatus_JOIN_STATUS_SELF)}, true},
		// An unspecified span kind is missing, not "unspecified".
		{"unspecified span kind is missing", `span.kind == "unspecified"`, &ruleRecord{env: span, span: spanContext(span.GetSpan(), v1.JoinStatus_JOIN_STATUS_SELF)}, false},
	} {
		if got := ruleMatches(t, tt.when, tt.re); got != tt.want {
			t.Errorf("%s: %s = %v, want %v", tt.name, tt.when, got, tt.want)
		}
	}
}
