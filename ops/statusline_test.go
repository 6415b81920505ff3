package ops

import (
	"context"
	"strings"
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

// The line shows the counts it is given (the stages' Stats) with each
// sink's lag from Kafka, sinks in name order.
func TestLine_ShowsCountsAndLag(t *testing.T) {
	c := testkafka.Start(t, kfake.SeedTopics(1, "logweave.enriched"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := c.Client(kgo.DefaultProduceTopic("logweave.enriched"))
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	line := NewLine(kadm.NewClient(c.Client()), "logweave.enriched", []string{"file", "es"})
	got := line.String(ctx, Counts{Ingested: 10, EnrichRead: 10, EnrichKept: 4,
		Sinks: map[string]SinkCounts{"es": {Delivered: 3, DeadLettered: 1}, "file": {Delivered: 4, DeadLettered: 1}}})
	want := " (total 10) | enriched 4 of 10 read, kept 40.0% | es: delivered 3, lag 3 | file: delivered 4, lag 3 | dlq 2"
	if !strings.HasPrefix(got, "in ") || !strings.HasSuffix(got, want) {
		t.Errorf("line = %q, want in <rate>/s%s", got, want)
	}
}
