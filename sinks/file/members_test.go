package file

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	"github.com/logweave/logweave/sinks"
	"github.com/logweave/logweave/testkit/testkafka"
)

const (
	groupTopic      = "logweave.enriched"
	groupDLQ        = "logweave.dlq"
	groupPartitions = 4
	groupSink       = "file"
)

// group is a file sink consumer group on kfake whose members share one
// directory, as processes of a fleet on one volume do.
type group struct {
	t       *testing.T
	cluster *testkafka.Cluster
	adm     *kadm.Client
	prod    *kgo.Client
	rt      *router.Router
	dir     string
	next    int // next record id number
}

func newGroup(t *testing.T) *group {
	t.Helper()
	c := testkafka.Start(t, kfake.SeedTopics(groupPartitions, groupTopic, groupDLQ), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	rt, err := router.New(router.Default())
	if err != nil {
		t.Fatal(err)
	}
	return &group{t: t, cluster: c, adm: c.Admin(), prod: c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner())), rt: rt, dir: t.TempDir()}
}

// produce writes n records spread over the partitions.
func (g *group) produce(n int) {
	g.t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		id := fmt.Sprintf("r%06d", g.next)
		b, _ := proto.Marshal(&v1.EnrichedRecord{RecordId: id, Record: &v1.Envelope{RecordId: id,
			Record: &v1.Envelope_Log{Log: &v1.Log{TimeUnixNano: 1, Body: "judge line " + id}}}})
		recs[i] = &kgo.Record{Topic: groupTopic, Partition: int32(g.next % groupPartitions), Key: []byte(id), Value: b}
		g.next++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		g.t.Fatalf("producing: %v", err)
	}
}

// allCommitted reports whether the group committed every partition to its
// end.
func (g *group) allCommitted() bool {
	ends, err := g.adm.ListEndOffsets(context.Background(), groupTopic)
	if err != nil {
		return false
	}
	cfg := sinks.DefaultConfig(groupSink)
	offs, err := g.adm.FetchOffsets(context.Background(), cfg.Group())
	if err != nil {
		return false
	}
	done := true
	ends.Each(func(e kadm.ListedOffset) {
		o, ok := offs.Lookup(groupTopic, e.Partition)
		if !ok || o.Err != nil || o.At != e.Offset {
			done = false
		}
	})
	return done
}

// countingSink passes writes to a file sink and counts them; with failAfter
// set, the write that takes the count to failAfter is written to the files
// and then fails the sink fatally, so the runtime never commits it: a
// process killed after its fsync and before its commit.
type countingSink struct {
	*Sink
	mu        sync.Mutex
	writes    int
	failAfter int
}

func (c *countingSink) Write(ctx context.Context, batch []*sinks.Record) ([]sinks.Result, error) {
	res, err := c.Sink.Write(ctx, batch)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	if c.failAfter > 0 && c.writes >= c.failAfter && err == nil {
		return res, errors.New("simulated crash after the write")
	}
	return res, err
}

func (c *countingSink) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

type groupMember struct {
	sink   *countingSink
	cancel context.CancelFunc
	done   chan error
}

