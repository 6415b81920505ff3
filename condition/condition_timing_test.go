package condition

import (
	"testing"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// benchSrc and the record of BenchmarkEval are those of the hand-written
// evaluator's BenchmarkEval it replaced (docs/BENCHMARKS.md): an info log
// of stage judge with http.status_code 200, so every disjunct runs.
const benchSrc = `level >= error or span.status == "error" or (stage == "judge" and span.duration > 10s) or attr["http.status_code"] in [500, 502, 504]`

func benchRecord() Record {
	env := &v1.Envelope{Record: &v1.Envelope_Log{Log: &v1.Log{SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_INFO,
		Submission: &v1.Submission{Stage: v1.Stage_STAGE_JUDGE}, Attributes: []*v1.KeyValue{intAttr("http.status_code", 200)}}}}
	return NewRecord(env, nil, nil)
}

func BenchmarkEval(b *testing.B) {
	c, err := Compile(benchSrc)
	if err != nil {
		b.Fatal(err)
	}
	r := benchRecord()
	m := AcquireMachine()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c.EvalWith(m, &r) {
			b.Fatal("matched")
		}
	}
}

// BenchmarkEval_Pooled is BenchmarkEval through Eval, which takes a
// machine from a pool (the router's path).
func BenchmarkEval_Pooled(b *testing.B) {
	c, err := Compile(benchSrc)
	if err != nil {
		b.Fatal(err)
	}
	r := benchRecord()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c.Eval(&r) {
			b.Fatal("matched")
		}
	}
}
