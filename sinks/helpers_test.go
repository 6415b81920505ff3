package sinks

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/logweave/logweave/router"
	v1 "github.com/logweave/logweave/schemas/logweave/v1"
	"github.com/logweave/logweave/testkit/testkafka"
)

const (
	enrichedTopic = "logweave.enriched"
	dlqTopic      = "logweave.dlq"
	partitions    = 4
)

var testTopics = Topics{Enriched: enrichedTopic, DLQ: dlqTopic}

// fakeSink is a scripted destination that records what it delivered.
type fakeSink struct {
	mu        sync.Mutex
	delivered map[string]int           // record_id -> deliveries
	offsets   map[int32]map[int64]bool // partition -> delivered offsets
	decide    func(r *Record) Result   // nil: deliver everything
	block     chan struct{}            // non-nil: writes wait for it to close
	blockOnly map[int32]bool           // with block: only these partitions (nil: all)
	started   chan int32               // receives the partition of each blocked write
	blockFrom int                      // with block: the first blockFrom writes pass
	writes    int
}

func newFakeSink() *fakeSink {
	return &fakeSink{delivered: map[string]int{}, offsets: map[int32]map[int64]bool{}}
}

func (f *fakeSink) Write(ctx context.Context, batch []*Record) ([]Result, error) {
	f.mu.Lock()
	f.writes++
	block := f.block
	if block != nil && (f.blockOnly != nil && !f.blockOnly[batch[0].Partition] || f.writes <= f.blockFrom) {
		block = nil
	}
	started := f.started
	f.mu.Unlock()
	res := make([]Result, len(batch))
	if block != nil {
		if started != nil {
			started <- batch[0].Partition
		}
		select {
		case <-block:
		case <-ctx.Done():
			for i := range res {
				res[i] = RetryLater("canceled", ctx.Err())
			}
			return res, nil
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range batch {
		res[i] = Ok()
		if f.decide != nil {
			res[i] = f.decide(r)
		}
		if res[i].Outcome == Delivered {
			f.delivered[r.Enriched.GetRecordId()]++
			if f.offsets[r.Partition] == nil {
				f.offsets[r.Partition] = map[int64]bool{}
			}
			f.offsets[r.Partition][r.Offset] = true
		}
	}
	return res, nil
}

func (f *fakeSink) Close() error { return nil }

func (f *fakeSink) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.delivered)
}

// deliveredBelow reports whether every offset below off of p was delivered
// or is in skip (dead-lettered on purpose).
func (f *fakeSink) deliveredBelow(p int32, off int64, skip map[int32]map[int64]bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for o := int64(0); o < off; o++ {
		if !f.offsets[p][o] && !skip[p][o] {
			return false
		}
	}
	return true
}

type env struct {
	t       *testing.T
	cluster *testkafka.Cluster
	adm     *kadm.Client
	rt      *router.Router
}

func newEnv(t *testing.T, withDLQ bool) *env {
	t.Helper()
	topics := []string{enrichedTopic}
	if withDLQ {
		topics = append(topics, dlqTopic)
	}
	c := testkafka.Start(t, kfake.SeedTopics(partitions, topics...), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	rt, err := router.New(router.Default())
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, cluster: c, adm: c.Admin(), rt: rt}
}

func enriched(id string) *v1.EnrichedRecord {
	return &v1.EnrichedRecord{RecordId: id, Record: &v1.Envelope{RecordId: id, Record: &v1.Envelope_Log{Log: &v1.Log{TimeUnixNano: 1, Body: "line " + id}}}}
}

// produce writes n records spread over the partitions, ids prefix0..n-1,
// with the given timestamp (zero: now), and returns their ids.
func (e *env) produce(prefix string, n int, ts time.Time) []string {
	e.t.Helper()
	cl := e.cluster.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s%05d", prefix, i)
		b, _ := proto.Marshal(enriched(id))
		recs = append(recs, &kgo.Record{Topic: enrichedTopic, Partition: int32(i % partitions), Key: []byte(id), Value: b, Timestamp: ts})
		ids = append(ids, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatalf("producing: %v", err)
	}
	return ids
}

func (e *env) produceRaw(p int32, value []byte) int64 {
	e.t.Helper()
	cl := e.cluster.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	r := &kgo.Record{Topic: enrichedTopic, Partition: p, Value: value}
	if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
	return r.Offset
}

func testConfig(name string) Config {
	cfg := DefaultConfig(name)
	cfg.Batch.MaxRecords = 20
	cfg.Batch.Linger = 10 * time.Millisecond
	cfg.CommitInterval = 50 * time.Millisecond
	cfg.Retry.InitialBackoff = 10 * time.Millisecond
	cfg.Retry.MaxBackoff = 50 * time.Millisecond
	cfg.MaxQueuedRecords = 100
	return cfg
}

type member struct {
	r      *Runner
	cancel context.CancelFunc
	done   chan error
	reg    *prometheus.Registry
}

func (e *env) start(cfg Config, sink Sink, grace time.Duration) *member {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	base := []kgo.Opt{kgo.SeedBrokers(e.cluster.Brokers()...), kgo.HeartbeatInterval(100 * time.Millisecond), kgo.SessionTimeout(2 * time.Second)}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := New(cfg, sink, e.rt, testTopics, base, grace, Deps{Logger: logger, Registerer: reg})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{r: r, cancel: cancel, done: make(chan error, 1), reg: reg}
	go func() { m.done <- r.Run(ctx) }()
	e.t.Cleanup(func() { m.stop(e.t) })
	return m
}

func (m *member) stop(t *testing.T) {
	t.Helper()
	if m.cancel == nil {
		return
	}
	m.cancel()
	m.cancel = nil
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("runner: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runner did not stop within 30s")
	}
}

// crash abandons every partition without committing and closes the
// client, as a killed process would leave things (minus the leave-group).
func (m *member) crash() {
	m.r.stopAll(false)
	m.r.cl.Close()
	m.cancel()
	m.cancel = nil
	<-m.done
}

// committed returns the group's committed offsets per partition (-1: none).
func (e *env) committed(group string) map[int32]int64 {
	e.t.Helper()
	out := map[int32]int64{}
	for p := int32(0); p < partitions; p++ {
		out[p] = -1
	}
	offs, err := e.adm.FetchOffsets(context.Background(), group)
	if err != nil {
		return out
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == enrichedTopic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

func (e *env) endOffsets() map[int32]int64 {
	e.t.Helper()
	ends, err := e.adm.ListEndOffsets(context.Background(), enrichedTopic)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) allCommitted(group string) bool {
	c, ends := e.committed(group), e.endOffsets()
	for p, end := range ends {
		if c[p] != end {
			return false
		}
	}
	return true
}

func (f *fakeSink) times(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delivered[id]
}
