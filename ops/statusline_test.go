package ops

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logweave/logweave/testkit/testkafka"
)

// Lag counts what a read_committed consumer can still read: a sink that
// committed past the last commit marker has lag 0 even while the enricher
// has a transaction open, and a group with no commit lags from the start.
func TestLag_TransactionalTopic(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(1, "logweave.enriched"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := c.Client(kgo.TransactionalID("enricher"), kgo.DefaultProduceTopic("logweave.enriched"))
	produce := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(3) // 0-2, marker at 3
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(2) // 4-5, still open: not readable yet
	defer cl.EndTransaction(context.Background(), kgo.TryAbort)

	adm := kadm.NewClient(c.Client())
	offs := make(kadm.Offsets)
	offs.Add(kadm.Offset{Topic: "logweave.enriched", Partition: 0, At: 4, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "logweave-sink-es", offs); err != nil {
		t.Fatal(err)
	}
	if lag, err := Lag(ctx, adm, "logweave-sink-es", "logweave.enriched"); err != nil || lag != 0 {
		t.Errorf("caught-up sink: lag %d, %v; want 0", lag, err)
	}
	if lag, err := Lag(ctx, adm, "logweave-sink-new", "logweave.enriched"); err != nil || lag != 4 {
		t.Errorf("group without commits: lag %d, %v; want 4 (3 records and their marker)", lag, err)
	}
}
