package sinks

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
)

// produceTxn writes txns transactions of perTxn records each, spread over
// the partitions, so that every partition holds data batches each followed
// by a commit marker. It returns the ids per partition.
func (e *env) produceTxn(prefix string, txns, perTxn int) map[int32][]string {
	e.t.Helper()
	cl := e.cluster.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID("test-"+prefix))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ids := map[int32][]string{}
	for n := 0; n < txns; n++ {
		if err := cl.BeginTransaction(); err != nil {
			e.t.Fatal(err)
		}
		var recs []*kgo.Record
		for i := 0; i < perTxn; i++ {
			id := fmt.Sprintf("%s%02d-%03d", prefix, n, i)
			p := int32(i % partitions)
			b, _ := proto.Marshal(enriched(id))
			recs = append(recs, &kgo.Record{Topic: enrichedTopic, Partition: p, Key: []byte(id), Value: b})
			ids[p] = append(ids[p], id)
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			e.t.Fatalf("producing: %v", err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			e.t.Fatalf("committing: %v", err)
		}
	}
	return ids
}

// startBounded starts a member bounded to the offsets before until, from
// the group's committed offsets (as a replay does), with extra client
// options.
func (e *env) startBounded(cfg Config, sink Sink, until map[int32]int64, extra ...kgo.Opt) *member {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	base := []kgo.Opt{kgo.SeedBrokers(e.cluster.Brokers()...), kgo.HeartbeatInterval(100 * time.Millisecond), kgo.SessionTimeout(2 * time.Second)}
	base = append(base, extra...)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := New(cfg, sink, e.rt, testTopics, base, time.Second, Deps{Logger: logger, Registerer: reg})
	if err != nil {
		e.t.Fatal(err)
	}
	from := map[int32]int64{}
	for p, off := range e.committed(cfg.Group()) {
		from[p] = max(off, 0)
	}
	r.SetUntil(from, until)
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{r: r, cancel: cancel, done: make(chan error, 1), reg: reg}
	go func() { m.done <- r.Run(ctx) }()
	e.t.Cleanup(func() { m.stop(e.t) })
	return m
}

// outageSink answers "503" to the first failWrites writes of one partition,
// then delivers; every other partition is delivered at once.
type outageSink struct {
	*fakeSink
	p          int32
	failWrites int

	mu     sync.Mutex
	failed int
}

func (s *outageSink) Write(ctx context.Context, batch []*Record) ([]Result, error) {
	s.mu.Lock()
	fail := batch[0].Partition == s.p && s.failed < s.failWrites
	if fail {
		s.failed++
	}
	s.mu.Unlock()
	if !fail {
		return s.fakeSink.Write(ctx, batch)
	}
	res := make([]Result, len(batch))
	for i := range res {
		res[i] = RetryLater("unavailable", errString("503 Service Unavailable"))
	}
	return res, nil
}

func (s *outageSink) outageOver() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed >= s.failWrites
}