// start runs a new member: a new process with its own file sink on the
// shared directory.
func (g *group) start(failAfter int) *groupMember {
	g.t.Helper()
	fs, err := New(Config{Dir: g.dir, MaxBytes: 16 << 10, MaxAge: time.Hour}, prometheus.NewRegistry(), "file")
	if err != nil {
		g.t.Fatal(err)
	}
	cs := &countingSink{Sink: fs, failAfter: failAfter}
	cfg := sinks.DefaultConfig(groupSink)
	cfg.Batch.MaxRecords = 25
	cfg.Batch.Linger = 5 * time.Millisecond
	cfg.CommitInterval = 50 * time.Millisecond
	cfg.Retry.InitialBackoff = 10 * time.Millisecond
	cfg.Retry.MaxBackoff = 50 * time.Millisecond
	base := []kgo.Opt{kgo.SeedBrokers(g.cluster.Brokers()...), kgo.HeartbeatInterval(100 * time.Millisecond), kgo.SessionTimeout(2 * time.Second)}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	r, err := sinks.New(cfg, cs, g.rt, sinks.Topics{Enriched: groupTopic, DLQ: groupDLQ}, base, 5*time.Second,
		sinks.Deps{Logger: logger, Registerer: prometheus.NewRegistry()})
	if err != nil {
		g.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &groupMember{sink: cs, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- r.Run(ctx) }()
	g.t.Cleanup(func() { cancel(); <-m.done })
	return m
}

// stop leaves the group gracefully and returns Run's error.
func (m *groupMember) stop(t *testing.T) error {
	t.Helper()
	m.cancel()
	select {
	case err := <-m.done:
		m.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("member did not stop within 30s")
		return nil
	}
}

// produceUntil produces small chunks until cond holds.
func (g *group) produceUntil(what string, cond func() bool) {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out waiting for %s", what)
		}
		g.produce(8)
		waitFor(g.t, 30*time.Second, "a commit of everything", g.allCommitted)
	}
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

// countFiles reads every document in dir: record id -> lines, and the
// lines that are not JSON documents (torn or overwritten).
func countFiles(t *testing.T, dir string) (map[string]int, int) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	ids := map[string]int{}
	torn := 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var d struct {
				RecordID string `json:"record_id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil || d.RecordID == "" {
				torn++
				continue
			}
			ids[d.RecordID]++
		}
		fh.Close()
	}
	return ids, torn
}

// TestSink_MembersSharingADirectoryJoinAndLeave runs a file sink group whose
// second member joins and leaves three times while records flow, then
// crashes once after writing and before committing; every record must be
// in the directory exactly once.
func TestSink_MembersSharingADirectoryJoinAndLeave(t *testing.T) {
	g := newGroup(t)
	a := g.start(0)
	g.produce(200)
	waitFor(t, 30*time.Second, "member A to commit the first records", g.allCommitted)

	for round := 0; round < 3; round++ {
		b := g.start(0)
		g.produceUntil("member B to write", func() bool { return b.sink.count() > 0 })
		g.produce(200)
		waitFor(t, 30*time.Second, "a commit of everything with B", g.allCommitted)
		if err := b.stop(t); err != nil {
			t.Fatalf("member B, round %d: %v", round, err)
		}
		// A owns every partition again; the ones B wrote go on in A's files.
		before := a.sink.count()
		g.produceUntil("member A to write after B left", func() bool { return a.sink.count() > before })
		g.produce(200)
		waitFor(t, 30*time.Second, "a commit of everything after B left", g.allCommitted)
	}

	// B writes a batch, fsyncs it, and dies before committing it: A gets
	// the partition back and is sent the batch again.
	b := g.start(1)
	deadline := time.Now().Add(30 * time.Second)
	for b.sink.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the crashing member to write")
		}
		g.produce(8)
		waitFor(t, 30*time.Second, "the commit or the crash", func() bool { return g.allCommitted() || b.sink.count() > 0 })
	}
	if err := b.stop(t); err == nil {
		t.Fatal("the crashing member stopped without its error")
	}
	g.produce(100)
	waitFor(t, 30*time.Second, "a commit of everything after the crash", g.allCommitted)
	if err := a.stop(t); err != nil {
		t.Fatalf("member A: %v", err)
	}

	ids, torn := countFiles(t, g.dir)
	lost, dup := 0, 0
	for i := 0; i < g.next; i++ {
		switch n := ids[fmt.Sprintf("r%06d", i)]; {
		case n == 0:
			lost++
		case n > 1:
			dup += n - 1
		}
	}
	if lost > 0 || dup > 0 || torn > 0 || len(ids) != g.next {
		t.Errorf("of %d records: %d lost, %d duplicate lines, %d torn lines, %d distinct ids in the files", g.next, lost, dup, torn, len(ids))
	}
}
