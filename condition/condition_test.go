package condition

import (
	"strings"
	"testing"
	"time"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

func intAttr(k string, v int64) *v1.KeyValue {
	return &v1.KeyValue{Key: k, Value: &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: v}}}
}

func strAttr(k, v string) *v1.KeyValue {
	return &v1.KeyValue{Key: k, Value: &v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: v}}}
}

// testRecords: a slow judge span, an error log, an info log without a span.
func testRecords() (judgeSlow, errLog, infoLog Record) {
	sp := &v1.Span{Name: "judge", StartTimeUnixNano: 1, EndTimeUnixNano: 1 + uint64(12*time.Second), Status: &v1.Status{Code: v1.StatusCode_STATUS_CODE_OK},
		Kind: v1.SpanKind_SPAN_KIND_SERVER, Submission: &v1.Submission{Stage: v1.Stage_STAGE_JUDGE}}
	spanEnv := &v1.Envelope{Record: &v1.Envelope_Span{Span: sp}}
	sc := &v1.SpanContext{Join: v1.JoinStatus_JOIN_STATUS_SELF, Name: "judge", Stage: v1.Stage_STAGE_JUDGE, DurationNanos: int64(12 * time.Second),
		Status: v1.StatusCode_STATUS_CODE_OK}
	judgeSlow = NewRecord(spanEnv, sc, &v1.Submission{SubmitId: "S1"})
	errEnv := &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_ERROR, Body: "runtime error: OOMKilled",
		Attributes: []*v1.KeyValue{intAttr("http.status_code", 502), strAttr("k8s.event.reason", "OOMKilled")}}}}
	errLog = NewRecord(errEnv, nil, &v1.Submission{SubmitId: "S1"})
	seq := uint32(7)
	infoEnv := &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_INFO, Body: "ok", Service: "judge",
		Attributes: []*v1.KeyValue{intAttr("http.status_code", 200), strAttr("verdict", "ok")}}}}
	infoLog = NewRecord(infoEnv, nil, &v1.Submission{SubmitId: "S1", SubmissionSeq: &seq})
	return
}

func TestCondition_Eval(t *testing.T) {
	judgeSlow, errLog, infoLog := testRecords()
	tests := []struct {
		src  string
		rec  Record
		want bool
	}{
		{`level >= error`, errLog, true},
		{`level >= error`, infoLog, false},
		{`level == warn or level == info`, infoLog, true},
		{`level == "info"`, infoLog, true},
		{`level in ["warn", "error"]`, errLog, true},
		{`span.status == "error"`, judgeSlow, false},
		{`stage == "judge" and span.duration > 10s`, judgeSlow, true},
		{`stage == "judge" and span.duration > 15s`, judgeSlow, false},
		{`span.duration >= 1m or span.duration < 12.5s`, judgeSlow, true},
		{`span.duration > 1h30m`, judgeSlow, false},
		{`attr["http.status_code"] in [500, 502, 504]`, errLog, true},
		{`attr["http.status_code"] in [500, 502, 504]`, infoLog, false},
		{`attr["http.status_code"] >= 500`, errLog, true},
		{`attr["k8s.event.reason"] in ["OOMKilled", "CrashLoopBackOff"]`, errLog, true},
		{`body contains "OOMKilled"`, errLog, true},
		{`body matches "^runtime (error|panic)"`, errLog, true},
		{`body startsWith "runtime"`, errLog, true},
		{`not (level >= error)`, infoLog, true},
		// Precedence: and binds tighter than or; not tighter than and
		// but looser than comparisons.
		{`kind == "span" or kind == "log" and level >= error`, infoLog, false},
		{`(kind == "span" or kind == "log") and level >= error`, errLog, true},
		{`not kind == "span" and level >= info`, infoLog, true},
		{`not level >= error`, errLog, false},
		{`not not kind == "log"`, infoLog, true},
		// Missing values: equal nothing, order with nothing, never an
		// error that would hide the rest of the expression.
		{`span.duration > 1s`, infoLog, false},
		{`span.duration < 1s`, infoLog, false},
		{`not (span.duration < 1s)`, infoLog, true},
		{`span.duration > 1s or level >= info`, infoLog, true},
		{`stage != "judge"`, infoLog, true},
		{`attr["missing"] == "x"`, infoLog, false},
		{`attr["missing"] > 3 or kind == "log"`, infoLog, true},
		{`attr["verdict"] > 3`, infoLog, false},
		{`attr["http.status_code"] contains "20"`, infoLog, true},
		{`attr["missing"] contains "x"`, infoLog, false},
		{`submission_seq == 7 and submission_seq > 6`, infoLog, true},
		{`submission_seq > 6`, errLog, false},
		{`resource["x"] == nil`, infoLog, true},
		// Arithmetic on a missing value fails, and a failing condition
		// is false as a whole (documented in docs/enrich.md).
		{`span.duration * 2 > 10s or kind == "log"`, infoLog, false},
		{`span.duration * 2 > 10s or kind == "log"`, judgeSlow, true},
		{`service == "judge" and true`, infoLog, true},
		{`span.kind == "server"`, judgeSlow, true},
		{`lower(service) == "judge"`, infoLog, true},
		{`kind == 'log'`, infoLog, true},
		{`kind not in ["span"] and level not in [warn, "error"]`, infoLog, true},
		{`"judge" == service`, infoLog, true},
	}
	for _, tt := range tests {
		c, err := Compile(tt.src)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if got := c.Eval(&tt.rec); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.src, got, tt.want)
		}
	}
}

