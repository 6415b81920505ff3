package ops

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/internal/kafka"
	"github.com/logweave/logweave/testkit/testkafka"
)

// txnTopic writes n transactions of 3 records to each of the 2 partitions
// of logweave.enriched, as the enricher does: per partition, 3 records and
// a commit marker per transaction.
func txnTopic(t *testing.T, c *testkafka.Cluster, id string, n int) {
	t.Helper()
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID(id))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for j := 0; j < 6; j++ {
			recs = append(recs, &kgo.Record{Topic: "logweave.enriched", Partition: int32(j % 2), Value: []byte("x")})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
}

func commit(t *testing.T, adm *kadm.Client, group string, at map[int32]int64) {
	t.Helper()
	offs := make(kadm.Offsets)
	for p, o := range at {
		offs.Add(kadm.Offset{Topic: "logweave.enriched", Partition: p, At: o, LeaderEpoch: -1})
	}
	if r, err := adm.CommitOffsets(context.Background(), group, offs); err != nil || r.Error() != nil {
		t.Fatalf("committing %s: %v %v", group, err, r.Error())
	}
}

// On a transactional topic every group that consumed everything readable
// has lag 0: one that committed past the last marker (the sink runtime) by
// kadm's arithmetic alone, with no read; one that committed after its last
// data record, below the marker (franz-go's default consumer), after a
// single read that finds only the marker; a replay job at its planned end,
// although the topic grew since. A group behind a data record keeps its lag
// and gets its oldest unconsumed time. Every read finishes on what it read,
// none on the probe's time limit: before, a read at a marker waited 5s for
// a record a read_committed consumer never gets, per partition.
func TestStatus_TransactionalCaughtUpLagZero(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(2, "logweave.raw", "logweave.enriched"))
	topics := kafka.Default().Topics
	// Per partition: 0-2 data, 3 marker, 4-6 data, 7 marker, 8-10 data,
	// 11 marker. A replay job planned when the topic ended at 8 finished.
	txnTopic(t, c, "enricher", 3)
	cl := c.Client()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// franz-go's default consumer commits after the last record it got.
	def := c.Client(kgo.ConsumerGroup("logweave-sink-default"), kgo.ConsumeTopics("logweave.enriched"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DisableAutoCommit())
	for n := 0; n < 18; {
		n += len(def.PollFetches(ctx).Records())
		if ctx.Err() != nil {
			t.Fatal("default consumer did not consume")
		}
	}
	if err := def.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	def.Close()
	commit(t, adm, "logweave-sink-es", map[int32]int64{0: 12, 1: 12})   // past the markers
	commit(t, adm, "logweave-sink-behind", map[int32]int64{0: 5, 1: 8}) // before data record 5
	commit(t, adm, "logweave-replay-j-plan", map[int32]int64{0: 8, 1: 8})
	commit(t, adm, "logweave-replay-j", map[int32]int64{0: 8, 1: 8})

	var (
		mu     sync.Mutex
		probes []*probe
	)
	groups, err := status(ctx, cl, topics, func(p *probe) {
		mu.Lock()
		defer mu.Unlock()
		probes = append(probes, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Group{}
	for _, g := range groups {
		byName[g.Group] = g
	}
	for _, name := range []string{"logweave-sink-default", "logweave-sink-es", "logweave-replay-j"} {
		g := byName[name]
		if g.Lag != 0 || len(g.Partitions) != 2 {
			t.Errorf("%s: lag %d over %d partitions, want 0 over 2: %+v", name, g.Lag, len(g.Partitions), g.Partitions)
		}
		for _, p := range g.Partitions {
			if p.Lag != 0 || p.OldestUnconsumed != nil {
				t.Errorf("%s partition %d: %+v", name, p.Partition, p)
			}
		}
	}
	if j := byName["logweave-replay-j"]; len(j.Partitions) == 2 && j.Partitions[0].End != 8 {
		t.Errorf("replay job end = %d, want its planned end 8", j.Partitions[0].End)
	}
	if _, ok := byName["logweave-replay-j-plan"]; ok {
		t.Error("the plan group is listed")
	}
	b := byName["logweave-sink-behind"]
	if b.Lag != 11 || len(b.Partitions) != 2 || b.Partitions[0].Lag != 7 || b.Partitions[0].OldestUnconsumed == nil || b.Partitions[1].Lag != 4 {
		t.Errorf("behind group = %+v, want lag 7 on partition 0 (12 - 5) with its oldest time and 4 on partition 1, 11 in all", b)
	}

	// What was read: the default consumer's two partitions (only a marker
	// before the end) and the behind group's (a data record first).
	// Nothing for the groups past the markers or at their planned end.
	got := map[probeKey]string{}
	for _, p := range probes {
		switch {
		case !p.resolved:
			got[p.key()] = "out of time"
		case p.onlyMarkers:
			got[p.key()] = "only markers"
		default:
			got[p.key()] = "data"
		}
	}
	want := map[probeKey]string{
		{"logweave.enriched", 0, 11, 12}: "only markers",
		{"logweave.enriched", 1, 11, 12}: "only markers",
		{"logweave.enriched", 0, 5, 12}:  "data",
		{"logweave.enriched", 1, 8, 12}:  "data",
	}
	if len(got) != len(want) {
		t.Errorf("reads %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("read of %v: %q, want %q", k, got[k], v)
		}
	}
}
