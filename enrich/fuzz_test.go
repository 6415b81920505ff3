package enrich

import (
	"testing"

	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// FuzzParseCommitMeta checks the parser of the commit metadata (read back
// from Kafka, where any tool may have written it): it never panics, and
// what it accepts renders to a string that parses to the same metadata.
func FuzzParseCommitMeta(f *testing.F) {
	for _, s := range []string{"lw1:e=5", "lw1:e=5,t=9,x=3", "lw1:e=-1", "lw1:e=5,,", "lw1:", "other", "lw1:e=99999999999999999999", "lw1:t=1,e=2,z=7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseCommitMeta(s)
		if err != nil {
			return
		}
		again, err := parseCommitMeta(m.String())
		if err != nil {
			t.Fatalf("%q parsed to %+v, whose String %q does not parse: %v", s, m, m.String(), err)
		}
		if again != m {
			t.Fatalf("%q parsed to %+v, its String %q to %+v", s, m, m.String(), again)
		}
	})
}

// FuzzEnvelope checks what the enricher does with a raw record's value:
// decoding any bytes never panics, and an envelope that decodes can be read
// by every accessor the join and the sampling rules use.
func FuzzEnvelope(f *testing.F) {
	log, _ := proto.Marshal(&v1.Envelope{RecordId: "r1", Record: &v1.Envelope_Log{Log: &v1.Log{Body: "panic: x", SeverityText: "error", Service: "judge"}}})
	span, _ := proto.Marshal(&v1.Envelope{RecordId: "r2", Record: &v1.Envelope_Span{Span: &v1.Span{Name: "judge", TraceId: make([]byte, 16), SpanId: []byte{1}, EndTimeUnixNano: 1, StartTimeUnixNano: 5}}})
	f.Add(log)
	f.Add(span)
	link, _ := proto.Marshal(&v1.Envelope{Record: &v1.Envelope_TraceLink{TraceLink: &v1.TraceLink{TraceId: make([]byte, 16)}}})
	f.Add(link)
	f.Add([]byte{0x1a, 0x00})
	rules, err := CompileRules(DefaultRules())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var env v1.Envelope
		if proto.Unmarshal(b, &env) != nil || env.GetRecord() == nil {
			return
		}
		_, _, _ = env.Kind(), env.Service(), env.EventTimeUnixNano()
		_, _, _ = env.TraceID(), env.Attributes(), env.Resource()
		merged := env.Submission()
		if merged == nil {
			merged = &v1.Submission{} // the join always has a merged context
		}
		sub := proto.Clone(merged).(*v1.Submission)
		sub.Stage = env.Submission().GetStage()
		rules.TailMatch(&env, nil, sub)
		rules.Completes(&env, sub)
		rules.HeadRate(env.LevelRank(), env.Service())
	})
}
