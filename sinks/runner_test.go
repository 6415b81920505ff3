package sinks

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRunner_DeliversAndCommits(t *testing.T) {
	e := newEnv(t, true)
	ids := e.produce("a", 200, time.Time{})
	sink := newFakeSink()
	m := e.start(testConfig("t"), sink, time.Second)
	waitFor(t, 20*time.Second, "all records committed", func() bool { return e.allCommitted("logweave-sink-t") })
	for _, id := range ids {
		if sink.times(id) != 1 {
			t.Errorf("%s delivered %d times", id, sink.times(id))
		}
	}
	if got := testutil.ToFloat64(m.r.m.records.WithLabelValues(outcomeDelivered)); got != 200 {
		t.Errorf("delivered metric = %v", got)
	}
}

// (a) A member killed mid-batch: the next member redelivers; every record
// is delivered at least once and none is lost.
func TestRunner_KilledMidBatchRedelivers(t *testing.T) {
	e := newEnv(t, true)
	ids := e.produce("a", 400, time.Time{})
	first := newFakeSink()
	// Deliver the first five batches, then hang mid-stream.
	first.block = make(chan struct{})
	first.blockFrom = 5
	first.started = make(chan int32, 100)
	cfg := testConfig("t")
	m1 := e.start(cfg, first, time.Second)
	<-first.started // a write is in flight
	m1.crash()
	delivered1 := first.count()

	second := newFakeSink()
	e.start(cfg, second, time.Second)
	waitFor(t, 30*time.Second, "all committed by the second member", func() bool { return e.allCommitted("logweave-sink-t") })
	for _, id := range ids {
		if first.times(id)+second.times(id) == 0 {
			t.Errorf("%s was never delivered", id)
		}
	}
	if delivered1 == 0 || delivered1 == len(ids) {
		t.Errorf("the first member delivered %d of %d: the crash was not mid-stream", delivered1, len(ids))
	}
	t.Logf("first member delivered %d, second %d", delivered1, second.count())
}

