package enrich

import (
	"fmt"
	"google.golang.org/protobuf/proto"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

func outIDs(st *partState) map[string]int {
	ids := map[string]int{}
	for _, o := range st.out {
		ids[o.rec().GetRecordId()]++
	}
	return ids
}

// A tail rule that fires while the submission runs keeps it at once: what
// is there goes out at the next flush, later records as they arrive, logs
// waiting for their span until it arrives; everything once (fake time).
func TestLiveKeep_EmitsBeforeCompletion(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	info, errSev := v1.SeverityNumber_SEVERITY_NUMBER_INFO, v1.SeverityNumber_SEVERITY_NUMBER_ERROR
	ok := v1.StatusCode_STATUS_CODE_OK
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	var off int64
	add := func(env *v1.Envelope, s float64) {
		pr.addEnv(st, "S1", env, off, 100, at(s))
		off++
	}
	add(span(2, 1, "compile", v1.Stage_STAGE_COMPILE, time.Second, ok), 0)
	add(logIn("c1", 2, info, "compiled"), 0.1)
	if len(st.out) != 0 {
		t.Fatalf("%d records out before any tail rule fired", len(st.out))
	}
	add(logIn("j-err", 3, errSev, "wrong answer on test 7"), 1) // its span (3) has not arrived
	got := outIDs(st)
	if got["span-2"] != 1 || got["c1"] != 1 || got["j-err"] != 0 {
		t.Fatalf("after the error log: out %v, want span-2 and c1 (j-err waits for its span)", got)
	}
	if st.subs["S1"] == nil || len(st.subs["S1"].records) != 1 {
		t.Fatal("the submission must still be pending, holding only the log that waits for its span")
	}
	add(span(3, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, ok), 2)
	add(logIn("j2", 3, info, "test 8 passed"), 2.5)
	got = outIDs(st)
	if got["span-3"] != 1 || got["j-err"] != 1 || got["j2"] != 1 {
		t.Fatalf("after the judge span: out %v, want span-3, j-err and j2 too", got)
	}
	for _, o := range st.out {
		if o.rec().GetRecordId() == "j-err" && o.rec().GetSpan().GetJoin() != v1.JoinStatus_JOIN_STATUS_JOINED {
			t.Errorf("j-err went out unjoined: %v", o.rec().GetSpan())
		}
		if o.rec().GetSampling().GetKeptBy() != "error" {
			t.Errorf("%s kept_by %q, want error", o.rec().GetRecordId(), o.rec().GetSampling().GetKeptBy())
		}
	}
	// Still running: nothing is decided yet.
	pr.decideDue(st, at(3))
	if st.subs["S1"] == nil {
		t.Fatal("decided before completion")
	}
	add(span(1, 0, "submission", 0, 4*time.Second, ok), 4)
	pr.decideDue(st, at(4).Add(pr.cfg.CompletionGrace))
	got = outIDs(st)
	if len(got) != 6 {
		t.Errorf("out %v, want all 6 records", got)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s emitted %d times", id, n)
		}
	}
	if n := testutil.ToFloat64(pr.m.liveEmitted); n != 6 {
		t.Errorf("live records = %v, want all 6 (each went out as it arrived)", n)
	}
}

// Live records carry the submission's user: nothing goes out before some
// record named it.
func TestLiveKeep_WaitsForTheUser(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	noUser := logIn("e1", 0, v1.SeverityNumber_SEVERITY_NUMBER_ERROR, "boom")
	pr.addEnv(st, "S1", noUser, 0, 100, t0)
	if len(st.out) != 0 {
		t.Fatalf("%d records out before the user was known", len(st.out))
	}
	pr.addEnv(st, "S1", span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, v1.StatusCode_STATUS_CODE_OK), 1, 100, t0)
	for _, o := range st.out {
		if o.rec().GetSubmission().GetUserId() != "U1" {
			t.Errorf("%s went out without the user: %v", o.rec().GetRecordId(), o.rec().GetSubmission())
		}
	}
	if len(st.out) != 2 {
		t.Errorf("%d out, want both once the span named the user", len(st.out))
	}
}

// The span tree decides completion: a root that arrives before its
// children (the root service's exporter flushed first) does not complete
// a submission whose spans reference a parent that is not there.
func TestCompletion_SpanTreeClosed(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	ok := v1.StatusCode_STATUS_CODE_OK
	grace := pr.cfg.CompletionGrace
	pr.addEnv(st, "S1", span(1, 0, "submission", 0, time.Second, ok), 0, 10, t0)
	sub := st.subs["S1"]
	if !sub.completeAt.Equal(t0.Add(grace)) {
		t.Fatalf("root alone: complete at %v, want root + grace", sub.completeAt)
	}
	// A run-test span whose parent (the judge span) is not there yet.
	pr.addEnv(st, "S1", span(3, 2, "run-test", v1.Stage_STAGE_JUDGE, time.Second, ok), 1, 10, t0.Add(time.Second))
	if !sub.completeAt.IsZero() {
		t.Fatalf("a parent is missing, yet complete at %v", sub.completeAt)
	}
	pr.decideDue(st, t0.Add(grace+2*time.Second))
	if st.subs["S1"] == nil {
		t.Fatal("decided while a referenced parent was missing")
	}
	pr.addEnv(st, "S1", span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, ok), 2, 10, t0.Add(5*time.Second))
	if want := t0.Add(5*time.Second + grace); !sub.completeAt.Equal(want) {
		t.Fatalf("tree closed: complete at %v, want %v", sub.completeAt, want)
	}
}

