package enrich

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/proto"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// skewClock is the wall clock moved ahead by hand; it counts its reads.
type skewClock struct {
	ahead atomic.Int64
	reads atomic.Int64
}

func (c *skewClock) Now() time.Time {
	c.reads.Add(1)
	return time.Now().Add(time.Duration(c.ahead.Load()))
}

// headDroppedKey is a submission key whose spans and info logs head
// sampling drops (default rates: info 0.1).
func headDroppedKey(t *testing.T) string {
	t.Helper()
	for i := 0; ; i++ {
		if k := fmt.Sprintf("S-clock-%d", i); sampleHash(k) > 0.6 {
			return k
		}
	}
}

func errorLog(id, submit string) *v1.Envelope {
	return logEnv(id, submit, v1.SeverityNumber_SEVERITY_NUMBER_ERROR)
}

// A member that cannot read (here: every fetch held by the broker) must
// not decide a submission on the wall clock while the submission's next
// record waits unread in Kafka: the decision waits for the partition's
// read clock. The submission's span tree closed, its grace (5s) passed on
// the wall clock six times over, and its error log was already in Kafka:
// the submission is kept by the error rule, whole. Before the read clock
// the stalled member head-sampled it (span and info log dropped), and the
// error log only upgraded it afterwards ("late:error"); a new owner in
// between would have lost the dropped records (chaos run at 300
// submissions/s, 49 records lost around a broker restart).
func TestClock_StalledMemberDoesNotDecide(t *testing.T) {
	v := newEnv(t)
	cfg := testEnrichConfig()
	// A grace long enough that the span and the info log, produced one
	// after the other, are one submission on a loaded machine; far shorter
	// than the 30 s the stalled member's clock is moved.
	cfg.CompletionGrace = 5 * time.Second
	clock := &skewClock{}
	// The broker cannot say where the partitions end either (as during
	// a broker restart): the read clock moves only with what is read.
	var cannotAnswer atomic.Bool
	cannotAnswer.Store(true)
	e := v.startEnricher(cfg, func(e *Enricher) {
		e.now = clock.Now
		realEnds := e.listEnds
		e.listEnds = func(ctx context.Context) (kadm.ListedOffsets, error) {
			if cannotAnswer.Load() {
				return nil, errors.New("broker unavailable")
			}
			return realEnds(ctx)
		}
	}).e

	key := headDroppedKey(t)
	prod := v.cluster.Client()
	v.produceRaw(prod, key, rootSpan("root", key))
	v.produceRaw(prod, key, logEnv("info", key, v1.SeverityNumber_SEVERITY_NUMBER_INFO))
	waitFor(t, 30*time.Second, "the enricher to read the span and the info log", func() bool { return e.Stats().Consumed >= 2 })

	// Hold every fetch from now on; once one is held, nothing more is
	// read (franz-go fetches one request at a time per broker).
	release := make(chan struct{})
	var held atomic.Int64
	v.cluster.ControlKey(kmsg.Fetch.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		v.cluster.KeepControl()
		held.Add(1)
		v.cluster.SleepControl(func() { <-release })
		return nil, nil, false
	})
	waitFor(t, 30*time.Second, "a fetch to be held", func() bool { return held.Load() > 0 })
	v.produceRaw(prod, key, errorLog("err", key))

	// Thirty seconds pass on the member's clock while it cannot read; the
	// loop runs on (each turn reads the clock).
	clock.ahead.Store(int64(30 * time.Second))
	reads := clock.reads.Load()
	waitFor(t, 30*time.Second, "the loop to run 20 turns", func() bool { return clock.reads.Load() > reads+20 })
	close(release)
	cannotAnswer.Store(false)

	got := v.readEnriched(3, 30*time.Second)
	ids := map[string]string{}
	for _, r := range got {
		ids[r.GetRecordId()] = r.GetSampling().GetKeptBy()
	}
	for _, id := range []string{"root", "info", "err"} {
		if ids[id] != "error" {
			t.Errorf("record %s: kept_by %q, want \"error\" (all kept: %v)", id, ids[id], ids)
		}
	}
	if len(got) != 3 {
		t.Errorf("%d enriched records, want 3", len(got))
	}
}

