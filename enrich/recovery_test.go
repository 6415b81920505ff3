package enrich

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Regression (review): a context-only record moved to its submission by a committed
// transaction (trigger = the record itself, link read earlier) is emitted a
// second time, on its own, by the next owner when the link lies before the
// committed watermark: x only suppresses moves, and without the link the
// record is not a move but an orphan submission.
func TestRecovery_MovedContextOnlyRecordNotEmittedAgain(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	tkey := hex.EncodeToString(trace)
	link := &v1.Envelope{Record: &v1.Envelope_TraceLink{TraceLink: &v1.TraceLink{TraceId: trace,
		Submission: &v1.Submission{SubmitId: "S1", UserId: "U1"}}}}
	ctxOnly := &v1.Envelope{RecordId: "ctx-err", Record: &v1.Envelope_Log{Log: &v1.Log{TimeUnixNano: 5,
		SeverityNumber: v1.SeverityNumber_SEVERITY_NUMBER_ERROR, Body: "boom", Service: "judge", TraceId: trace, SpanId: spanID(2)}}}
	recs := []struct {
		key string
		env *v1.Envelope
	}{
		{tkey, link}, // 0: the link (holds nothing)
		{"B", logEnv("b1", "B", v1.SeverityNumber_SEVERITY_NUMBER_INFO)}, // 1: another submission, still pending at the commit
		{tkey, ctxOnly}, // 2: moved at once (link known), trigger 2
	}
	feedFrom := func(st *partState, from int64) {
		for i := from; i < int64(len(recs)); i++ {
			pr.addEnv(st, recs[i].key, recs[i].env, i, 100, t0)
		}
	}
	feedFrom(st, 0)
	if len(st.extra) != 1 {
		t.Fatalf("%d records queued elsewhere, want the moved ctx-err", len(st.extra))
	}
	// The flush: one committed transaction with the move and the watermark.
	wm := st.watermark()
	meta, err := parseCommitMeta(st.commitMetadata(wm).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("committed offset %d, metadata %s", wm, st.commitMetadata(wm))
	// Crash. The next owner (as recover does) resumes at wm with x.
	st2 := newPartState("raw", 0, wm, 0)
	st2.movedBelow = max(meta.movedBelow, 0)
	for i := max(meta.linksFrom, 0); meta.linksFrom >= 0 && i < wm; i++ {
		if l := recs[i].env.GetTraceLink(); l != nil {
			pr.restoreLink(st2, l, i, t0)
		}
	}
	feedFrom(st2, wm)
	pr.decideDue(st2, t0.Add(time.Hour))
	if n := outIDs(st2)["ctx-err"]; n != 0 {
		t.Errorf("ctx-err, already moved to S1's partition by a committed transaction, emitted again %d time(s) on its own (key %s)", n, tkey)
	}
	if len(st2.extra) != 0 {
		t.Errorf("moved again: %d extra", len(st2.extra))
	}
}

func enrichedRec(t *testing.T, key, id string, env *v1.Envelope, keptBy string, rawOff, enrOff int64) *kgo.Record {
	er := &v1.EnrichedRecord{SchemaVersion: v1.SchemaVersion, RecordId: id, Record: env, Submission: env.Submission(),
		Sampling: &v1.Sampling{KeptBy: keptBy}, Source: &v1.SourcePosition{Topic: "raw", Partition: 0, Offset: rawOff}}
	b, err := proto.Marshal(er)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Key: []byte(key), Value: b, Offset: enrOff}
}