// A bounded run (a replay) over a transactional window, one partition of
// which is paused for seconds while its destination answers 503: the run
// ends only when every record of the window is delivered and committed,
// and the committed positions are exactly the window's ends (past the last
// commit marker). The old runner took a partition silent for 3s to be done
// and finished with most of the paused partition undelivered.
func TestRunner_BoundedRunEndsOnPositionsNotSilence(t *testing.T) {
	e := newEnv(t, true)
	ids := e.produceTxn("w", 5, 4*partitions) // per partition: 5 batches of 4, each with its marker
	ends := e.endOffsets()
	for p, end := range ends {
		if end != 25 {
			t.Fatalf("partition %d ends at %d, want 25 (20 records, 5 markers)", p, end)
		}
	}
	// Records after the window's end, on the paused partition only: the
	// others sit at their end with nothing more to fetch.
	after := e.produceTxn("after", 1, 1)

	sink := &outageSink{fakeSink: newFakeSink(), p: 0, failWrites: 100}
	cfg := testConfig("replay")
	// One batch per fetch and a short queue, so the paused partition still
	// has records to fetch when its destination comes back. With backoffs
	// of 10-50ms, 100 failed writes are an outage of about 5s.
	cfg.Batch.MaxRecords, cfg.MaxQueuedRecords = 4, 4
	m := e.startBounded(cfg, sink, ends, kgo.FetchMaxPartitionBytes(1))
	select {
	case <-m.r.Done():
	case err := <-m.done:
		t.Fatalf("runner stopped before its window was done: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatalf("bounded run not done after 60s; remaining %d offsets", m.r.Remaining())
	}
	if !sink.outageOver() {
		t.Fatalf("done while the destination was still failing (after %d of %d failed writes)", sink.failed, sink.failWrites)
	}
	var missing int
	for p, pids := range ids {
		for _, id := range pids {
			if sink.times(id) == 0 {
				missing++
				if missing <= 5 {
					t.Errorf("%s (partition %d) was not delivered when the run reported done", id, p)
				}
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d records of the window missing at done", missing, 20*partitions)
	}
	for _, id := range after[0] {
		if sink.times(id) != 0 {
			t.Errorf("%s is after the window and was delivered", id)
		}
	}
	c := e.committed(cfg.Group())
	for p, end := range ends {
		if c[p] != end {
			t.Errorf("partition %d committed %d, want the window end %d", p, c[p], end)
		}
	}
	if r := m.r.Remaining(); r != 0 {
		t.Errorf("remaining %d offsets at done", r)
	}
}

// A partition given up without a commit (lost, as after a session timeout)
// in a bounded run is not done, whatever the other partitions do: only a
// committed position at the end finishes a partition. A rerun from the
// committed offsets then finishes it.
func TestRunner_BoundedRunRevokedPartitionNotDone(t *testing.T) {
	e := newEnv(t, true)
	ids := e.produceTxn("w", 3, 4*partitions)
	ends := e.endOffsets()
	sink := newFakeSink()
	sink.block = make(chan struct{})
	sink.blockOnly = map[int32]bool{2: true}
	sink.started = make(chan int32, 100)
	cfg := testConfig("replay")
	m := e.startBounded(cfg, sink, ends)
	<-sink.started // partition 2 is writing (and hangs)
	waitFor(t, 20*time.Second, "the other partitions committed to their ends", func() bool {
		c := e.committed(cfg.Group())
		return c[0] == ends[0] && c[1] == ends[1] && c[3] == ends[3]
	})
	m.r.lost(context.Background(), m.r.cl, map[string][]int32{enrichedTopic: {2}})
	close(sink.block)
	select {
	case <-m.r.Done():
		t.Fatal("done although partition 2 was lost before it committed anything")
	default:
	}
	if r := m.r.Remaining(); r != ends[2] {
		t.Errorf("remaining %d offsets, want partition 2's %d", r, ends[2])
	}
	m.stop(t)
	if c := e.committed(cfg.Group())[2]; c >= 0 {
		t.Fatalf("partition 2 committed %d after it was lost", c)
	}

	rerun := newFakeSink()
	m2 := e.startBounded(cfg, rerun, ends)
	select {
	case <-m2.r.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("rerun not done; remaining %d", m2.r.Remaining())
	}
	for _, id := range ids[2] {
		if rerun.times(id) != 1 {
			t.Errorf("%s delivered %d times by the rerun", id, rerun.times(id))
		}
	}
}

// An idle sink group that consumed everything of a transactional topic has
// lag 0, by kadm's arithmetic (high watermark minus committed offset) and
// by logweave_sink_lag_records: the runner commits past the last commit
// marker instead of stopping one offset short of every partition's end.
func TestRunner_CaughtUpTransactionalLagZero(t *testing.T) {
	e := newEnv(t, true)
	ids := e.produceTxn("t", 4, 3*partitions)
	sink := newFakeSink()
	m := e.start(testConfig("t"), sink, time.Second)
	waitFor(t, 20*time.Second, "every record delivered", func() bool { return sink.count() == len(ids)*len(ids[0]) })
	group := "logweave-sink-t"
	lagOf := func() (int64, error) {
		lags, err := e.adm.Lag(context.Background(), group)
		if err != nil {
			return -1, err
		}
		l := lags[group]
		if err := l.Error(); err != nil {
			return -1, err
		}
		var sum int64
		for _, ps := range l.Lag {
			for _, pl := range ps {
				if pl.Err != nil {
					return -1, pl.Err
				}
				sum += pl.Lag
			}
		}
		return sum, nil
	}
	waitFor(t, 20*time.Second, "kadm lag 0 and the lag metric 0 on every partition", func() bool {
		lag, err := lagOf()
		if err != nil || lag != 0 {
			return false
		}
		for p := 0; p < partitions; p++ {
			g, err := m.r.m.lag.GetMetricWithLabelValues(strconv.Itoa(p))
			if err != nil || testutil.ToFloat64(g) != 0 {
				return false
			}
		}
		return testutil.CollectAndCount(m.r.m.lag) == partitions
	})
	ends := e.endOffsets()
	c := e.committed(group)
	for p, end := range ends {
		if c[p] != end {
			t.Errorf("partition %d committed %d, end %d", p, c[p], end)
		}
	}
	for _, pids := range ids {
		for _, id := range pids {
			if sink.times(id) != 1 {
				t.Errorf("%s delivered %d times", id, sink.times(id))
			}
		}
	}
}
