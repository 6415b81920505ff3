package logweavev1

import (
	"math"
	"testing"
)

func TestEnvelope_Level(t *testing.T) {
	for _, tt := range []struct {
		env  *Envelope
		want string
		rank int
	}{
		{&Envelope{Record: &Envelope_Log{Log: &Log{SeverityNumber: SeverityNumber_SEVERITY_NUMBER_WARN}}}, LevelWarn, 4},
		{&Envelope{Record: &Envelope_Log{Log: &Log{}}}, LevelUnknown, RankInfo},
		{&Envelope{Record: &Envelope_Span{Span: &Span{Status: &Status{Code: StatusCode_STATUS_CODE_ERROR}}}}, LevelError, RankError},
		{&Envelope{Record: &Envelope_Span{Span: &Span{}}}, LevelInfo, RankInfo},
		{&Envelope{}, "", RankInfo},
	} {
		if got, rank := tt.env.Level(), tt.env.LevelRank(); got != tt.want || rank != tt.rank {
			t.Errorf("%s: level %q rank %d, want %q %d", tt.env.Kind(), got, rank, tt.want, tt.rank)
		}
	}
}

func TestParseStage_Synonyms(t *testing.T) {
	for name, want := range map[string]Stage{"compile": Stage_STAGE_COMPILE, "build": Stage_STAGE_COMPILE, " Run ": Stage_STAGE_JUDGE,
		"test": Stage_STAGE_JUDGE, "judge": Stage_STAGE_JUDGE, "score": Stage_STAGE_SCORE, "FEEDBACK": Stage_STAGE_FEEDBACK, "lint": Stage_STAGE_UNSPECIFIED} {
		if got := ParseStage(name); got != want {
			t.Errorf("ParseStage(%q) = %v, want %v", name, got, want)
		}
	}
	for s := range Stage_name {
		if st := Stage(s); st.Name() != "" && ParseStage(st.Name()) != st {
			t.Errorf("ParseStage(%q) does not read back %v", st.Name(), st)
		}
	}
}

func TestRecordStage_OwnThenSpan(t *testing.T) {
	sc := &SpanContext{Stage: Stage_STAGE_JUDGE}
	if got := RecordStage(&Submission{Stage: Stage_STAGE_SCORE}, sc); got != Stage_STAGE_SCORE {
		t.Errorf("own stage: %v", got)
	}
	if got := RecordStage(&Submission{}, sc); got != Stage_STAGE_JUDGE {
		t.Errorf("span's stage: %v", got)
	}
	rec := &EnrichedRecord{Record: &Envelope{Record: &Envelope_Log{Log: &Log{}}}, Span: sc}
	if got := rec.Stage(); got != Stage_STAGE_JUDGE {
		t.Errorf("enriched record without submission: %v", got)
	}
}

func TestAnyValue_Text(t *testing.T) {
	kvs := &KeyValueList{Values: []*KeyValue{{Key: "z", Value: &AnyValue{Value: &AnyValue_BoolValue{BoolValue: true}}},
		{Key: "a", Value: &AnyValue{Value: &AnyValue_BytesValue{BytesValue: []byte{0xff}}}}}}
	for _, tt := range []struct {
		v    *AnyValue
		want string
	}{
		{nil, ""},
		{&AnyValue{Value: &AnyValue_StringValue{StringValue: "a\"b"}}, "a\"b"},
		{&AnyValue{Value: &AnyValue_IntValue{IntValue: -3}}, "-3"},
		{&AnyValue{Value: &AnyValue_DoubleValue{DoubleValue: 0.1}}, "0.1"},
		{&AnyValue{Value: &AnyValue_DoubleValue{DoubleValue: math.NaN()}}, "NaN"},
		{&AnyValue{Value: &AnyValue_BoolValue{BoolValue: false}}, "false"},
		{&AnyValue{Value: &AnyValue_BytesValue{BytesValue: []byte("hi")}}, "aGk="},
		{&AnyValue{Value: &AnyValue_KvlistValue{KvlistValue: kvs}}, `{"z":true,"a":"/w=="}`},
		{&AnyValue{Value: &AnyValue_ArrayValue{ArrayValue: &ArrayValue{Values: []*AnyValue{{Value: &AnyValue_DoubleValue{DoubleValue: math.Inf(1)}}, nil}}}}, `[null,null]`},
	} {
		if got := tt.v.Text(); got != tt.want {
			t.Errorf("Text(%v) = %s, want %s", tt.v, got, tt.want)
		}
	}
}

func TestSpan_DurationNanos(t *testing.T) {
	if d, ok := (&Span{StartTimeUnixNano: 5, EndTimeUnixNano: 9}).DurationNanos(); !ok || d != 4 {
		t.Errorf("duration %d %v", d, ok)
	}
	if _, ok := (&Span{StartTimeUnixNano: 9, EndTimeUnixNano: 5}).DurationNanos(); ok {
		t.Error("an end before the start has a duration")
	}
}
