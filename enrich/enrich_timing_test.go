package enrich

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// benchWorkload encodes n submissions shaped like gen's: a root and four
// stage spans, six logs per stage at mixed levels, one in ten with an
// error.
func benchWorkload(n int) (keys []string, values [][]byte) {
	levels := []v1.SeverityNumber{v1.SeverityNumber_SEVERITY_NUMBER_INFO, v1.SeverityNumber_SEVERITY_NUMBER_DEBUG,
		v1.SeverityNumber_SEVERITY_NUMBER_INFO, v1.SeverityNumber_SEVERITY_NUMBER_WARN}
	stages := []v1.Stage{v1.Stage_STAGE_COMPILE, v1.Stage_STAGE_JUDGE, v1.Stage_STAGE_SCORE, v1.Stage_STAGE_FEEDBACK}
	for s := 0; s < n; s++ {
		key := fmt.Sprintf("S%06d", s)
		sub := &v1.Submission{SubmitId: key, UserId: "U1", Lang: "go"}
		tr := []byte(fmt.Sprintf("%016d", s))
		add := func(env *v1.Envelope) {
			b, _ := proto.Marshal(env)
			keys, values = append(keys, key), append(values, b)
		}
		for i, st := range stages {
			sid := []byte{byte(s), byte(s >> 8), byte(s >> 16), 0, 0, 0, 1, byte(i + 2)}
			for j := 0; j < 6; j++ {
				sev := levels[j%len(levels)]
				if s%10 == 0 && i == 1 && j == 5 {
					sev = v1.SeverityNumber_SEVERITY_NUMBER_ERROR
				}
				add(&v1.Envelope{RecordId: fmt.Sprintf("%s-%d-%d", key, i, j), Record: &v1.Envelope_Log{Log: &v1.Log{
					TimeUnixNano: uint64(1e18 + s), SeverityNumber: sev, Body: "test passed in 12ms", TraceId: tr, SpanId: sid,
					Service: "judge", Resource: &v1.Resource{Namespace: "oj", Pod: "judge-1"}, Submission: &v1.Submission{SubmitId: key, Stage: st},
					Attributes: []*v1.KeyValue{{Key: "test", Value: &v1.AnyValue{Value: &v1.AnyValue_IntValue{IntValue: int64(j)}}}}}}})
			}
			add(&v1.Envelope{RecordId: fmt.Sprintf("%s-s%d", key, i), Record: &v1.Envelope_Span{Span: &v1.Span{TraceId: tr, SpanId: sid,
				ParentSpanId: []byte{1, 1, 1, 1, 1, 1, 1, 1}, Name: st.Name(), StartTimeUnixNano: 1e18, EndTimeUnixNano: 1e18 + 5e8,
				Service: "judge", Submission: sub, Status: &v1.Status{Code: v1.StatusCode_STATUS_CODE_OK}}}})
		}
		add(&v1.Envelope{RecordId: key + "-root", Record: &v1.Envelope_Span{Span: &v1.Span{TraceId: tr, SpanId: []byte{1, 1, 1, 1, 1, 1, 1, 1},
			Name: "submission", StartTimeUnixNano: 1e18, EndTimeUnixNano: 1e18 + 3e9, Service: "gateway", Submission: sub}}})
	}
	return keys, values
}

// BenchmarkEnrichPerRecord measures the per-record path without Kafka:
// decode the raw record, add it to its submission, decide, and encode what
// is kept.
func BenchmarkEnrichPerRecord(b *testing.B) {
	keys, values := benchWorkload(200)
	var bytes int64
	for _, v := range values {
		bytes += int64(len(v))
	}
	b.SetBytes(bytes / int64(len(values)))
	b.ReportAllocs()
	pr, _ := newTestProcessor(&testing.T{}, DefaultRules())
	now := time.Unix(1_800_000_000, 0)
	b.ResetTimer()
	n := 0
	for n < b.N {
		st := newPartState("raw", 0, 0, 0)
		for i := 0; i < len(values) && n < b.N; i++ {
			var env v1.Envelope
			raw, err := st.decodeOwn([]byte(keys[i]), values[i], &env) // as Enricher.take does
			if err != nil {
				b.Fatal(err)
			}
			pr.add(st, keys[i], &env, raw, int64(i), now)
			n++
		}
		pr.decideDue(st, now.Add(time.Minute))
		for _, o := range st.out {
			if len(o.value) == 0 { // encoded when emitted
				b.Fatal("empty enriched record")
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
