package enrich

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

func newTestProcessor(t *testing.T, rules RulesConfig) (*processor, *partState) {
	t.Helper()
	r, err := CompileRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	pr := &processor{cfg: cfg, rawTopic: "raw", m: newMetrics(prometheus.NewRegistry())}
	pr.rules.Store(r)
	return pr, newPartState("raw", 0, 0, 0)
}

var (
	t0    = time.Unix(1_800_000_000, 0)
	trace = []byte("0123456789abcdef")
)

func spanID(n byte) []byte { return []byte{0, 0, 0, 0, 0, 0, 0, n} }

func span(id, parent byte, name string, stage v1.Stage, dur time.Duration, status v1.StatusCode) *v1.Envelope {
	sp := &v1.Span{TraceId: trace, SpanId: spanID(id), Name: name, Service: "judge", StartTimeUnixNano: 100, EndTimeUnixNano: 100 + uint64(dur),
		Status: &v1.Status{Code: status}, Submission: &v1.Submission{SubmitId: "S1", UserId: "U1", Stage: stage}}
	if parent != 0 {
		sp.ParentSpanId = spanID(parent)
	}
	return &v1.Envelope{RecordId: fmt.Sprintf("span-%d", id), Record: &v1.Envelope_Span{Span: sp}}
}

func logIn(id string, spanRef byte, sev v1.SeverityNumber, body string) *v1.Envelope {
	l := &v1.Log{TimeUnixNano: 150, SeverityNumber: sev, Body: body, Service: "judge", TraceId: trace, Submission: &v1.Submission{SubmitId: "S1"}}
	if spanRef != 0 {
		l.SpanId = spanID(spanRef)
	}
	return &v1.Envelope{RecordId: id, Record: &v1.Envelope_Log{Log: l}}
}

// feed adds records in order and decides after the completion grace.
func feed(pr *processor, st *partState, recs ...*v1.Envelope) map[string]*v1.EnrichedRecord {
	for i, r := range recs {
		pr.addEnv(st, "S1", r, int64(i), 10, t0)
	}
	pr.decideDue(st, t0.Add(time.Hour))
	out := map[string]*v1.EnrichedRecord{}
	for _, o := range st.out {
		out[o.rec().GetRecordId()] = o.rec()
	}
	return out
}

var keepAll = RulesConfig{Tail: []TailRule{{Name: "all", When: `kind == "log" or kind == "span"`}}, Head: DefaultRules().Head}

func TestJoin_Orders(t *testing.T) {
	info := v1.SeverityNumber_SEVERITY_NUMBER_INFO
	ok := v1.StatusCode_STATUS_CODE_OK
	cases := []struct {
		name string
		recs []*v1.Envelope
		want map[string]string // log id -> joined span name ("" = missing)
	}{
		{"log before span", []*v1.Envelope{logIn("l1", 2, info, "x"), span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, ok), span(1, 0, "submission", 0, 2*time.Second, ok)},
			map[string]string{"l1": "judge"}},
		{"span before log", []*v1.Envelope{span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, ok), logIn("l1", 2, info, "x"), span(1, 0, "submission", 0, 2*time.Second, ok)},
			map[string]string{"l1": "judge"}},
		{"missing span", []*v1.Envelope{logIn("l1", 7, info, "x"), span(1, 0, "submission", 0, time.Second, ok)},
			map[string]string{"l1": ""}},
		{"orphan log without span id", []*v1.Envelope{logIn("l1", 0, info, "x"), span(1, 0, "submission", 0, time.Second, ok)},
			map[string]string{"l1": ""}},
		{"nested spans", []*v1.Envelope{logIn("l3", 3, info, "test 1"), span(3, 2, "run-test", v1.Stage_STAGE_JUDGE, 100*time.Millisecond, ok),
			logIn("l2", 2, info, "judging"), span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, ok), span(1, 0, "submission", 0, 2*time.Second, ok)},
			map[string]string{"l3": "run-test", "l2": "judge"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pr, st := newTestProcessor(t, keepAll)
			out := feed(pr, st, c.recs...)
			if len(out) != len(c.recs) {
				t.Fatalf("%d records out, want all %d", len(out), len(c.recs))
			}
			for id, wantSpan := range c.want {
				sc := out[id].GetSpan()
				if wantSpan == "" {
					if sc.GetJoin() != v1.JoinStatus_JOIN_STATUS_MISSING {
						t.Errorf("%s: join %v, want missing", id, sc.GetJoin())
					}
					continue
				}
				if sc.GetJoin() != v1.JoinStatus_JOIN_STATUS_JOINED || sc.GetName() != wantSpan || sc.GetDurationNanos() == 0 {
					t.Errorf("%s: span context %v, want joined to %s", id, sc, wantSpan)
				}
			}
			for _, r := range out {
				if r.GetRecord().GetSpan() != nil && r.GetSpan().GetJoin() != v1.JoinStatus_JOIN_STATUS_SELF {
					t.Errorf("span %s: join %v, want self", r.GetRecordId(), r.GetSpan().GetJoin())
				}
				if r.GetSubmission().GetUserId() != "U1" {
					t.Errorf("%s: submission context not completed from the spans: %v", r.GetRecordId(), r.GetSubmission())
				}
			}
		})
	}
}