// Regression (review): recovery rebuilds a submission's decision from the first enriched
// record it meets, so an upgraded decision (late:error) is forgotten if a
// head-kept record of the submission comes first: later records are
// head-sampled again instead of following the upgrade.
func TestRecovery_KeepsLateUpgrade(t *testing.T) {
	pr, _ := newTestProcessor(t, DefaultRules())
	key := ""
	for i := 0; key == ""; i++ {
		if k := fmt.Sprintf("S%d", i); sampleHash(k) > 0.1 && sampleHash(k) < 0.5 { // keeps warn, drops info
			key = k
		}
	}
	warn := logIn("w1", 0, v1.SeverityNumber_SEVERITY_NUMBER_WARN, "slow")
	lateErr := logIn("late-err", 0, v1.SeverityNumber_SEVERITY_NUMBER_ERROR, "panic")
	st := newPartState("raw", 0, 0, 2)
	st.remember(enrichedRec(t, key, "w1", warn, "head:0.5", 1, 0), t0)
	st.remember(enrichedRec(t, key, "late-err", lateErr, "late:error", 5, 1), t0)
	pr.addEnv(st, key, logIn("i9", 0, v1.SeverityNumber_SEVERITY_NUMBER_INFO, "later"), 6, 10, t0)
	if len(st.out) != 1 {
		t.Fatalf("info record after an upgrade to late:error not emitted after recovery (decision rebuilt as keptBy=%q late=%v)",
			st.done[key].keptBy, st.done[key].late)
	}
	if kb := st.out[0].rec().GetSampling().GetKeptBy(); kb != "late:error" {
		t.Errorf("kept_by %q, want late:error", kb)
	}
}

// Regression (review): even alone, a recovered late:<rule> decision loses its late: prefix.
func TestRecovery_KeepsLatePrefix(t *testing.T) {
	pr, _ := newTestProcessor(t, DefaultRules())
	lateErr := logIn("late-err", 0, v1.SeverityNumber_SEVERITY_NUMBER_ERROR, "panic")
	st := newPartState("raw", 0, 0, 1)
	st.remember(enrichedRec(t, "S1", "late-err", lateErr, "late:error", 5, 0), t0)
	pr.addEnv(st, "S1", logIn("i9", 0, v1.SeverityNumber_SEVERITY_NUMBER_INFO, "later"), 6, 10, t0)
	if len(st.out) != 1 || st.out[0].rec().GetSampling().GetKeptBy() != "late:error" {
		t.Errorf("out %v, want i9 kept_by late:error", st.out)
	}
}

// Regression (review): trace links count in decidedBytes but are never forgotten to keep
// decisions within their quarter: normal link traffic evicts every
// decision (before decided_ttl) and then forces every pending submission
// to be decided early.
func TestLimits_LinksHaveTheirOwnBudget(t *testing.T) {
	pr, st := newTestProcessor(t, DefaultRules())
	pr.cfg.MaxPendingBytes = 1 << 20
	for i := 0; i < 6000; i++ { // 6000 submissions' links in decided_ttl
		id := []byte(fmt.Sprintf("trace-%010d", i))
		pr.addEnv(st, hex.EncodeToString(id), &v1.Envelope{Record: &v1.Envelope_TraceLink{TraceLink: &v1.TraceLink{TraceId: id,
			Submission: &v1.Submission{SubmitId: fmt.Sprintf("X%d", i)}}}}, int64(i), 60, t0)
	}
	pr.addEnv(st, "S1", span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, v1.StatusCode_STATUS_CODE_OK), 6000, 100, t0)
	pr.enforceLimits(map[int32]*partState{0: st}, t0)
	if st.subs["S1"] == nil {
		t.Errorf("a fresh submission (1 record) decided early at once: links hold %d bytes of %d", st.decidedBytes, pr.cfg.MaxPendingBytes)
	}
}