// A submission without spans completes on the rules' completion
// expression (default: a record of the feedback stage).
func TestCompletion_LogsOnly(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	l := logIn("f", 0, v1.SeverityNumber_SEVERITY_NUMBER_INFO, "verdict sent")
	pr.addEnv(st, "S1", logIn("a", 0, v1.SeverityNumber_SEVERITY_NUMBER_INFO, "queued"), 0, 10, t0)
	if !st.subs["S1"].completeAt.IsZero() {
		t.Fatal("complete without evidence")
	}
	l.GetLog().Submission.Stage = v1.Stage_STAGE_FEEDBACK
	pr.addEnv(st, "S1", l, 1, 10, t0.Add(time.Second))
	if want := t0.Add(time.Second + pr.cfg.CompletionGrace); !st.subs["S1"].completeAt.Equal(want) {
		t.Fatalf("complete at %v, want %v", st.subs["S1"].completeAt, want)
	}
}

// Client retries send the same records again: pending or decided, a record
// id already seen for the submission is not emitted again.
func TestRetries_SameBatchThreeTimes(t *testing.T) {
	pr, st := newTestProcessor(t, keepAll)
	batch := []*v1.Envelope{span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, v1.StatusCode_STATUS_CODE_OK),
		logIn("l1", 2, v1.SeverityNumber_SEVERITY_NUMBER_INFO, "x"), span(1, 0, "s", 0, time.Second, v1.StatusCode_STATUS_CODE_OK)}
	var off int64
	send := func(now time.Time) {
		for _, r := range batch {
			pr.addEnv(st, "S1", r, off, 10, now)
			off++
		}
	}
	send(t0)
	send(t0.Add(time.Second)) // retried while pending
	pr.decideDue(st, t0.Add(time.Hour))
	send(t0.Add(time.Hour + time.Minute)) // retried after the decision
	got := outIDs(st)
	if len(got) != 3 {
		t.Errorf("out %v, want the 3 records", got)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s emitted %d times", id, n)
		}
	}
	if n := testutil.ToFloat64(pr.m.retried); n != 6 {
		t.Errorf("retried = %v, want 6", n)
	}
}

// A record that fires a tail rule after its submission was head-sampled
// upgrades the decision: the dropped records are queued for a re-read, the
// watermark holds at the trigger until then, and later records follow the
// upgraded decision.
func TestLateUpgrade_QueuesDroppedOffsets(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	key := ""
	for i := 0; key == ""; i++ {
		if k := fmt.Sprintf("S%d", i); sampleHash(k) > 0.6 { // drops info and warn
			key = k
		}
	}
	ok := v1.StatusCode_STATUS_CODE_OK
	recs := []*v1.Envelope{span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, ok), logIn("l1", 2, v1.SeverityNumber_SEVERITY_NUMBER_INFO, "x"),
		span(1, 0, "s", 0, time.Second, ok)}
	for i, r := range recs {
		pr.addEnv(st, key, r, int64(i), 10, t0)
	}
	pr.decideDue(st, t0.Add(time.Minute))
	if len(st.out) != 0 {
		t.Fatalf("%d records kept by head sampling; the key was picked to drop them", len(st.out))
	}
	pr.addEnv(st, key, logIn("late-err", 2, v1.SeverityNumber_SEVERITY_NUMBER_ERROR, "judge crashed"), 3, 10, t0.Add(2*time.Minute))
	if len(st.out) != 1 || st.out[0].rec().GetSampling().GetKeptBy() != "late:error" {
		t.Fatalf("late record: %d out, want it kept by late:error", len(st.out))
	}
	if len(st.upgrades) != 1 || fmt.Sprint(st.upgrades[0].offsets) != "[0 1 2]" || st.upgrades[0].trigger != 3 {
		t.Fatalf("upgrades %v, want the 3 dropped offsets, triggered at 3", st.upgrades)
	}
	if wm := st.watermark(); wm != 3 {
		t.Errorf("watermark %d, want 3 (held at the trigger until the re-read)", wm)
	}
	for i, r := range recs {
		b, _ := proto.Marshal(r)
		pr.upgraded(st, st.upgrades[0], r, b, int64(i), t0.Add(2*time.Minute))
	}
	st.upgrades = nil
	if len(st.out) != 4 {
		t.Errorf("%d out after the upgrade, want 4", len(st.out))
	}
	for _, o := range st.out {
		if o.rec().GetSampling().GetKeptBy() != "late:error" {
			t.Errorf("%s kept_by %q", o.rec().GetRecordId(), o.rec().GetSampling().GetKeptBy())
		}
	}
}

// The documented example rules file parses, completion expression included.
func TestRules_ExampleFileParses(t *testing.T) {
	r, err := LoadRules("../deploy/rules.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r.completion == nil {
		t.Error("the example's completion expression was not compiled")
	}
}