// A head-sampled submission stays re-readable for late_window: a new owner
// that takes the partition after the decision and then reads a record that
// fires a tail rule keeps the whole submission. Before late_window the
// first owner committed past the dropped records, and the new owner kept
// only the error log (1 record of 3).
func TestLateWindow_NewOwnerKeepsTheDroppedRecords(t *testing.T) {
	v := newEnv(t)
	cfg := testEnrichConfig()
	cfg.CompletionGrace = 200 * time.Millisecond
	key := headDroppedKey(t)
	prod := v.cluster.Client()

	first := v.startEnricher(cfg)
	v.produceRaw(prod, key, rootSpan("root", key))
	v.produceRaw(prod, key, logEnv("info", key, v1.SeverityNumber_SEVERITY_NUMBER_INFO))
	waitFor(t, 30*time.Second, "the first owner to head-sample the submission", func() bool { return first.e.Stats().Dropped >= 2 })
	first.stop(t) // its final transaction commits the watermark

	v.produceRaw(prod, key, errorLog("err", key))
	second := v.startEnricher(cfg)
	defer second.stop(t)

	got := v.readEnriched(3, 30*time.Second)
	ids := map[string]string{}
	for _, r := range got {
		ids[r.GetRecordId()] = r.GetSampling().GetKeptBy()
	}
	for _, id := range []string{"root", "info", "err"} {
		if ids[id] == "" {
			t.Errorf("record %s is not in the enriched topic (kept: %v)", id, ids)
		}
	}
	if len(got) != 3 {
		t.Errorf("%d enriched records, want 3", len(got))
	}
}

// The late holds bound the watermark until the partition's clock passes
// them, and no longer.
func TestLateWindow_HoldsTheWatermarkForItsWindow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CompletionGrace = time.Second
	cfg.LateWindow = 30 * time.Second
	pr, st := newTestProcessor(t, DefaultRules())
	pr.cfg = cfg
	key := headDroppedKey(t)
	pr.addEnv(st, key, rootSpan("root", key), 0, 10, t0)
	pr.addEnv(st, key, logEnv("info", key, v1.SeverityNumber_SEVERITY_NUMBER_INFO), 1, 10, t0)
	pr.decideDue(st, t0.Add(2*time.Second))
	if len(st.out) != 0 || len(st.subs) != 0 {
		t.Fatalf("%d out, %d pending: the key was picked to be decided and dropped", len(st.out), len(st.subs))
	}
	if wm := st.watermark(); wm != 0 {
		t.Errorf("watermark %d within the late window, want 0 (the submission's first record)", wm)
	}
	pr.decideDue(st, t0.Add(33*time.Second))
	if wm := st.watermark(); wm != 2 {
		t.Errorf("watermark %d after the late window, want 2", wm)
	}
	cfg.LateWindow = 0
	pr.cfg = cfg
	pr.addEnv(st, "S2", logEnv("info2", "S2", v1.SeverityNumber_SEVERITY_NUMBER_DEBUG), 2, 10, t0.Add(33*time.Second))
	pr.decideDue(st, t0.Add(2*time.Minute))
	if wm := st.watermark(); wm != 3 {
		t.Errorf("watermark %d with late_window 0, want 3", wm)
	}
}