func TestDecide_TailRules(t *testing.T) {
	info, errSev := v1.SeverityNumber_SEVERITY_NUMBER_INFO, v1.SeverityNumber_SEVERITY_NUMBER_ERROR
	ok, bad := v1.StatusCode_STATUS_CODE_OK, v1.StatusCode_STATUS_CODE_ERROR
	event := logIn("ev", 2, info, "container changed state")
	event.GetLog().Attributes = []*v1.KeyValue{{Key: "k8s.event.reason", Value: &v1.AnyValue{Value: &v1.AnyValue_StringValue{StringValue: "OOMKilled"}}}}
	cases := []struct {
		name string
		recs []*v1.Envelope
		want string
	}{
		{"error log", []*v1.Envelope{logIn("l", 2, errSev, "boom"), span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, ok), span(1, 0, "s", 0, time.Second, ok)}, "error"},
		{"error span", []*v1.Envelope{logIn("l", 2, info, "x"), span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, bad), span(1, 0, "s", 0, time.Second, ok)}, "error"},
		{"slow judge", []*v1.Envelope{logIn("l", 2, info, "x"), span(2, 1, "judge", v1.Stage_STAGE_JUDGE, 12*time.Second, ok), span(1, 0, "s", 0, 13*time.Second, ok)}, "slow_judge"},
		{"panic in body", []*v1.Envelope{logIn("l", 2, info, "sandbox: panic: index out of range"), span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, ok), span(1, 0, "s", 0, time.Second, ok)}, "crash"},
		{"OOMKilled event", []*v1.Envelope{event, span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, ok), span(1, 0, "s", 0, time.Second, ok)}, "crash"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pr, st := newTestProcessor(t, DefaultRules())
			out := feed(pr, st, c.recs...)
			if len(out) != len(c.recs) {
				t.Fatalf("%d of %d records kept: a tail rule keeps the whole submission", len(out), len(c.recs))
			}
			for _, r := range out {
				if r.GetSampling().GetKeptBy() != c.want || r.GetSampling().GetSampleWeight() != 1 {
					t.Errorf("%s: sampling %v, want kept_by %s", r.GetRecordId(), r.GetSampling(), c.want)
				}
			}
		})
	}
}

func TestHeadSampling_ConsistentPerSubmission(t *testing.T) {
	r, _ := CompileRules(DefaultRules())
	// The same key always gets the same number: in this process, and in any
	// other, since the hash is FNV-1a of the key and nothing else.
	if sampleHash("S1001") != sampleHash("S1001") || sampleHash("S1001") == sampleHash("S1002") {
		t.Fatal("sampleHash is not a function of the key")
	}
	const golden = 0.3565201109540992 // pinned: a change here changes every decision
	if got := sampleHash("S1001"); got != golden {
		t.Errorf("sampleHash(S1001) = %v, pinned %v", got, golden)
	}
	kept := map[string]int{}
	for i := 0; i < 10000; i++ {
		u := sampleHash(fmt.Sprintf("S%d", i))
		for _, lvl := range []struct {
			name string
			rank int
		}{{"warn", 4}, {"info", 3}, {"debug", 2}} {
			if u < r.HeadRate(lvl.rank, "judge") {
				kept[lvl.name]++
			}
		}
		// Monotonic: kept at info (0.1) implies kept at warn (0.5).
		if u < r.HeadRate(3, "judge") && !(u < r.HeadRate(4, "judge")) {
			t.Fatal("a record kept at a lower rate was dropped at a higher one")
		}
	}
	if kept["debug"] != 0 || kept["info"] < 900 || kept["info"] > 1100 || kept["warn"] < 4800 || kept["warn"] > 5200 {
		t.Errorf("kept per level of 10000 submissions = %v, want about 0, 1000, 5000", kept)
	}
	pr, st := newTestProcessor(t, DefaultRules())
	var recs []*v1.Envelope
	for i := 0; i < 5; i++ {
		recs = append(recs, logIn(fmt.Sprintf("w%d", i), 2, v1.SeverityNumber_SEVERITY_NUMBER_WARN, "w"))
	}
	out := feed(pr, st, append(recs, span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, v1.StatusCode_STATUS_CODE_OK),
		span(1, 0, "s", 0, time.Second, v1.StatusCode_STATUS_CODE_OK))...)
	warns := 0
	for id, r := range out {
		if id[0] == 'w' {
			warns++
			if r.GetSampling().GetKeptBy() != "head:0.5" || r.GetSampling().GetSampleWeight() != 2 {
				t.Errorf("sampling %v", r.GetSampling())
			}
		}
	}
	if warns != 0 && warns != 5 {
		t.Errorf("%d of 5 warn logs kept: a level is kept or dropped whole", warns)
	}
}

