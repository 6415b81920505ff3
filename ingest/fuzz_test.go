package ingest

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

func fuzzServer(testing.TB) *Server {
	cfg := Default()
	return &Server{cfg: cfg, now: time.Now}
}

// FuzzNDJSON checks that any body maps every non-blank line to exactly one
// outcome, accepted or rejected, and that accepted records encode.
func FuzzNDJSON(f *testing.F) {
	for _, seed := range []string{
		`{"level":"info","ts":1799999000.5,"msg":"x","submit_id":"S1","trace_id":"0af7651916cd43dd8448eb211c80319c"}`,
		"{\"time\":\"2027-01-15T08:00:00Z\",\"msg\":\"a\"}\n\n{\"msg\":\"b\",\"nested\":{\"k\":[1,2.5,null,true]}}",
		`{"ts":"1e30"}`, `{"ts":-5}`, "\xff\xfe", `{"submission_seq":"x","stage":"weird"}`, `null`, `[1]`,
	} {
		f.Add([]byte(seed))
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		envs, lines, rejs := s.parseNDJSON(body, 1)
		nonBlank := 0
		for _, l := range bytes.Split(body, []byte("\n")) {
			if len(bytes.TrimSpace(bytes.TrimRight(l, "\r"))) > 0 {
				nonBlank++
			}
		}
		if len(envs)+len(rejs) != nonBlank || len(lines) != len(envs) {
			t.Fatalf("%d accepted + %d rejected for %d non-blank lines", len(envs), len(rejs), nonBlank)
		}
		recs, _ := s.prepare(envs, lines, nil)
		for _, r := range recs {
			if len(r.env.RecordId) != 32 {
				t.Fatalf("record id %q", r.env.RecordId)
			}
		}
	})
}

// FuzzOTLPJSON checks that the OTLP/JSON decoder never panics and that what
// it accepts maps to records that encode.
func FuzzOTLPJSON(f *testing.F) {
	f.Add([]byte(`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"judge"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","body":{"stringValue":"x"},"attributes":[{"key":"submit_id","value":{"intValue":"5"}}]}]}]}]}`))
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","kind":2,"status":{"code":2}}]}]}]}`))
	f.Add([]byte(`{"resource_logs":[{"scope_logs":[{"log_records":[{"traceId":"zz"},{"span_id":"abc"},{}]}]},{"scopeLogs":[{"logRecords":[{"spanId":"b7ad6b7169203331"}]}]}]}`))
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","links":[{"traceId":"x"}]}]}]}]}`))
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"kvlistValue":{"values":[{"key":"a","value":{"arrayValue":{}}}]}}}]}]}],"unknown":1}`))
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if logs, bad, err := decodeLogs(body, true, nil); err == nil {
			envs, pos, rejs := s.logsToEnvelopes(logs, 1, bad)
			total := logs.records
			// Every record has one outcome, whatever the decoder rejected.
			if len(envs)+len(rejs) != total || len(bad) > total {
				t.Fatalf("%d accepted + %d rejected (%d for ids) of %d records", len(envs), len(rejs), len(bad), total)
			}
			recs, _ := s.prepare(envs, pos, nil)
			for _, r := range recs {
				if _, err := proto.Marshal(r.env); err != nil {
					t.Fatalf("accepted log does not encode: %v", err)
				}
			}
		}
		if traces, bad, err := decodeTraces(body, true, nil); err == nil {
			envs, pos, _ := s.tracesToEnvelopes(traces, bad)
			s.prepare(envs, pos, nil)
		}
	})
}