// late_window must not be negative; a window longer than decided_ttl is
// cut to it (a hold longer than the decision it protects would re-read
// records nobody can upgrade), so a config with a short decided_ttl that
// worked before late_window existed still starts.
func TestConfig_LateWindowBounds(t *testing.T) {
	for _, c := range []struct {
		window, decided time.Duration
		ok              bool
	}{{0, time.Minute, true}, {30 * time.Second, 10 * time.Minute, true}, {30 * time.Second, 10 * time.Second, true},
		{11 * time.Minute, 10 * time.Minute, true}, {-time.Second, time.Minute, false}} {
		cfg := DefaultConfig()
		cfg.LateWindow, cfg.DecidedTTL = c.window, c.decided
		err := cfg.Validate()
		if (err == nil) != c.ok {
			t.Errorf("late_window %s, decided_ttl %s: error %v, want ok=%v", c.window, c.decided, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "late_window: must not be negative") {
			t.Errorf("late_window %s: error %q does not name the field", c.window, err)
		}
	}
	pr, st := newTestProcessor(t, DefaultRules())
	pr.cfg.LateWindow, pr.cfg.DecidedTTL = time.Hour, 20*time.Second
	key := headDroppedKey(t)
	pr.addEnv(st, key, rootSpan("root", key), 0, 10, t0)
	pr.decideDue(st, t0.Add(time.Minute))
	if len(st.holds) != 1 || !st.holds[0].until.Equal(t0.Add(time.Minute+20*time.Second)) {
		t.Errorf("holds %v, want one until the decision plus decided_ttl (20s)", st.holds)
	}
}

// A record stamped in the future (a producer whose clock runs ahead) does
// not move the read clock: kept, it would pin the clock to the wall clock
// and a stalled member would decide on the wall clock again.
func TestClock_FutureTimestampIgnored(t *testing.T) {
	st := newPartState(rawTopic, 0, 0, 0)
	now := time.Now()
	st.observe(now.Add(-10*time.Second), now)
	st.observe(now.Add(time.Hour), now)
	if got := st.clock(now.Add(time.Minute)); !got.Equal(now.Add(-10 * time.Second)) {
		t.Errorf("clock %v, want the newest timestamp not in the future (%v)", got, now.Add(-10*time.Second))
	}
	empty := newPartState(rawTopic, 1, 0, 0)
	empty.observe(time.Time{}, now)
	if got := empty.clock(now); !got.Equal(now) {
		t.Errorf("clock without any usable timestamp %v, want the wall clock", got)
	}
}

// A bounded run (a replay of raw) that writes to its own raw topic (here:
// a misrouted record moved to its key's partition) must still finish when
// head sampling dropped records. The run's transaction leaves a commit
// marker past the partition's bound, which the run never moves its head
// to, so the partition never looked read to its last stable offset: its
// read clock stood still, the late hold of the head-sampled submission
// never expired, the watermark stayed at the submission's first record and
// Done never closed.
func TestClock_BoundedRunWithOwnWritesFinishes(t *testing.T) {
	v := newEnv(t)
	var key string
	for i := 0; key == ""; i++ {
		if k := keyForOther(1, i); sampleHash(k) > 0.6 {
			key = k // spans and info logs head-dropped
		}
	}
	prod := v.cluster.Client()
	v.produceRaw(prod, key, rootSpan("root", key))
	v.produceRaw(prod, key, logEnv("info", key, v1.SeverityNumber_SEVERITY_NUMBER_INFO))
	// The same submission's log on partition 0, put there by a foreign
	// partitioner: the run moves it to partition 1, past the window.
	mis := v.cluster.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	b, _ := proto.Marshal(logEnv("info-mis", key, v1.SeverityNumber_SEVERITY_NUMBER_INFO))
	if err := mis.ProduceSync(context.Background(), &kgo.Record{Topic: rawTopic, Partition: 0, Key: []byte(key), Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	until := v.rawEnds()
	cfg := testEnrichConfig()
	cfg.InactivityTimeout = time.Minute // decided because the window ended
	cfg.LateWindow = time.Second
	en := v.startBounded(cfg, "test-bounded-clock", until)
	select {
	case <-en.e.Done():
	case err := <-en.done:
		t.Fatalf("bounded run ended without Done: %v", err)
	case <-time.After(30 * time.Second):
		en.e.mu.Lock()
		st := en.e.states[1]
		var head, committed int64
		var holds int
		if st != nil {
			head, committed, holds = st.head, st.committed, len(st.holds)
		}
		bound := en.e.boundEnd(1)
		en.e.mu.Unlock()
		t.Fatalf("bounded run never finished (partition 1: head %d, committed %d, %d late holds; bound %d)", head, committed, holds, bound)
	}
	if got := v.readEnrichedNow(); len(got) != 0 {
		t.Errorf("%d enriched records, want 0 (all head-dropped)", len(got))
	}
}

// An end probe that a broker answers only in part (kadm returns the
// partitions it could list with *ShardErrors for the others, e.g. while one
// broker restarts) still moves the clocks of the partitions it listed:
// before, the whole answer was dropped, and every idle partition's clock
// stood still while any one broker was unreachable.
func TestClock_ProbeKeepsPartialAnswers(t *testing.T) {
	e := &Enricher{now: time.Now, states: map[int32]*partState{
		0: newPartState(rawTopic, 0, 5, 0), // read to its end (5)
		1: newPartState(rawTopic, 1, 7, 0), // its leader cannot answer
	}}
	e.listEnds = func(context.Context) (kadm.ListedOffsets, error) {
		return kadm.ListedOffsets{rawTopic: {0: {Topic: rawTopic, Partition: 0, Offset: 5}}},
			&kadm.ShardErrors{Name: "ListOffsets", Errs: []kadm.ShardError{{Err: errors.New("broker 2 unreachable")}}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.probeEnds(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 10*time.Second, "the probe to keep partition 0's end", func() bool {
		e.endsMu.Lock()
		defer e.endsMu.Unlock()
		_, ok := e.ends.ends[0]
		return ok
	})
	e.applyEnds()
	if e.states[0].readTo.IsZero() {
		t.Error("partition 0 was listed and read to its end, but its clock did not move")
	}
	if !e.states[1].readTo.IsZero() {
		t.Error("partition 1 was not listed, but its clock moved")
	}
}

// A bounded run that read its whole window does not wait out the late
// holds of its head-sampling decisions: nothing can come later to upgrade
// them. Before, Done closed late_window after the last such decision (30 s
// by default on every replay of raw; here 10 minutes).
func TestLateWindow_BoundedRunDoesNotWaitForHolds(t *testing.T) {
	v := newEnv(t)
	key := headDroppedKey(t)
	prod := v.cluster.Client()
	v.produceRaw(prod, key, rootSpan("root", key))
	v.produceRaw(prod, key, logEnv("info", key, v1.SeverityNumber_SEVERITY_NUMBER_INFO))
	until := v.rawEnds()
	cfg := testEnrichConfig()
	cfg.InactivityTimeout = time.Minute // decided because the window ended
	cfg.LateWindow = cfg.DecidedTTL
	en := v.startBounded(cfg, "test-bounded-holds", until)
	select {
	case <-en.e.Done():
	case err := <-en.done:
		t.Fatalf("bounded run ended without Done: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("bounded run never finished: it waits for the late hold of its head-sampled submission")
	}
	if got := v.readEnrichedNow(); len(got) != 0 {
		t.Errorf("%d enriched records, want 0 (all head-dropped)", len(got))
	}
}

// A bounded partition whose head reached its bound counts as read to its
// end even though its last stable offset lies past the bound (the marker
// of the run's own last write to its raw topic, which the head never
// passes): its read clock moves. (Since a bounded run drops its holds once
// the window is read, TestClock_BoundedRunWithOwnWritesFinishes finishes
// either way; this pins the clock itself.)
func TestClock_BoundedPartitionReadToItsBound(t *testing.T) {
	at := time.Now()
	e := &Enricher{now: time.Now, until: map[int32]int64{1: 2}, untilExtra: map[int32]int64{1: 3},
		states: map[int32]*partState{1: newPartState(rawTopic, 1, 3, 0)}}
	e.ends = readEnds{at: at, ends: map[int32]int64{1: 4}} // 3 is the marker of the run's write at 2
	e.applyEnds()
	if got := e.states[1].readTo; !got.Equal(at) {
		t.Errorf("bounded partition at its bound: read clock %v, want the probe's time %v", got, at)
	}
	// Short of its bound, the clock stays.
	e.states[1] = newPartState(rawTopic, 1, 2, 0)
	e.applyEnds()
	if got := e.states[1].readTo; !got.IsZero() {
		t.Errorf("bounded partition short of its bound: read clock %v, want unmoved", got)
	}
}

// The holds answer the lowest running first offset as holds start and end
// out of offset order (submissions are decided in completion order, not in
// the order they began).
func TestLateWindow_HoldsAreASlidingMinimum(t *testing.T) {
	st := newPartState(rawTopic, 0, 0, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	st.hold(10, at(5))
	st.hold(3, at(6))
	st.hold(7, at(7))
	st.hold(12, at(9))
	for _, c := range []struct {
		now  int
		want int64
	}{{0, 3}, {5, 3}, {6, 7}, {7, 12}, {8, 12}, {9, -1}} {
		st.now = at(c.now)
		if got := st.holdFrom(); got != c.want {
			t.Errorf("at %ds: lowest running hold %d, want %d", c.now, got, c.want)
		}
	}
}
