package enrich

import (
	"encoding/binary"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite enrich/testdata/enriched-*.golden from the current code")

// goldenInput is the raw input of TestEmit_MatchesGolden: the gen-like
// workload, plus records a third-party producer could write (fields out of
// order, unknown fields, a log without span or submission), a log whose
// span never comes, and a record after its submission's decision.
func goldenInput() (keys []string, values [][]byte, lateAt int) {
	keys, values = benchWorkload(3)
	add := func(key string, b []byte) {
		keys, values = append(keys, key), append(values, b)
	}
	env := func(e *v1.Envelope) []byte {
		b, err := proto.Marshal(e)
		if err != nil {
			panic(err)
		}
		return b
	}
	// A third-party envelope: the log first, then the record id, an
	// unknown field in the envelope and one in the log, the log's fields
	// in reverse order.
	var lg []byte
	sub, _ := proto.Marshal(&v1.Submission{SubmitId: "S000001", Stage: v1.Stage_STAGE_JUDGE, SubmissionSeq: proto.Uint32(0)})
	lg = protowire.AppendTag(lg, 12, protowire.BytesType)
	lg = protowire.AppendBytes(lg, sub)
	lg = protowire.AppendTag(lg, 7, protowire.BytesType)
	lg = protowire.AppendBytes(lg, []byte{1, 0, 0, 0, 0, 0, 1, 3}) // the judge span of S000001
	lg = protowire.AppendTag(lg, 5, protowire.BytesType)
	lg = protowire.AppendString(lg, "third party")
	lg = protowire.AppendTag(lg, 3, protowire.VarintType)
	lg = protowire.AppendVarint(lg, uint64(v1.SeverityNumber_SEVERITY_NUMBER_WARN))
	lg = protowire.AppendTag(lg, 99, protowire.VarintType)
	lg = protowire.AppendVarint(lg, 7)
	var tp []byte
	tp = protowire.AppendTag(tp, 10, protowire.BytesType)
	tp = protowire.AppendBytes(tp, lg)
	tp = protowire.AppendTag(tp, 2, protowire.BytesType)
	tp = protowire.AppendString(tp, "third-party-1")
	tp = protowire.AppendTag(tp, 100, protowire.BytesType)
	tp = protowire.AppendString(tp, "unknown")
	add("S000001", tp)
	// A log with only a body and a record id (no span, no submission, no
	// schema version), and one whose span never arrives.
	add("S000002", env(&v1.Envelope{RecordId: "bare", Record: &v1.Envelope_Log{Log: &v1.Log{Body: "bare"}}}))
	add("S000002", env(&v1.Envelope{SchemaVersion: 1, RecordId: "lost-span", Record: &v1.Envelope_Log{Log: &v1.Log{Body: "x", Service: "svc",
		SpanId: []byte{9, 9, 9, 9, 9, 9, 9, 9}, SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_ERROR, Submission: &v1.Submission{SubmitId: "S000002", UserId: "U9"}}}}))
	lateAt = len(values)
	// After the decision: a late log joining a known span, a late span.
	add("S000000", env(&v1.Envelope{RecordId: "late-log", Record: &v1.Envelope_Log{Log: &v1.Log{Body: "late", SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_ERROR,
		SpanId: []byte{0, 0, 0, 0, 0, 0, 1, 2}, Submission: &v1.Submission{SubmitId: "S000000"}}}}))
	add("S000000", env(&v1.Envelope{RecordId: "late-span", Record: &v1.Envelope_Span{Span: &v1.Span{SpanId: []byte{7, 7, 7, 7, 7, 7, 7, 7},
		ParentSpanId: []byte{1, 1, 1, 1, 1, 1, 1, 1}, Name: "retry", Service: "judge", StartTimeUnixNano: 5, EndTimeUnixNano: 9,
		Status: &v1.Status{Code: v1.StatusCode_STATUS_CODE_ERROR, Message: "boom"}}}}))
	return keys, values, lateAt
}

// goldenRun feeds goldenInput through a processor with rules and returns
// the enriched record values, in output order.
func goldenRun(t *testing.T, rules RulesConfig) [][]byte {
	t.Helper()
	keys, values, lateAt := goldenInput()
	pr, st := newTestProcessor(t, rules)
	pr.wall = func() time.Time { return t0.Add(time.Hour) }
	add := func(i int, now time.Time) {
		var env v1.Envelope
		raw, err := ownDecode(values[i], &env)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		pr.add(st, keys[i], &env, raw, int64(i), now)
	}
	for i := 0; i < lateAt; i++ {
		add(i, t0)
	}
	pr.decideDue(st, t0.Add(time.Hour))
	for i := lateAt; i < len(values); i++ {
		add(i, t0.Add(time.Hour))
	}
	var out [][]byte
	for _, o := range st.out {
		out = append(out, o.value)
	}
	return out
}

// TestEmit_MatchesGolden: the enriched records written for a fixed input
// decode (proto.Unmarshal) to what the code before the raw record was
// embedded verbatim produced (testdata/enriched-*.golden, written by it
// with -update-golden), third-party raw records included.
func TestEmit_MatchesGolden(t *testing.T) {
	for name, rules := range map[string]RulesConfig{"keepall": keepAll, "default": DefaultRules()} {
		t.Run(name, func(t *testing.T) {
			got := goldenRun(t, rules)
			path := filepath.Join("testdata", "enriched-"+name+".golden")
			if *updateGolden {
				var b []byte
				for _, v := range got {
					b = binary.AppendUvarint(b, uint64(len(v)))
					b = append(b, v...)
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want [][]byte
			for len(b) > 0 {
				n, k := binary.Uvarint(b)
				want, b = append(want, b[k:k+int(n)]), b[k+int(n):]
			}
			if len(got) != len(want) {
				t.Fatalf("%d records out, the golden file has %d", len(got), len(want))
			}
			for i := range want {
				var g, w v1.EnrichedRecord
				if err := proto.Unmarshal(got[i], &g); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if err := proto.Unmarshal(want[i], &w); err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(&g, &w) {
					t.Errorf("record %d (%s) differs:\n got %v\nwant %v", i, w.GetRecordId(), &g, &w)
				}
			}
			if name == "keepall" && len(want) < 80 {
				t.Errorf("only %d records in the golden file", len(want))
			}
		})
	}
}

// addEnv adds env as the raw record its wire form is (size is ignored:
// the wire form's is counted).
func (pr *processor) addEnv(st *partState, key string, env *v1.Envelope, offset int64, _ int, now time.Time) {
	b, err := proto.Marshal(env)
	if err != nil {
		panic(err)
	}
	pr.add(st, key, env, b, offset, now)
}

// rec decodes the enriched record o is.
func (o output) rec() *v1.EnrichedRecord {
	var r v1.EnrichedRecord
	if err := proto.Unmarshal(o.value, &r); err != nil {
		panic(err)
	}
	return &r
}

// FuzzEmit: any raw record the enricher holds and emits decodes
// (proto.Unmarshal) to the EnrichedRecord the code before the raw record
// was embedded verbatim built and marshalled (proto.Equal), built here as
// it did: the decoded envelope as field 3, joinContext, the merged
// submission cloned with the record's stage.
func FuzzEmit(f *testing.F) {
	_, values, _ := goldenInput()
	for _, v := range values {
		f.Add(v)
	}
	rules, err := CompileRules(keepAll)
	if err != nil {
		f.Fatal(err)
	}
	at := t0.Add(time.Hour)
	f.Fuzz(func(t *testing.T, b []byte) {
		var env v1.Envelope
		raw, err := ownDecode(b, &env)
		if err != nil || env.GetLog() == nil && env.GetSpan() == nil {
			return
		}
		pr, st := newTestProcessor(t, keepAll)
		pr.rules.Store(rules)
		pr.wall = func() time.Time { return at }
		pr.add(st, "K", &env, raw, 7, t0)
		sub := st.subs["K"]
		if sub == nil {
			t.Fatal("the record was not held")
		}
		ctxs, merged := sub.ctxs, proto.Clone(sub.merged()).(*v1.Submission)
		pr.decideDue(st, at)
		if len(st.out) != 1 {
			t.Fatalf("%d records out, want 1", len(st.out))
		}
		sc := joinContext(&env, ctxs)
		s := proto.Clone(merged).(*v1.Submission)
		s.Stage = env.Submission().GetStage()
		if s.Stage == v1.Stage_STAGE_UNSPECIFIED && sc != nil {
			s.Stage = sc.GetStage()
		}
		old, err := proto.Marshal(&v1.EnrichedRecord{SchemaVersion: v1.SchemaVersion, RecordId: env.GetRecordId(), Record: &env, Span: sc, Submission: s,
			Sampling: &v1.Sampling{KeptBy: "all", Rate: 1, SampleWeight: 1}, Source: &v1.SourcePosition{Topic: "raw", Offset: 7},
			EnrichedAtUnixNano: uint64(at.UnixNano())})
		if err != nil {
			return // the old code could not write it either
		}
		var got, want v1.EnrichedRecord
		if err := proto.Unmarshal(st.out[0].value, &got); err != nil {
			t.Fatalf("the enriched record does not decode: %v", err)
		}
		if err := proto.Unmarshal(old, &want); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&got, &want) {
			t.Fatalf("enriched record differs:\n got %v\nwant %v", &got, &want)
		}
	})
}

// Records are decoded without copying their strings (ownDecode): they
// point into the record's own raw copy, which lives as long as the held
// record. What outlives it (the decision's span contexts and submission
// context, trace links, interned service names) must be copies: after
// everything is decided, every raw copy is overwritten, and what is kept
// must still read right.
func TestAdd_KeptValuesOutliveTheRawRecords(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	var raws [][]byte
	add := func(key string, e *v1.Envelope, off int64) {
		t.Helper()
		b, err := proto.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var env v1.Envelope
		raw, err := ownDecode(b, &env)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
		pr.add(st, key, &env, raw, off, t0)
	}
	sub := &v1.Submission{SubmitId: "S1", UserId: "U1", ProblemId: "P1", Lang: "go", SubmissionSeq: proto.Uint32(3)}
	add("S1", &v1.Envelope{RecordId: "root", Record: &v1.Envelope_Span{Span: &v1.Span{TraceId: trace, SpanId: spanID(1), Name: "submission",
		Service: "gateway-svc", Submission: sub, Status: &v1.Status{Code: v1.StatusCode_STATUS_CODE_OK, Message: "fine"}}}}, 0)
	add("S1", &v1.Envelope{RecordId: "judge", Record: &v1.Envelope_Span{Span: &v1.Span{TraceId: trace, SpanId: spanID(2), ParentSpanId: spanID(1),
		Name: "judge", Service: "judge-svc", Submission: &v1.Submission{SubmitId: "S1", Stage: v1.Stage_STAGE_JUDGE},
		Status: &v1.Status{Code: v1.StatusCode_STATUS_CODE_OK, Message: "judged"}}}}, 1)
	add("S1", &v1.Envelope{RecordId: "log", Record: &v1.Envelope_Log{Log: &v1.Log{Body: "ok", Service: "judge-svc", SpanId: spanID(2),
		Submission: &v1.Submission{SubmitId: "S1", UserId: "U1"}}}}, 2)
	link := []byte{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}
	add(hex.EncodeToString(link), &v1.Envelope{Record: &v1.Envelope_TraceLink{TraceLink: &v1.TraceLink{TraceId: link,
		Submission: &v1.Submission{SubmitId: "S9", UserId: "U9"}}}}, 3)
	pr.decideDue(st, t0.Add(time.Minute)) // complete; the link is younger than link_ttl
	for _, raw := range raws {
		for i := range raw {
			raw[i] = 'X'
		}
	}
	dec := st.done["S1"]
	if dec == nil {
		t.Fatal("S1 not decided")
	}
	if s := dec.sub; s.GetSubmitId() != "S1" || s.GetUserId() != "U1" || s.GetProblemId() != "P1" || s.GetLang() != "go" || s.GetSubmissionSeq() != 3 {
		t.Errorf("the decision's submission context changed with the raw records: %v", s)
	}
	for k, want := range map[string][3]string{spanKey(spanID(1)): {"submission", "gateway-svc", "fine"}, spanKey(spanID(2)): {"judge", "judge-svc", "judged"}} {
		sc := dec.spans[k]
		if got := [3]string{sc.GetName(), sc.GetService(), sc.GetStatusMessage()}; got != want || spanKey(sc.GetSpanId()) != k {
			t.Errorf("the decision's span context changed with the raw records: %v", sc)
		}
	}
	if l := st.links[hex.EncodeToString(link)]; l == nil || l.sub.GetSubmitId() != "S9" || l.sub.GetUserId() != "U9" {
		t.Errorf("the trace link changed with the raw records: %+v", l)
	}
	for k, v := range st.names {
		if k != v || (k != "gateway-svc" && k != "judge-svc") {
			t.Errorf("interned name %q -> %q changed with the raw records", k, v)
		}
	}
}