// (b) The destination fails half the writes transiently for a while: all
// records arrive, and committed offsets are never ahead of delivered
// records (checked with kadm during the run).
func TestRunner_TransientFailuresNeverCommitAhead(t *testing.T) {
	e := newEnv(t, true)
	ids := e.produce("a", 600, time.Time{})
	sink := newFakeSink()
	var calls atomic.Int64
	failUntil := time.Now().Add(3 * time.Second)
	sink.decide = func(*Record) Result {
		if time.Now().Before(failUntil) && calls.Add(1)%2 == 0 {
			return RetryLater("unavailable", errTest)
		}
		return Ok()
	}
	m := e.start(testConfig("t"), sink, time.Second)
	var checks int
	for !e.allCommitted("logweave-sink-t") {
		for p, off := range e.committed("logweave-sink-t") {
			if off > 0 && !sink.deliveredBelow(p, off, nil) {
				t.Fatalf("partition %d committed at %d before all records below were delivered", p, off)
			}
		}
		checks++
		if checks > 3000 {
			t.Fatal("not all committed within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, id := range ids {
		if sink.times(id) != 1 {
			t.Errorf("%s delivered %d times", id, sink.times(id))
		}
	}
	if retried := testutil.ToFloat64(m.r.m.records.WithLabelValues(outcomeRetried)); retried == 0 {
		t.Errorf("no retries counted")
	}
	t.Logf("%d offset checks during the run", checks)
}

var errTest = errString("injected failure")

type errString string

func (e errString) Error() string { return string(e) }

// (c) A poison record (undecodable) and a record the destination rejects go
// to the DLQ with the right headers; progress continues.
func TestRunner_PoisonToDLQ(t *testing.T) {
	e := newEnv(t, true)
	e.produce("a", 10, time.Time{})
	poison := e.produceRaw(1, []byte{0xff, 0x01, 0x02})
	e.produce("b", 10, time.Time{})
	sink := newFakeSink()
	sink.decide = func(r *Record) Result {
		if r.Enriched.GetRecordId() == "b00003" {
			return Rejected("mapping", errString("mapper_parsing_exception: failed to parse field [attributes.x]"))
		}
		return Ok()
	}
	e.start(testConfig("t"), sink, time.Second)
	waitFor(t, 20*time.Second, "all committed", func() bool { return e.allCommitted("logweave-sink-t") })

	dlq := e.cluster.Client(kgo.ConsumeTopics(dlqTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < 2 {
		fs := dlq.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d DLQ records, want 2", len(got))
		}
		got = append(got, fs.Records()...)
	}
	byReason := map[string]map[string]string{}
	for _, r := range got {
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		byReason[h[HeaderReason]] = h
	}
	dec := byReason["decode"]
	if dec == nil || dec[HeaderSink] != "t" || dec[HeaderSourceTopic] != enrichedTopic || dec[HeaderSourcePartition] != "1" ||
		dec[HeaderSourceOffset] != strconv.FormatInt(poison, 10) || dec[HeaderError] == "" {
		t.Errorf("decode DLQ headers = %v", dec)
	}
	mp := byReason["mapping"]
	if mp == nil || mp[HeaderRecordID] != "b00003" || mp[HeaderError] != "mapper_parsing_exception: failed to parse field [attributes.x]" {
		t.Errorf("mapping DLQ headers = %v", mp)
	}
	if sink.count() != 19 {
		t.Errorf("delivered %d, want 19", sink.count())
	}
}

// (d) The DLQ is unavailable: no progress past the poison record, no loss;
// once the DLQ exists the sink continues.
func TestRunner_DLQUnavailableHoldsProgress(t *testing.T) {
	e := newEnv(t, false)          // no DLQ topic yet
	e.produce("a", 8, time.Time{}) // offsets 0,1 on each partition
	poison := e.produceRaw(2, []byte{0xff})
	e.produce("b", 8, time.Time{})
	sink := newFakeSink()
	m := e.start(testConfig("t"), sink, time.Second)
	waitFor(t, 20*time.Second, "other partitions committed", func() bool {
		c, ends := e.committed("logweave-sink-t"), e.endOffsets()
		return c[0] == ends[0] && c[1] == ends[1] && c[3] == ends[3]
	})
	waitFor(t, 20*time.Second, "a failed DLQ write", func() bool { return testutil.ToFloat64(m.r.m.dlqFailures) > 0 })
	time.Sleep(300 * time.Millisecond)
	if c := e.committed("logweave-sink-t")[2]; c > poison {
		t.Fatalf("partition 2 committed to %d past the poison record at %d although the DLQ is down", c, poison)
	}
	if err := e.cluster.CreateTopic(dlqTopic, 1, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "everything committed after the DLQ came back", func() bool { return e.allCommitted("logweave-sink-t") })
	if sink.count() != 16 {
		t.Errorf("delivered %d of 16", sink.count())
	}
}

// (e) Two sinks on the topic, one blocked: the other keeps up.
func TestRunner_BlockedSinkDoesNotStallOthers(t *testing.T) {
	e := newEnv(t, true)
	slow := newFakeSink()
	slow.block = make(chan struct{})
	defer close(slow.block)
	e.start(testConfig("slow"), slow, 100*time.Millisecond)
	fast := newFakeSink()
	e.start(testConfig("fast"), fast, time.Second)
	for round := 0; round < 5; round++ {
		e.produce("r"+strconv.Itoa(round), 100, time.Time{})
		waitFor(t, 10*time.Second, "the fast sink to catch up", func() bool { return e.allCommitted("logweave-sink-fast") })
	}
	if fast.count() != 500 {
		t.Errorf("fast sink delivered %d of 500", fast.count())
	}
	for p, off := range e.committed("logweave-sink-slow") {
		if off > 0 {
			t.Errorf("blocked sink committed partition %d to %d", p, off)
		}
	}
}

// (f) A new sink with start: <time> delivers exactly the records from that
// time on.
func TestRunner_StartAtTime(t *testing.T) {
	e := newEnv(t, true)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	e.produce("old", 40, t0)
	newer := e.produce("new", 40, t0.Add(time.Hour))
	cfg := testConfig("late")
	cfg.Start = t0.Add(30 * time.Minute).Format(time.RFC3339)
	sink := newFakeSink()
	e.start(cfg, sink, time.Second)
	waitFor(t, 20*time.Second, "all committed", func() bool { return e.allCommitted("logweave-sink-late") })
	if sink.count() != 40 {
		t.Errorf("delivered %d records, want the 40 newer ones", sink.count())
	}
	for _, id := range newer {
		if sink.times(id) != 1 {
			t.Errorf("%s delivered %d times", id, sink.times(id))
		}
	}
}

// (g) Partitions revoked while a write hangs: the old owner abandons the
// write after its grace and never commits those partitions again, even
// when the write completes later.
func TestRunner_RevokedDuringSlowWriteNoLateCommit(t *testing.T) {
	e := newEnv(t, true)
	e.produce("a", 80, time.Time{})
	a := newFakeSink()
	a.block = make(chan struct{})
	a.started = make(chan int32, 100)
	cfg := testConfig("t")
	ma := e.start(cfg, a, 200*time.Millisecond)
	var (
		mu       sync.Mutex
		revokedA bool
		late     []int32
	)
	ma.r.onCommit = func(p int32, off int64) {
		mu.Lock()
		defer mu.Unlock()
		if revokedA {
			late = append(late, p)
		}
	}
	<-a.started // A is stuck writing
	b := newFakeSink()
	mb := e.start(cfg, b, time.Second)
	// Wait until B owns some partitions, i.e. A gave them up.
	waitFor(t, 20*time.Second, "B delivering", func() bool { return b.count() > 0 })
	mu.Lock()
	revokedA = true
	mu.Unlock()
	movedToB := map[int32]bool{}
	mb.r.mu.Lock()
	for p := range mb.r.workers {
		movedToB[p] = true
	}
	mb.r.mu.Unlock()
	close(a.block) // A's abandoned writes may now "finish"
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	for _, p := range late {
		if movedToB[p] {
			t.Errorf("old owner committed partition %d after it was revoked", p)
		}
	}
	mu.Unlock()
	ma.stop(t)
	waitFor(t, 20*time.Second, "all committed", func() bool { return e.allCommitted("logweave-sink-t") })
	if len(movedToB) == 0 {
		t.Fatal("no partition moved to the second member")
	}
}