func TestRules_HotReloadKeepsPending(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	info := v1.SeverityNumber_SEVERITY_NUMBER_INFO
	pr.addEnv(st, "S1", logIn("l1", 2, info, "needle"), 0, 10, t0)
	pr.addEnv(st, "S1", span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, v1.StatusCode_STATUS_CODE_OK), 1, 10, t0)
	// A bad file does not compile; the processor keeps its rules.
	if _, err := ParseRules([]byte("tail:\n  - name: x\n    when: 'body contains'\n")); err == nil {
		t.Fatal("bad rules accepted")
	}
	good, err := ParseRules([]byte("tail:\n  - name: needle\n    when: 'body contains \"needle\"'\n"))
	if err != nil {
		t.Fatal(err)
	}
	pr.rules.Store(good)
	if len(st.subs) != 1 {
		t.Fatal("reload dropped pending state")
	}
	pr.addEnv(st, "S1", span(1, 0, "s", 0, time.Second, v1.StatusCode_STATUS_CODE_OK), 2, 10, t0)
	pr.decideDue(st, t0.Add(time.Hour))
	if len(st.out) != 3 || st.out[0].rec().GetSampling().GetKeptBy() != "needle" {
		t.Fatalf("after reload: %d out, kept_by %q", len(st.out), st.out[0].rec().GetSampling().GetKeptBy())
	}
}

func TestParseRules_Errors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"tail:\n  - name: a\n    when: 'level >= eror'\n", "tail[0] (a).when: column 10: unknown field \"eror\""},
		{"tail:\n  - when: 'level >= error'\n", "tail[0].name: required"},
		{"head:\n  levels: {info: 2}\n", "head.levels.info: 2 is not a rate between 0 and 1"},
		{"head:\n  levels: {verbose: 1}\n", `head.levels: "verbose" is not a level`},
		{"heads: {}\n", "heads: unknown key"},
	} {
		_, err := ParseRules([]byte(c.yaml))
		if err == nil || !contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.yaml, err, c.want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestLimits_DecideOldestEarly(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	pr.cfg.MaxPendingSubmissions = 2
	for i := 0; i < 4; i++ {
		key := fmt.Sprintf("S%d", i)
		env := logIn(fmt.Sprintf("l%d", i), 0, v1.SeverityNumber_SEVERITY_NUMBER_ERROR, "x")
		pr.addEnv(st, key, env, int64(i), 10, t0.Add(time.Duration(i)*time.Second))
	}
	pr.enforceLimits(map[int32]*partState{0: st}, t0.Add(time.Minute))
	if len(st.subs) != 2 || st.subs["S0"] != nil || st.subs["S1"] != nil {
		t.Fatalf("pending after limits: %v", len(st.subs))
	}
	// A tail rule that fired while pending names the decision even when
	// the limits force it (kept_by has no early: prefix then).
	if len(st.out) != 2 || st.out[0].rec().GetSampling().GetKeptBy() != "error" {
		t.Errorf("early decisions = %d, kept_by %q", len(st.out), st.out[0].rec().GetSampling().GetKeptBy())
	}
	if wm := st.watermark(); wm != 2 {
		t.Errorf("watermark %d, want 2 (the oldest still pending)", wm)
	}
}