func TestCompile_ErrorsPointAtColumn(t *testing.T) {
	tests := []struct {
		src  string
		line int
		col  int
		msg  string
	}{
		{`level >= error or`, 1, 17, "unexpected token EOF"},
		{`level = error`, 1, 7, `did you mean "=="?`},
		{`lvl >= error`, 1, 1, `unknown field "lvl"`},
		{`span.durr > 1s`, 1, 6, `unknown field "span.durr"`},
		{`stage == "judge`, 1, 16, "literal not terminated"},
		{`(level >= error`, 1, 15, "unexpected token EOF"},
		{`span.duration > 10parsecs`, 1, 17, `bad duration "10parsecs"`},
		{`span.duration > 10`, 1, 17, `span.duration compares with a duration`},
		{`attr[1] == 2`, 1, 6, `attr keys are strings`},
		{`level >= error level`, 1, 16, `unexpected token Identifier("level")`},
		{`stage`, 1, 1, `not a condition`},
		{`service in "judge"`, 1, 9, ""},
		{`body matches "("`, 1, 6, "missing closing )"},
		{`service == "a" # x`, 1, 16, `unexpected token Operator("#")`},
		{"kind == \"span\" and\n  span.duration > 10x", 2, 19, `bad duration "10x"`},
		{`span.duration > 5s and stage == 3`, 1, 30, "mismatched types string and int"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.src)
		ce, ok := err.(*Error)
		if !ok {
			t.Errorf("%s: err = %v, want a compile error", tt.src, err)
			continue
		}
		if ce.Line != tt.line || ce.Col != tt.col || !strings.Contains(ce.Msg, tt.msg) {
			t.Errorf("%s: %d:%d %q, want %d:%d %q", tt.src, ce.Line, ce.Col, ce.Msg, tt.line, tt.col, tt.msg)
		}
		lines := strings.Split(tt.src, "\n")
		if want := "\n  " + lines[tt.line-1] + "\n  " + strings.Repeat(" ", tt.col-1) + "^"; !strings.HasSuffix(ce.Error(), want) {
			t.Errorf("%s: error does not point at the source: %s", tt.src, ce.Error())
		}
	}
}

func TestCondition_Fields(t *testing.T) {
	c, err := Compile(`kind == "span" and (span.duration > 10s or attr["a"] == 1 or attr["b"] == 2) and not level >= error`)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Fields(), ","); got != "kind,span.duration,attr,level" {
		t.Errorf("Fields() = %s", got)
	}
}

func TestCondition_Requires(t *testing.T) {
	for src, want := range map[string]string{
		`kind == "span" and stage == "judge" and span.duration > 10s`: "span",
		`stage == "judge" and (kind == "log")`:                        "log",
		`"log" == kind and level >= warn`:                             "log",
		`kind == "span" or level >= error`:                            "",
		`level >= error`:                                              "",
		`not kind == "span"`:                                          "",
		`not kind == "span" and level >= warn`:                        "",
	} {
		c, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := c.Requires("kind"); got != want {
			t.Errorf("%s: Requires(kind) = %q, want %q", src, got, want)
		}
	}
}

// Text gives the router's label and pattern values.
func TestRecord_Text(t *testing.T) {
	seq := uint32(7)
	rec := EnrichedRecord(&v1.EnrichedRecord{RecordId: "r1", Record: &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{
		SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_WARN, TraceId: []byte{0xab}, Resource: &v1.Resource{Container: "c"},
		Attributes: []*v1.KeyValue{intAttr("tenant.id", 42)}}}},
		Submission: &v1.Submission{SubmissionSeq: &seq, Stage: v1.Stage_STAGE_SCORE}, Sampling: &v1.Sampling{KeptBy: "error"}})
	for name, want := range map[string]string{"level": "warn", "submission_seq": "7", "trace_id": "ab", "container": "c", "tenant": "42",
		"kept_by": "error", "record_id": "r1", "stage": "score", "span.duration": "", "nope": ""} {
		if got := rec.Text(name); got != want {
			t.Errorf("Text(%s) = %q, want %q", name, got, want)
		}
	}
}

// The field functions never panic, on an empty record either: expr-lang
// turns a panic into an error, which would make a rule silently false.
func TestFields_EmptyRecord(t *testing.T) {
	for _, r := range []*Record{{}, {env: &v1.Envelope{}}} {
		for f, fn := range fieldFuncs {
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("%s on %+v: %v", f.name, r, p)
					}
				}()
				switch fn := fn.(type) {
				case func(any) string:
					fn((*env)(r))
				case func(any) int:
					fn((*env)(r))
				case func(any) any:
					fn((*env)(r))
				default:
					t.Errorf("%s: unexpected function type %T", f.name, fn)
				}
				_ = r.Text(f.name)
			}()
		}
		attrFunc((*env)(r), "k")
		resourceFunc((*env)(r), "k")
	}
}
