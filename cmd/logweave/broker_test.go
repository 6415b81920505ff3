package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBroker_PersistsAcrossRestart runs `logweave broker` as a subprocess,
// produces and consumes a keyed record with a plain franz-go client,
// restarts the broker on the same data dir and reads the record and the
// group's committed offset again.
func TestBroker_PersistsAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dataDir := filepath.Join(t.TempDir(), "kafka")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	b := start(t, "broker", "--port", "0", "--data-dir", dataDir, "--admin", "127.0.0.1:0", "--partitions", "4")
	addr := b.waitLine(t, "kafka listening on ")

	producer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("logweave.raw"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Key: []byte("S42"), Value: []byte("hello judge")}
	if err := producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
	producer.Close()

	got := consumeOne(ctx, t, kgo.SeedBrokers(addr), kgo.ConsumeTopics("logweave.raw"),
		kgo.ConsumerGroup("broker-test"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if string(got.Key) != "S42" || string(got.Value) != "hello judge" || got.Partition != rec.Partition || got.Offset != rec.Offset {
		t.Fatalf("consumed %q=%q at %d/%d, want S42 at %d/%d", got.Key, got.Value, got.Partition, got.Offset, rec.Partition, rec.Offset)
	}
	b.stop(t)

	b = start(t, "broker", "--port", "0", "--data-dir", dataDir, "--admin", "127.0.0.1:0", "--partitions", "4")
	addr = b.waitLine(t, "kafka listening on ")
	again := consumeOne(ctx, t, kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"logweave.raw": {rec.Partition: kgo.NewOffset().AtStart()},
	}))
	if string(again.Key) != "S42" || string(again.Value) != "hello judge" || again.Offset != rec.Offset {
		t.Fatalf("after restart consumed %q=%q at offset %d", again.Key, again.Value, again.Offset)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "broker-test")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("logweave.raw", rec.Partition); !ok || o.At != rec.Offset+1 {
		t.Errorf("committed offset after restart = %+v (found %v), want %d", o, ok, rec.Offset+1)
	}
	b.stop(t)
}

// consumeOne reads the first record a client with opts sees, committing it
// when the client is in a group.
func consumeOne(ctx context.Context, t *testing.T, opts ...kgo.Opt) *kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record within the deadline: %v", err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		if recs := fs.Records(); len(recs) > 0 {
			if _, inGroup := cl.GroupMetadata(); inGroup != -1 {
				if err := cl.CommitRecords(ctx, recs[0]); err != nil {
					t.Fatalf("committing: %v", err)
				}
			}
			return recs[0]
		}
	}
}