// A submission kept live by the previous owner continues after a
// rebalance: a log read again that waits for its span still waits for it
// (it used to go out at once, unjoined, as a late record of the rebuilt
// decision), and what was out is not emitted again.
func TestRecovery_LiveKeepResumes(t *testing.T) {
	pr, _ := newTestProcessor(t, DefaultRules())
	errLog := logIn("e1", 2, v1.SeverityNumber_SEVERITY_NUMBER_ERROR, "boom")
	judge := span(2, 1, "judge", v1.Stage_STAGE_JUDGE, time.Second, v1.StatusCode_STATUS_CODE_OK)
	st := newPartState("raw", 0, 0, 2)
	st.remember(enrichedRec(t, "S1", "e1", errLog, "error", 0, 0), t0)
	st.remember(enrichedRec(t, "S1", "span-2", judge, "error", 1, 1), t0)
	// Read again from the watermark (0).
	pr.addEnv(st, "S1", errLog, 0, 10, t0)
	pr.addEnv(st, "S1", judge, 1, 10, t0)
	pr.addEnv(st, "S1", logIn("l3", 3, v1.SeverityNumber_SEVERITY_NUMBER_INFO, "test 3"), 2, 10, t0)
	if len(st.out) != 0 {
		t.Fatalf("out %v: e1 and span-2 were out already, l3 waits for its span", outIDs(st))
	}
	pr.addEnv(st, "S1", span(3, 2, "run-test", v1.Stage_STAGE_JUDGE, time.Second, v1.StatusCode_STATUS_CODE_OK), 3, 10, t0)
	got := outIDs(st)
	if len(got) != 2 || got["l3"] != 1 || got["span-3"] != 1 {
		t.Fatalf("out %v, want l3 and span-3 once", got)
	}
	for _, o := range st.out {
		if o.rec().GetSampling().GetKeptBy() != "error" {
			t.Errorf("%s kept_by %q", o.rec().GetRecordId(), o.rec().GetSampling().GetKeptBy())
		}
		if o.rec().GetRecordId() == "l3" && o.rec().GetSpan().GetJoin() != v1.JoinStatus_JOIN_STATUS_JOINED {
			t.Errorf("l3 unjoined: %v", o.rec().GetSpan())
		}
	}
}

// The record ids a recovery found out are counted while they can match a
// record read again, and released once the partition is read past them.
func TestRecovery_EmittedSetReleasedPastItsOffsets(t *testing.T) {
	pr, _ := newTestProcessor(t, DefaultRules())
	st := newPartState("raw", 0, 0, 2)
	e1 := logIn("e1", 0, v1.SeverityNumber_SEVERITY_NUMBER_ERROR, "boom")
	st.remember(enrichedRec(t, "S1", "e1", e1, "error", 3, 0), t0)
	if st.emittedBytes == 0 || st.held() < st.emittedBytes {
		t.Fatalf("the recovered ids are not counted: %d bytes, held %d", st.emittedBytes, st.held())
	}
	pr.addEnv(st, "S1", e1, 3, 10, t0) // read again: skipped
	if len(st.out) != 0 || len(st.emitted) != 1 {
		t.Fatalf("at the last recovered offset: out %d, emitted %d", len(st.out), len(st.emitted))
	}
	pr.addEnv(st, "S2", logIn("x", 0, v1.SeverityNumber_SEVERITY_NUMBER_INFO, "x"), 4, 10, t0)
	if len(st.emitted) != 0 || st.emittedBytes != 0 {
		t.Errorf("past every recovered offset the set is still held: %d ids, %d bytes", len(st.emitted), st.emittedBytes)
	}
}

// A late upgrade whose re-read is cut short by a stop keeps holding the
// watermark at its trigger for the final commit; one that gave up (the
// reader could not even start here) releases it.
func TestUpgrade_StopKeepsTheWatermarkHeld(t *testing.T) {
	pr, _ := newTestProcessor(t, DefaultRules())
	newEnricher := func() (*Enricher, *partState) {
		st := newPartState("raw", 0, 0, 0)
		st.head = 10
		st.upgrades = []*upgrade{{key: "S1", dec: &decision{spans: map[string]*v1.SpanContext{}}, offsets: []int64{2, 3}, trigger: 7}}
		e := &Enricher{pr: pr, logger: slog.New(slog.DiscardHandler), states: map[int32]*partState{0: st}, topics: testTopicNames,
			base: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1"), kgo.DialTimeout(100 * time.Millisecond)}}
		return e, st
	}
	e, st := newEnricher()
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	e.runUpgrades(stopped, t0)
	if wm := st.watermark(); wm != 7 {
		t.Errorf("after a stop during the re-read the watermark is %d, want 7 (the trigger)", wm)
	}
	e, st = newEnricher()
	ctx, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	e.runUpgrades(ctx, t0)
	if wm := st.watermark(); wm != 10 {
		t.Errorf("after the re-read gave up the watermark is %d, want 10", wm)
	}
}
